//! `order-bench`: a closed-loop load generator for any OrderManagement
//! server, built on h2grpc's generated client.
//!
//! ```text
//! order-bench --addr HOST:PORT [--mode unary|add|server-stream|client-stream|bidi|all]
//!             [--connections N] [--concurrency M] [--duration SECS] [--warmup SECS]
//!             [--order-bytes B] [--stream-count K] [--preloaded] [--target NAME] [--json]
//!             [--ca FILE]
//! order-bench --count-allocs [--calls N] [--order-bytes B] [--stream-count K] [--json]
//! ```
//!
//! N channels (one HTTP/2 connection each) × M workers per channel, each
//! worker starting its next round as soon as the last one ended. Rounds that
//! finish during `--warmup` are not counted; the run stops after
//! `--duration` (default 5 s, capped at 60 s), and a round still in flight
//! 5 s after that is abandoned, so every run is bounded. What a round is in
//! each mode: `modes.rs`; how it is measured: `stats.rs`. Prints calls/s,
//! messages/s, MB/s (protobuf payload bytes), latency p50/p99/p999 and errors
//! by gRPC code (`MISMATCH`: a reply that was not the expected one); exits 3
//! if any round failed.
//!
//! `--ca FILE` (PEM) dials TLS with the library's `ClientTlsConfig` (rustls,
//! ring, ALPN `h2`), trusting only the CAs in FILE and checking the server's
//! certificate against the target's host (an IP address for `127.0.0.1`); a
//! bare `HOST:PORT` then means `https://HOST:PORT`. tonic-order-bench takes
//! the same flag.
//!
//! `--count-allocs` instead runs our server and client in this process and
//! counts allocations per call on each side (`allocs.rs`). The global
//! allocator is the system's behind a counting wrapper that is switched off
//! (one relaxed load per allocation) unless `--count-allocs` is given; the
//! tonic peer's bench client carries the same wrapper.

#[path = "../common/pb.rs"]
mod pb;
#[path = "../order-server/service.rs"]
mod service;
// The service's store; --count-allocs serves from the in-memory one.
#[allow(dead_code)]
#[path = "../order-server/store/mod.rs"]
mod store;

mod allocs;
mod count_alloc;
mod modes;
mod stats;

use std::process::ExitCode;
use std::time::Duration;

use h2grpc::Status;
use serde_json::json;

use crate::pb::ecommerce::order_management_client::OrderManagementClient;
use crate::stats::{Plan, Report, Worker, drive, parse_seconds};

#[global_allocator]
static ALLOCATOR: count_alloc::Counting = count_alloc::Counting;

const USAGE: &str =
    "usage: order-bench --addr HOST:PORT [--mode unary|add|server-stream|client-stream|bidi|all]
                   [--connections N] [--concurrency M] [--duration SECS] [--warmup SECS]
                   [--order-bytes B] [--stream-count K] [--preloaded] [--target NAME] [--json]
                   [--ca FILE]
       order-bench --count-allocs [--calls N] [--order-bytes B] [--stream-count K] [--json]";

/// Most connections and workers per connection we open: bounds what a typo can do.
const MAX_CONNECTIONS: usize = 256;
const MAX_CONCURRENCY: usize = 4096;
/// Largest preloaded order and set: 64 MiB of orders at most on the server.
const MAX_ORDER_BYTES: usize = 1024 * 1024;
const MAX_STREAM_COUNT: usize = 100_000;
const MAX_ALLOC_CALLS: usize = 10_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unary,
    /// `addOrder` of a new order each call: the store's write path.
    Add,
    ServerStream,
    ClientStream,
    Bidi,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Unary => "unary",
            Mode::Add => "add",
            Mode::ServerStream => "server-stream",
            Mode::ClientStream => "client-stream",
            Mode::Bidi => "bidi",
        }
    }
}

#[derive(Debug)]
struct Args {
    addr: Option<String>,
    modes: Vec<Mode>,
    connections: usize,
    concurrency: usize,
    plan: Plan,
    order_bytes: usize,
    stream_count: usize,
    /// The streaming modes' orders are already on the server: skip `addOrder`.
    preloaded: bool,
    target: Option<String>,
    json: bool,
    count_allocs: bool,
    calls: usize,
    /// `--ca`: TLS, trusting this PEM bundle.
    ca: Option<std::path::PathBuf>,
}

