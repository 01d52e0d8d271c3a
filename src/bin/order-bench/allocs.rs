//! `order-bench --count-allocs`: allocations per unary call and per streamed
//! message, server side and client side, for h2grpc's order server and client.
//!
//! Layer: benchmark tooling. The server (the real `order-server` service,
//! included from `src/bin/order-server/service.rs`) runs on one thread's
//! single-threaded runtime and the client on another's, each thread tagged
//! with its side, so every allocation is charged to the side that made it
//! (method: `count_alloc.rs`). After a warm-up, counting runs over:
//!
//! - `calls` sequential `getOrder("102")` calls (one in flight), and
//! - `calls / 100` (at least 10) `searchOrders` calls that each stream the
//!   K preloaded orders; per message = the whole call's count ÷ K, so the
//!   call's fixed cost is included, spread over K.
//!
//! The client's count includes what a caller must allocate itself (the
//! request `String "102"`), as the tonic harness's does.

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use h2grpc::server::Server;
use h2grpc::{Code, Status};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::count_alloc::{self, Side};
use crate::modes;
use crate::pb::ecommerce::order_management_client::OrderManagementClient;
use crate::pb::ecommerce::order_management_server::OrderManagementServer;
use crate::service::OrderService;
use crate::store::MemoryStore;

/// Calls made before counting starts: connection set-up, lazily grown buffers.
const WARMUP_CALLS: usize = 1000;

/// Lets the server finish the last call's bookkeeping before a snapshot.
const SETTLE: Duration = Duration::from_millis(50);

/// Settings of one harness run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) calls: usize,
    pub(crate) order_bytes: usize,
    pub(crate) stream_count: usize,
}

/// Counts for one side over one phase.
#[derive(Debug, Clone, Copy)]
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

/// Runs the harness and prints one JSON object (or a text block).
pub(crate) fn run(settings: Settings, as_json: bool) -> Result<(), String> {
    let (addr_tx, addr_rx) = std_mpsc::channel::<SocketAddr>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = std::thread::Builder::new()
        .name("server".into())
        .spawn(move || serve(addr_tx, stop_rx))
        .map_err(|e| format!("cannot start server thread: {e}"))?;
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "server did not start".to_string())?;

    let client = std::thread::Builder::new()
        .name("client".into())
        .spawn(move || drive(addr, settings))
        .map_err(|e| format!("cannot start client thread: {e}"))?;
    let result = client
        .join()
        .map_err(|_| "client thread panicked".to_string())?;
    let _ = stop_tx.send(());
    let _ = server.join();
    let (unary, stream) = result.map_err(|s| format!("{}: {}", s.code().as_str(), s.message()))?;

    let calls = settings.calls as f64;
    let messages = stream.messages as f64;
    let per = |d: Delta, n: f64| (d.allocs as f64 / n, d.bytes as f64 / n);
    let (su, sub) = per(unary.server, calls);
    let (cu, cub) = per(unary.client, calls);
    let (ss, ssb) = per(stream.server, messages);
    let (cs, csb) = per(stream.client, messages);
    if as_json {
        let report = json!({
            "mode": "count-allocs",
            "impl": "h2grpc",
            "allocator": "system malloc (counting wrapper)",
            "unary": {
                "calls": settings.calls,
                "server_allocs_per_call": round2(su), "server_bytes_per_call": round2(sub),
                "client_allocs_per_call": round2(cu), "client_bytes_per_call": round2(cub),
            },
            "server_stream": {
                "messages": stream.messages, "order_bytes": settings.order_bytes,
                "server_allocs_per_message": round2(ss), "server_bytes_per_message": round2(ssb),
                "client_allocs_per_message": round2(cs), "client_bytes_per_message": round2(csb),
            },
        });
        println!("{report}");
    } else {
        println!("h2grpc allocations (system malloc, counted per side)");
        println!(
            "  unary getOrder, {} calls:     server {su:.2} allocs ({sub:.0} B)/call   client {cu:.2} allocs ({cub:.0} B)/call",
            settings.calls
        );
        println!(
            "  searchOrders, {} messages of {} B: server {ss:.2} allocs ({ssb:.0} B)/msg   client {cs:.2} allocs ({csb:.0} B)/msg",
            stream.messages, settings.order_bytes
        );
    }
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The server thread: our order service on a single-threaded runtime.
fn serve(addr_tx: std_mpsc::Sender<SocketAddr>, stop: oneshot::Receiver<()>) {
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
        let _ = Server::builder()
            .grace_period(Duration::from_millis(100))
            .add_service(OrderManagementServer::new(OrderService::new(
                MemoryStore::new(true),
            )))
            .serve_with_listener(listener, async {
                let _ = stop.await;
            })
            .await;
    });
}

struct UnaryCounts {
    server: Delta,
    client: Delta,
}

struct StreamCounts {
    messages: u64,
    server: Delta,
    client: Delta,
}

/// The client thread: warm up, then count each phase.
fn drive(addr: SocketAddr, settings: Settings) -> Result<(UnaryCounts, StreamCounts), Status> {
    count_alloc::set_side(Side::Client);
    let runtime = current_thread().map_err(|e| Status::internal(e.to_string()))?;
    runtime.block_on(async move {
        let client = OrderManagementClient::connect(&format!("http://{addr}")).await?;
        let set = modes::preload(
            &client,
            's',
            settings.order_bytes,
            settings.stream_count,
            true,
        )
        .await?;
        let expected = modes::order_102();
        for _ in 0..WARMUP_CALLS {
            client.get_order("102".to_string()).await?;
        }
        search(&client, &set.token).await?;
        count_alloc::start();

        tokio::time::sleep(SETTLE).await;
        let (server0, client0) = (
            count_alloc::snapshot(Side::Server),
            count_alloc::snapshot(Side::Client),
        );
        for _ in 0..settings.calls {
            let reply = client.get_order("102".to_string()).await?;
            if *reply.get_ref() != expected {
                return Err(Status::internal("getOrder(102) returned another order"));
            }
        }
        tokio::time::sleep(SETTLE).await;
        let unary = UnaryCounts {
            server: delta(Side::Server, server0),
            client: delta(Side::Client, client0),
        };

        let stream_calls = (settings.calls / 100).max(10);
        let (server0, client0) = (
            count_alloc::snapshot(Side::Server),
            count_alloc::snapshot(Side::Client),
        );
        let mut messages = 0;
        for _ in 0..stream_calls {
            let n = search(&client, &set.token).await?;
            if n != set.orders.len() as u64 {
                return Err(Status::new(Code::Internal, "searchOrders count mismatch"));
            }
            messages += n;
        }
        tokio::time::sleep(SETTLE).await;
        let stream = StreamCounts {
            messages,
            server: delta(Side::Server, server0),
            client: delta(Side::Client, client0),
        };
        Ok((unary, stream))
    })
}

async fn search(client: &OrderManagementClient, token: &str) -> Result<u64, Status> {
    let mut found = client.search_orders(token.to_string()).await?.into_inner();
    let mut n = 0;
    while found.message().await?.is_some() {
        n += 1;
    }
    Ok(n)
}
