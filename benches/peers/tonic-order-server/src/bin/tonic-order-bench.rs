//! `tonic-order-bench`: tonic's client in the same harness as h2grpc's
//! `order-bench`, for "our client vs tonic's client against the same server".
//!
//! ```text
//! tonic-order-bench --addr HOST:PORT [--mode unary|server-stream|client-stream|bidi|all]
//!                   [--connections N] [--concurrency M] [--duration SECS] [--warmup SECS]
//!                   [--order-bytes B] [--stream-count K] [--preloaded] [--target NAME] [--json]
//!                   [--ca FILE]
//! tonic-order-bench --count-allocs [--calls N] [--order-bytes B] [--stream-count K] [--json]
//! ```
//!
//! The modes are order-bench's (`src/bin/order-bench/modes.rs`), round for
//! round the same workload on tonic's generated client: `unary` is
//! `getOrder("102")`, the whole reply checked; `server-stream` is
//! `searchOrders(token)` of K preloaded orders; `client-stream` is
//! `updateOrders` of K preloaded orders (a fresh copy of the set streamed per
//! round, as order-bench does); `bidi` is one long `processOrders` call per
//! worker, each round sending 102, 103, 104 and awaiting their 2 shipments.
//! The preloaded sets have the same ids, tokens and sizes as order-bench's,
//! so either client finds the other's already there. N tonic `Channel`s (one
//! connection each) × M workers each, timed by the same driver (`stats.rs`,
//! included from h2grpc's tree by path) and printed in the same format. `--count-allocs` is order-bench's harness with
//! tonic on both sides (same method, same counting allocator: `count_alloc.rs`).
//!
//! `--ca FILE` (PEM) dials TLS (tonic's `ClientTlsConfig`, feature `tls-ring`:
//! rustls on ring, ALPN `h2`) and trusts the CAs in FILE, checking the
//! server's certificate against the target's host; a bare `HOST:PORT` then
//! means `https://HOST:PORT`. order-bench takes the same flag.

#[path = "../../../../../src/bin/order-bench/count_alloc.rs"]
mod count_alloc;
#[path = "../../../../../src/bin/order-bench/stats.rs"]
mod stats;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use futures::channel::mpsc;

use prost::Message;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Server};

use count_alloc::Side;
use stats::{Outcome, Plan, Report, Worker, code_name, drive, parse_seconds};
use tonic_order_server::pb::ecommerce::order_management_client::OrderManagementClient;
use tonic_order_server::pb::ecommerce::order_management_server::OrderManagementServer;
use tonic_order_server::pb::ecommerce::{CombinedShipment, Order};
use tonic_order_server::service::OrderStore;

#[global_allocator]
static ALLOCATOR: count_alloc::Counting = count_alloc::Counting;

const USAGE: &str = "usage: tonic-order-bench --addr HOST:PORT [--mode unary|server-stream|client-stream|bidi|all] [--connections N] [--concurrency M] [--duration SECS] [--warmup SECS] [--order-bytes B] [--stream-count K] [--preloaded] [--target NAME] [--json] [--ca FILE]
       tonic-order-bench --count-allocs [--calls N] [--order-bytes B] [--stream-count K] [--json]";

/// Calls made before counting starts (as order-bench's harness).
const WARMUP_CALLS: usize = 1000;
/// Lets the server finish the last call's bookkeeping before a snapshot.
const SETTLE: Duration = Duration::from_millis(50);

/// The ids one bidi round sends: one batch of `processOrders` (order-bench's `BIDI_IDS`).
const BIDI_IDS: [&str; 3] = ["102", "103", "104"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unary,
    ServerStream,
    ClientStream,
    Bidi,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Unary => "unary",
            Mode::ServerStream => "server-stream",
            Mode::ClientStream => "client-stream",
            Mode::Bidi => "bidi",
        }
    }
}

struct Args {
    addr: Option<String>,
    modes: Vec<Mode>,
    /// The streaming modes' orders are already on the server: skip `addOrder`.
    preloaded: bool,
    connections: usize,
    concurrency: usize,
    plan: Plan,
    target: Option<String>,
    json: bool,
    count_allocs: bool,
    calls: usize,
    order_bytes: usize,
    stream_count: usize,
    /// `--ca`: TLS, trusting this PEM bundle.
    ca: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: None,
        modes: vec![Mode::Unary],
        preloaded: false,
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
        ca: None,
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
                args.modes = match value()?.as_str() {
                    "unary" => vec![Mode::Unary],
                    "server-stream" => vec![Mode::ServerStream],
                    "client-stream" => vec![Mode::ClientStream],
                    "bidi" => vec![Mode::Bidi],
                    "all" => vec![
                        Mode::Unary,
                        Mode::ServerStream,
                        Mode::ClientStream,
                        Mode::Bidi,
                    ],
                    other => return Err(format!("unknown --mode {other:?}")),
                }
            }
            "--preloaded" => args.preloaded = true,
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
            "--ca" => args.ca = Some(value()?.into()),
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
    match runtime.block_on(run(&args)) {
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

async fn channel(uri: &str, ca: Option<&[u8]>) -> Result<Channel, tonic::transport::Error> {
    let mut endpoint = Endpoint::from_shared(uri.to_string())?.tcp_nodelay(true);
    if let Some(ca) = ca {
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))?;
    }
    endpoint.connect().await
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

