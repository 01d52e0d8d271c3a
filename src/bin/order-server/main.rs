//! `order-server`: the OrderManagement reference server.
//!
//! ```text
//! order-server [--addr HOST:PORT] [--no-sample-data] [--gzip] [--connection-threads N] [--trace]
//! ```
//! Prints `order-server listening on ADDR` once bound (port 0 picks a free
//! one), logs every call (method, status, duration; `RUST_LOG` overrides the
//! default filter) to stderr, and stops gracefully on Ctrl-C or SIGTERM.
//! `--trace` (or `H2GRPC_TRACE=1`) prints the wire trace to stderr.
//! `--connection-threads N` serves connections on N threads of their own
//! (`server::Builder::connection_threads`; default: tokio's work-stealing runtime).

#[path = "../common/logging.rs"]
mod logging;
#[path = "../common/pb.rs"]
mod pb;
mod service;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use h2grpc::server::Server;
use tokio::net::TcpListener;

use pb::ecommerce::order_management_server::OrderManagementServer;
use service::OrderStore;

const USAGE: &str = "usage: order-server [--addr HOST:PORT] [--no-sample-data] [--gzip] \
                     [--connection-threads N] [--trace]";

struct Args {
    addr: SocketAddr,
    sample_data: bool,
    gzip: bool,
    connection_threads: Option<usize>,
}

fn parse_args(argv: Vec<String>) -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
        sample_data: true,
        gzip: false,
        connection_threads: None,
    };
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--addr" => {
                let value = it.next().ok_or("--addr needs a value")?;
                args.addr = value
                    .parse()
                    .map_err(|e| format!("bad --addr {value:?}: {e}"))?;
            }
            "--no-sample-data" => args.sample_data = false,
            "--gzip" => args.gzip = true,
            "--connection-threads" => {
                let value = it.next().ok_or("--connection-threads needs a value")?;
                args.connection_threads = Some(
                    value
                        .parse()
                        .map_err(|e| format!("bad --connection-threads {value:?}: {e}"))?,
                );
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    let trace = logging::trace_requested(&mut argv);
    logging::init("info,h2grpc::server::call=debug", trace);

    let args = match parse_args(argv) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(args.addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot bind {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("order-server listening on {local}");
    let _ = std::io::stdout().flush();

    let store = if args.sample_data {
        OrderStore::with_samples()
    } else {
        OrderStore::default()
    };
    let mut builder = Server::builder();
    if args.gzip {
        // Responses go out gzip-compressed to clients that accept it.
        builder = builder.send_compression(h2grpc::compression::Encoding::Gzip);
    }
    if let Some(threads) = args.connection_threads {
        builder = builder.connection_threads(threads);
    }
    let served = builder
        .add_service(OrderManagementServer::new(store))
        .serve_with_listener(listener, shutdown_signal())
        .await;
    match served {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down: finishing in-flight calls");
}
