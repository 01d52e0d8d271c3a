//! `order-server`: the OrderManagement reference server.
//!
//! ```text
//! order-server [--addr HOST:PORT | --unix PATH] [--no-sample-data] [--gzip] [--connection-threads N] [--trace]
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

const USAGE: &str = "usage: order-server [--addr HOST:PORT | --unix PATH] [--no-sample-data] \
                     [--gzip] [--connection-threads N] [--trace]";

struct Args {
    addr: SocketAddr,
    /// `--unix PATH`: a Unix domain socket instead of TCP.
    unix: Option<std::path::PathBuf>,
    sample_data: bool,
    gzip: bool,
    connection_threads: Option<usize>,
}

fn parse_args(argv: Vec<String>) -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
        unix: None,
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
            "--unix" => {
                let value = it.next().ok_or("--unix needs a path")?;
                args.unix = Some(value.into());
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

impl Args {
    fn describe(&self) -> String {
        match &self.unix {
            Some(path) => format!("unix:{}", path.display()),
            None => self.addr.to_string(),
        }
    }
}

/// The listening socket: TCP or a Unix domain socket.
enum Bound {
    Tcp(TcpListener),
    Unix(tokio::net::UnixListener, std::path::PathBuf),
}

impl Bound {
    /// What clients dial: `127.0.0.1:50051`, or `unix:/path` (a target
    /// order-client and grpc's naming both accept).
    fn describe(&self) -> String {
        match self {
            Bound::Tcp(listener) => listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            Bound::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }
}

async fn bind(args: &Args) -> std::io::Result<Bound> {
    match &args.unix {
        // A socket file a dead server left behind is replaced; a live one is not.
        Some(path) => Ok(Bound::Unix(
            h2grpc::transport::bind_unix(path)?,
            path.clone(),
        )),
        None => Ok(Bound::Tcp(TcpListener::bind(args.addr).await?)),
    }
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
    let listener = match bind(&args).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot bind {}: {e}", args.describe());
            return ExitCode::FAILURE;
        }
    };
    println!("order-server listening on {}", listener.describe());
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
    let builder = builder.add_service(OrderManagementServer::new(store));
    let served = match listener {
        Bound::Tcp(listener) => builder.serve_on(listener, shutdown_signal()).await,
        Bound::Unix(listener, path) => {
            let served = builder.serve_on(listener, shutdown_signal()).await;
            // Stopped cleanly: leave no socket file behind.
            let _ = std::fs::remove_file(path);
            served
        }
    };
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