/// Runs each requested mode in turn; returns the number of failed rounds.
async fn run(args: &Args) -> Result<u64, String> {
    let addr = args.addr.as_deref().unwrap_or_default();
    let ca = match &args.ca {
        Some(path) => {
            Some(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?)
        }
        None => None,
    };
    let scheme = if ca.is_some() { "https" } else { "http" };
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("{scheme}://{addr}")
    };
    let target = args.target.as_deref().unwrap_or(addr);
    let mut clients = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let channel = channel(&uri, ca.as_deref())
            .await
            .map_err(|e| format!("cannot connect to {uri}: {e:?}"))?;
        clients.push(OrderManagementClient::new(channel));
    }
    let status = |s: tonic::Status| format!("{}: {}", code_name(s.code() as i32), s.message());
    let mut failures = 0;
    for &mode in &args.modes {
        let report = match mode {
            Mode::Unary => {
                run_mode(args, &clients, |client| {
                    let expected = order_102();
                    Unary {
                        client,
                        reply_bytes: expected.encoded_len() as u64,
                        expected,
                    }
                })
                .await
            }
            Mode::ServerStream => {
                let set = preload(
                    &mut clients[0].clone(),
                    's',
                    args.order_bytes,
                    args.stream_count,
                    !args.preloaded,
                )
                .await
                .map_err(status)?;
                run_mode(args, &clients, |client| ServerStream {
                    client,
                    token: set.token.clone(),
                    expected: set.orders.len() as u64,
                })
                .await
            }
            Mode::ClientStream => {
                let set = preload(
                    &mut clients[0].clone(),
                    'u',
                    args.order_bytes,
                    args.stream_count,
                    !args.preloaded,
                )
                .await
                .map_err(status)?;
                let bytes = set.orders.iter().map(|o| o.encoded_len() as u64).sum();
                run_mode(args, &clients, |client| ClientStream {
                    client,
                    orders: set.orders.clone(),
                    bytes,
                })
                .await
            }
            Mode::Bidi => run_mode(args, &clients, Bidi::new).await,
        };
        failures += report.error_total();
        if args.json {
            let config = json!({
                "connections": args.connections,
                "concurrency": args.concurrency,
                "warmup_s": args.plan.warmup.as_secs_f64(),
                "order_bytes": args.order_bytes,
                "stream_count": args.stream_count,
                "client": "tonic",
                "tls": args.ca.is_some(),
            });
            println!("{}", report.to_json(mode.name(), target, config));
        } else {
            println!("{}", report.to_text(mode.name(), target));
        }
    }
    Ok(failures)
}

/// Builds `concurrency` workers per connection (sharing its `Channel`) and drives them.
async fn run_mode<W: Worker>(
    args: &Args,
    clients: &[OrderManagementClient<Channel>],
    mut make: impl FnMut(OrderManagementClient<Channel>) -> W,
) -> Report {
    let mut workers = Vec::with_capacity(clients.len() * args.concurrency);
    for client in clients {
        for _ in 0..args.concurrency {
            workers.push(make(client.clone()));
        }
    }
    drive(workers, args.plan).await
}

fn failed(status: &tonic::Status) -> Outcome {
    Outcome::Failed(code_name(status.code() as i32))
}

/// `searchOrders(token)`, expecting exactly the preloaded set.
struct ServerStream {
    client: OrderManagementClient<Channel>,
    token: String,
    expected: u64,
}

impl Worker for ServerStream {
    async fn round(&mut self) -> Outcome {
        let mut found = match self.client.search_orders(self.token.clone()).await {
            Ok(reply) => reply.into_inner(),
            Err(status) => return failed(&status),
        };
        let (mut messages, mut bytes) = (0, 0);
        loop {
            match found.message().await {
                Ok(Some(order)) => {
                    messages += 1;
                    bytes += order.encoded_len() as u64;
                }
                Ok(None) => break,
                Err(status) => return failed(&status),
            }
        }
        if messages == self.expected {
            Outcome::Ok { messages, bytes }
        } else {
            Outcome::Failed("MISMATCH")
        }
    }
}

/// `updateOrders` of the preloaded set, rewriting each order as it is.
struct ClientStream {
    client: OrderManagementClient<Channel>,
    orders: Arc<Vec<Order>>,
    bytes: u64,
}

