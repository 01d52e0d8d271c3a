//! `tonic-order-bench`: tonic's client in the same harness as h2grpc's
//! `order-bench`, for "our client vs tonic's client against the same server".
//!
//! ```text
//! tonic-order-bench --addr HOST:PORT [--mode unary] [--connections N] [--concurrency M]
//!                   [--duration SECS] [--warmup SECS] [--target NAME] [--json]
//! tonic-order-bench --count-allocs [--calls N] [--order-bytes B] [--stream-count K] [--json]
//! ```
//!
//! The unary mode is order-bench's: `getOrder("102")`, the whole reply
//! checked, N tonic `Channel`s (one connection each) × M workers each, timed
//! by the same driver (`stats.rs`, included from h2grpc's tree by path) and
//! printed in the same format. `--count-allocs` is order-bench's harness with
//! tonic on both sides (same method, same counting allocator: `count_alloc.rs`).

#[path = "../../../../../src/bin/order-bench/count_alloc.rs"]
mod count_alloc;
#[path = "../../../../../src/bin/order-bench/stats.rs"]
mod stats;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use prost::Message;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};

use count_alloc::Side;
use stats::{Outcome, Plan, Worker, code_name, drive, parse_seconds};
use tonic_order_server::pb::ecommerce::Order;
use tonic_order_server::pb::ecommerce::order_management_client::OrderManagementClient;
use tonic_order_server::pb::ecommerce::order_management_server::OrderManagementServer;
use tonic_order_server::service::OrderStore;

#[global_allocator]
static ALLOCATOR: count_alloc::Counting = count_alloc::Counting;

const USAGE: &str = "usage: tonic-order-bench --addr HOST:PORT [--mode unary] [--connections N] [--concurrency M] [--duration SECS] [--warmup SECS] [--target NAME] [--json]
       tonic-order-bench --count-allocs [--calls N] [--order-bytes B] [--stream-count K] [--json]";

/// Calls made before counting starts (as order-bench's harness).
const WARMUP_CALLS: usize = 1000;
/// Lets the server finish the last call's bookkeeping before a snapshot.
const SETTLE: Duration = Duration::from_millis(50);