fn parse_args(argv: Vec<String>) -> Result<Args, String> {
    let mut args = Args {
        addr: None,
        modes: vec![Mode::Unary],
        connections: 1,
        concurrency: 1,
        plan: Plan {
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
        },
        order_bytes: 64,
        stream_count: 1000,
        preloaded: false,
        target: None,
        json: false,
        count_allocs: false,
        calls: 20_000,
        ca: None,
    };
    let mut it = argv.into_iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = Some(value()?),
            "--mode" => {
                args.modes = match value()?.as_str() {
                    "unary" => vec![Mode::Unary],
                    "add" => vec![Mode::Add],
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
            "--connections" => args.connections = count(&flag, &value()?, MAX_CONNECTIONS)?,
            "--concurrency" => args.concurrency = count(&flag, &value()?, MAX_CONCURRENCY)?,
            "--duration" => args.plan.duration = parse_seconds(&flag, &value()?)?,
            "--warmup" => args.plan.warmup = parse_seconds(&flag, &value()?)?,
            "--order-bytes" => args.order_bytes = count(&flag, &value()?, MAX_ORDER_BYTES)?,
            "--stream-count" => args.stream_count = count(&flag, &value()?, MAX_STREAM_COUNT)?,
            "--calls" => args.calls = count(&flag, &value()?, MAX_ALLOC_CALLS)?,
            "--target" => args.target = Some(value()?),
            "--ca" => args.ca = Some(value()?.into()),
            "--preloaded" => args.preloaded = true,
            "--json" => args.json = true,
            "--count-allocs" => args.count_allocs = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if args.addr.is_none() && !args.count_allocs {
        return Err(format!("--addr is required\n{USAGE}"));
    }
    Ok(args)
}

fn count(flag: &str, value: &str, max: usize) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("{flag}: expected 1..={max}, got {value:?}")),
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1).collect()) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if args.count_allocs {
        let settings = allocs::Settings {
            calls: args.calls,
            order_bytes: args.order_bytes,
            stream_count: args.stream_count,
        };
        return match allocs::run(settings, args.json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(3),
        Err(status) => {
            eprintln!("error: {}: {}", status.code().as_str(), status.message());
            ExitCode::FAILURE
        }
    }
}

/// Runs each requested mode in turn; returns the number of failed rounds.
async fn run(args: &Args) -> Result<u64, Status> {
    let addr = args.addr.as_deref().unwrap_or_default();
    let scheme = if args.ca.is_some() { "https" } else { "http" };
    let uri = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("{scheme}://{addr}")
    };
    let target = args.target.as_deref().unwrap_or(addr);
    let clients = modes::connect(&uri, args.ca.as_deref(), args.connections).await?;
    let mut failures = 0;
    for &mode in &args.modes {
        let report = match mode {
            Mode::Unary => run_mode(args, &clients, modes::Unary::new).await,
            Mode::Add => run_mode(args, &clients, modes::Add::new).await,
            Mode::ServerStream => {
                let set = modes::preload(
                    &clients[0],
                    's',
                    args.order_bytes,
                    args.stream_count,
                    !args.preloaded,
                )
                .await?;
                run_mode(args, &clients, |c| modes::ServerStream::new(c, &set)).await
            }
            Mode::ClientStream => {
                let set = modes::preload(
                    &clients[0],
                    'u',
                    args.order_bytes,
                    args.stream_count,
                    !args.preloaded,
                )
                .await?;
                run_mode(args, &clients, |c| modes::ClientStream::new(c, &set)).await
            }
            Mode::Bidi => run_mode(args, &clients, modes::Bidi::new).await,
        };
        failures += report.error_total();
        if args.json {
            let config = json!({
                "connections": args.connections,
                "concurrency": args.concurrency,
                "warmup_s": args.plan.warmup.as_secs_f64(),
                "order_bytes": args.order_bytes,
                "stream_count": args.stream_count,
                "client": "h2grpc",
                "tls": args.ca.is_some(),
            });
            println!("{}", report.to_json(mode.name(), target, config));
        } else {
            println!("{}", report.to_text(mode.name(), target));
        }
    }
    Ok(failures)
}

/// Builds `concurrency` workers per connection and drives them.
async fn run_mode<W: Worker>(
    args: &Args,
    clients: &[OrderManagementClient],
    mut make: impl FnMut(OrderManagementClient) -> W,
) -> Report {
    let mut workers = Vec::with_capacity(clients.len() * args.concurrency);
    for client in clients {
        for _ in 0..args.concurrency {
            workers.push(make(client.clone()));
        }
    }
    drive(workers, args.plan).await
}