impl Worker for ClientStream {
    async fn round(&mut self) -> Outcome {
        // As order-bench: a fresh copy of the set, streamed as owned messages.
        let orders = futures::stream::iter(self.orders.as_ref().clone());
        match self.client.update_orders(orders).await {
            // The service answers "Updated orders: id, id, ...".
            Ok(reply) => {
                let listed = reply
                    .get_ref()
                    .strip_prefix("Updated orders: ")
                    .map_or(0, |ids| ids.split(", ").count());
                if listed == self.orders.len() {
                    Outcome::Ok {
                        messages: listed as u64,
                        bytes: self.bytes,
                    }
                } else {
                    Outcome::Failed("MISMATCH")
                }
            }
            Err(status) => failed(&status),
        }
    }
}

/// One long `processOrders` call; each round is one batch of three ids.
struct Bidi {
    client: OrderManagementClient<Channel>,
    ids: mpsc::UnboundedSender<String>,
    /// Held until the first batch is queued, then handed to the call (as
    /// order-bench does), so the call never depends on when a server sends
    /// its response head.
    pending: Option<mpsc::UnboundedReceiver<String>>,
    shipments: Option<tonic::Streaming<CombinedShipment>>,
    ids_bytes: u64,
}

impl Bidi {
    fn new(client: OrderManagementClient<Channel>) -> Bidi {
        let (ids, pending) = mpsc::unbounded();
        Bidi {
            client,
            ids,
            pending: Some(pending),
            shipments: None,
            ids_bytes: BIDI_IDS
                .iter()
                .map(|id| id.to_string().encoded_len() as u64)
                .sum(),
        }
    }

    async fn exchange(&mut self) -> Result<u64, Outcome> {
        for id in BIDI_IDS {
            self.ids
                .unbounded_send(id.to_string())
                .map_err(|_| Outcome::Failed("CANCELLED"))?;
        }
        if let Some(pending) = self.pending.take() {
            let reply = self.client.process_orders(pending).await;
            self.shipments = Some(reply.map_err(|s| failed(&s))?.into_inner());
        }
        let Some(shipments) = self.shipments.as_mut() else {
            return Err(Outcome::Failed("CANCELLED"));
        };
        let mut bytes = 0;
        // The batch 102, 103, 104: Mountain View gets 102 and 104, San Jose 103,
        // in order of each destination's first order.
        let expected: [(&str, &[&str]); 2] = [
            ("cmb - Mountain View, CA", &["102", "104"]),
            ("cmb - San Jose, CA", &["103"]),
        ];
        for (id, orders) in expected {
            let shipment = match shipments.message().await {
                Ok(Some(shipment)) => shipment,
                Ok(None) => return Err(Outcome::Failed("MISMATCH")),
                Err(status) => return Err(failed(&status)),
            };
            let ids = shipment.orders_list.iter().map(|o| o.id.as_str());
            if shipment.id != id || !ids.eq(orders.iter().copied()) {
                return Err(Outcome::Failed("MISMATCH"));
            }
            bytes += shipment.encoded_len() as u64;
        }
        Ok(bytes)
    }
}

impl Worker for Bidi {
    async fn round(&mut self) -> Outcome {
        match self.exchange().await {
            Ok(bytes) => Outcome::Ok {
                messages: (BIDI_IDS.len() + 2) as u64,
                bytes: self.ids_bytes + bytes,
            },
            Err(outcome) => {
                // The call is unusable now; the next round opens a new one.
                let (ids, pending) = mpsc::unbounded();
                self.ids = ids;
                self.pending = Some(pending);
                self.shipments = None;
                outcome
            }
        }
    }
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
        let channel = channel(&format!("http://{addr}"), None)
            .await
            .map_err(|e| e.to_string())?;
        let mut client = OrderManagementClient::new(channel);
        let token = preload(&mut client, 's', order_bytes, stream_count, true)
            .await
            .map_err(err)?
            .token;
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

/// A set of orders added for a streaming mode, and the token that finds them.
struct Preloaded {
    token: String,
    orders: Arc<Vec<Order>>,
}

/// order-bench's preload (modes.rs): `count` orders of about `bytes` encoded
/// bytes, tagged `tag` (`s` for search, `u` for update), the same ids, token
/// and sizes; ALREADY_EXISTS means an earlier run added them. With `add`
/// false the set is only built (`--preloaded`).
async fn preload(
    client: &mut OrderManagementClient<Channel>,
    tag: char,
    bytes: usize,
    count: usize,
    add: bool,
) -> Result<Preloaded, tonic::Status> {
    let token = format!("<b{tag}:{bytes}:{count}>");
    let orders: Vec<Order> = (0..count)
        .map(|i| sized_order(format!("b{tag}{bytes}-{count}-{i:06}"), &token, bytes))
        .collect();
    if add {
        for order in &orders {
            match client.add_order(order.clone()).await {
                Ok(_) => {}
                Err(s) if s.code() == tonic::Code::AlreadyExists => {}
                Err(s) => return Err(s),
            }
        }
    }
    Ok(Preloaded {
        token,
        orders: Arc::new(orders),
    })
}

/// order-bench's `sized_order`: the description pads the order to `bytes`.
fn sized_order(id: String, token: &str, bytes: usize) -> Order {
    let mut order = Order {
        id,
        items: vec![token.to_string()],
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
    order
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