struct Args {
    addr: Option<String>,
    connections: usize,
    concurrency: usize,
    plan: Plan,
    target: Option<String>,
    json: bool,
    count_allocs: bool,
    calls: usize,
    order_bytes: usize,
    stream_count: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: None,
        connections: 1,
        concurrency: 1,
        plan: Plan {
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
        },
        target: None,
        json: false,
        count_allocs: false,
        calls: 20_000,
        order_bytes: 64,
        stream_count: 1000,
    };
    let mut it = std::env::args().skip(1);
    let num = |flag: &str, v: String, max: usize| match v.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("{flag}: expected 1..={max}, got {v:?}")),
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = Some(value()?),
            "--mode" => {
                let mode = value()?;
                if mode != "unary" {
                    return Err(format!("only --mode unary is implemented, not {mode:?}"));
                }
            }
            "--connections" => args.connections = num(&flag, value()?, 256)?,
            "--concurrency" => args.concurrency = num(&flag, value()?, 4096)?,
            "--duration" => args.plan.duration = parse_seconds(&flag, &value()?)?,
            "--warmup" => args.plan.warmup = parse_seconds(&flag, &value()?)?,
            "--target" => args.target = Some(value()?),
            "--json" => args.json = true,
            "--count-allocs" => args.count_allocs = true,
            "--calls" => args.calls = num(&flag, value()?, 10_000_000)?,
            "--order-bytes" => args.order_bytes = num(&flag, value()?, 1024 * 1024)?,
            "--stream-count" => args.stream_count = num(&flag, value()?, 100_000)?,
            _ => return Err(USAGE.into()),
        }
    }
    if args.addr.is_none() && !args.count_allocs {
        return Err(format!("--addr is required\n{USAGE}"));
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.count_allocs {
        return match count_allocs(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("error: cannot start the runtime");
        return ExitCode::FAILURE;
    };
    match runtime.block_on(unary(&args)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(3),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The sample order 102, which every reply must equal.
fn order_102() -> Order {
    Order {
        id: "102".into(),
        items: vec!["Google Pixel 3A".into(), "Mac Book Pro".into()],
        description: "Mac Book Pro".into(),
        price: 1800.0,
        destination: "Mountain View, CA".into(),
    }
}

async fn channel(uri: &str) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(uri.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await
}

struct Unary {
    client: OrderManagementClient<Channel>,
    expected: Order,
    reply_bytes: u64,
}

impl Worker for Unary {
    async fn round(&mut self) -> Outcome {
        match self.client.get_order("102".to_string()).await {
            Ok(reply) if *reply.get_ref() == self.expected => Outcome::Ok {
                messages: 1,
                bytes: self.reply_bytes,
            },
            Ok(_) => Outcome::Failed("MISMATCH"),
            Err(status) => Outcome::Failed(code_name(status.code() as i32)),
        }
    }
}

async fn unary(args: &Args) -> Result<u64, String> {
    let addr = args.addr.as_deref().unwrap_or_default();
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let channel = channel(&uri).await.map_err(|e| e.to_string())?;
        for _ in 0..args.concurrency {
            let expected = order_102();
            workers.push(Unary {
                client: OrderManagementClient::new(channel.clone()),
                reply_bytes: expected.encoded_len() as u64,
                expected,
            });
        }
    }
    let report = drive(workers, args.plan).await;
    let target = args.target.as_deref().unwrap_or(addr);
    if args.json {
        let config = json!({
            "connections": args.connections,
            "concurrency": args.concurrency,
            "warmup_s": args.plan.warmup.as_secs_f64(),
            "client": "tonic",
        });
        println!("{}", report.to_json("unary", target, config));
    } else {
        println!("{}", report.to_text("unary", target));
    }
    Ok(report.error_total())
}

// ---- --count-allocs: the same harness as order-bench's allocs.rs, on tonic ----

#[derive(Clone, Copy)]
struct Delta {
    allocs: u64,
    bytes: u64,
}

fn delta(side: Side, before: (u64, u64)) -> Delta {
    let after = count_alloc::snapshot(side);
    Delta {
        allocs: after.0 - before.0,
        bytes: after.1 - before.1,
    }
}

fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn count_allocs(args: &Args) -> Result<(), String> {
    let (addr_tx, addr_rx) = std_mpsc::channel::<SocketAddr>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = std::thread::Builder::new()
        .name("server".into())
        .spawn(move || {
            count_alloc::set_side(Side::Server);
            let Ok(runtime) = current_thread() else {
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::bind("127.0.0.1:0").await else {
                    return;
                };
                let Ok(addr) = listener.local_addr() else {
                    return;
                };
                let _ = addr_tx.send(addr);
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                let _ = Server::builder()
                    .add_service(OrderManagementServer::new(OrderStore::with_samples()))
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        })
        .map_err(|e| e.to_string())?;
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "server did not start".to_string())?;
    let (calls, order_bytes, stream_count) = (args.calls, args.order_bytes, args.stream_count);
    let client = std::thread::Builder::new()
        .name("client".into())
        .spawn(move || drive_allocs(addr, calls, order_bytes, stream_count))
        .map_err(|e| e.to_string())?;
    let result = client
        .join()
        .map_err(|_| "client thread panicked".to_string())?;
    let _ = stop_tx.send(());
    let _ = server.join();
    let ((us, uc), (messages, ss, sc)) = result?;
    let per = |d: Delta, n: f64| (d.allocs as f64 / n, d.bytes as f64 / n);
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    let (su, sub) = per(us, calls as f64);
    let (cu, cub) = per(uc, calls as f64);
    let (sm, smb) = per(ss, messages as f64);
    let (cm, cmb) = per(sc, messages as f64);
    if args.json {
        let report = json!({
            "mode": "count-allocs",
            "impl": "tonic",
            "allocator": "system malloc (counting wrapper)",
            "unary": {
                "calls": calls,
                "server_allocs_per_call": r2(su), "server_bytes_per_call": r2(sub),
                "client_allocs_per_call": r2(cu), "client_bytes_per_call": r2(cub),
            },
            "server_stream": {
                "messages": messages, "order_bytes": order_bytes,
                "server_allocs_per_message": r2(sm), "server_bytes_per_message": r2(smb),
                "client_allocs_per_message": r2(cm), "client_bytes_per_message": r2(cmb),
            },
        });
        println!("{report}");
    } else {
        println!("tonic allocations (system malloc, counted per side)");
        println!(
            "  unary getOrder, {calls} calls:     server {su:.2} allocs ({sub:.0} B)/call   client {cu:.2} allocs ({cub:.0} B)/call"
        );
        println!(
            "  searchOrders, {messages} messages of {order_bytes} B: server {sm:.2} allocs ({smb:.0} B)/msg   client {cm:.2} allocs ({cmb:.0} B)/msg"
        );
    }
    Ok(())
}

type Counts = ((Delta, Delta), (u64, Delta, Delta));

fn drive_allocs(
    addr: SocketAddr,
    calls: usize,
    order_bytes: usize,
    stream_count: usize,
) -> Result<Counts, String> {
    count_alloc::set_side(Side::Client);
    let runtime = current_thread().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let err = |s: tonic::Status| format!("{:?}: {}", s.code(), s.message());
        let channel = channel(&format!("http://{addr}"))
            .await
            .map_err(|e| e.to_string())?;
        let mut client = OrderManagementClient::new(channel);
        let token = preload(&mut client, order_bytes, stream_count)
            .await
            .map_err(err)?;
        let expected = order_102();
        for _ in 0..WARMUP_CALLS {
            client.get_order("102".to_string()).await.map_err(err)?;
        }
        search(&mut client, &token).await.map_err(err)?;
        count_alloc::start();

        tokio::time::sleep(SETTLE).await;
        let (s0, c0) = (
            count_alloc::snapshot(Side::Server),
            count_alloc::snapshot(Side::Client),
        );
        for _ in 0..calls {
            let reply = client.get_order("102".to_string()).await.map_err(err)?;
            if *reply.get_ref() != expected {
                return Err("getOrder(102) returned another order".into());
            }
        }
        tokio::time::sleep(SETTLE).await;
        let unary = (delta(Side::Server, s0), delta(Side::Client, c0));

        let stream_calls = (calls / 100).max(10);
        let (s0, c0) = (
            count_alloc::snapshot(Side::Server),
            count_alloc::snapshot(Side::Client),
        );
        let mut messages = 0;
        for _ in 0..stream_calls {
            let n = search(&mut client, &token).await.map_err(err)?;
            if n != stream_count as u64 {
                return Err("searchOrders count mismatch".into());
            }
            messages += n;
        }
        tokio::time::sleep(SETTLE).await;
        Ok((
            unary,
            (messages, delta(Side::Server, s0), delta(Side::Client, c0)),
        ))
    })
}

/// order-bench's preload (modes.rs), the same ids, token and sizes.
async fn preload(
    client: &mut OrderManagementClient<Channel>,
    bytes: usize,
    count: usize,
) -> Result<String, tonic::Status> {
    let token = format!("<bs:{bytes}:{count}>");
    for i in 0..count {
        let mut order = Order {
            id: format!("bs{bytes}-{count}-{i:06}"),
            items: vec![token.clone()],
            description: String::new(),
            price: 1.0,
            destination: String::new(),
        };
        let mut pad = bytes.saturating_sub(order.encoded_len());
        while pad > 0 {
            order.description = "x".repeat(pad);
            if order.encoded_len() <= bytes {
                break;
            }
            pad -= 1;
            order.description.clear();
        }
        match client.add_order(order).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::AlreadyExists => {}
            Err(s) => return Err(s),
        }
    }
    Ok(token)
}

async fn search(
    client: &mut OrderManagementClient<Channel>,
    token: &str,
) -> Result<u64, tonic::Status> {
    let mut found = client.search_orders(token.to_string()).await?.into_inner();
    let mut n = 0;
    while found.message().await?.is_some() {
        n += 1;
    }
    Ok(n)
}
