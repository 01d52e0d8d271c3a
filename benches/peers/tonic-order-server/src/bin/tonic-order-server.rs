//! `tonic-order-server`: the OrderManagement service on tonic 0.14, the
//! peer h2grpc's `order-server` is measured against.
//!
//! ```text
//! tonic-order-server [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE]
//! ```
//! Prints `tonic-order-server listening on ADDR` once bound (port 0 picks a
//! free one) and stops on Ctrl-C or SIGTERM. tonic's defaults throughout,
//! except TCP_NODELAY, set as h2grpc sets it. No logging.
//!
//! `--tls-cert` (PEM chain, leaf first) and `--tls-key` (PEM) serve TLS with
//! tonic's own `ServerTlsConfig` (feature `tls-ring`: rustls on the ring
//! provider, h2grpc's provider too; tonic offers ALPN `h2`), the same flags
//! as h2grpc's `order-server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use tonic_order_server::pb::ecommerce::order_management_server::OrderManagementServer;
use tonic_order_server::service::OrderStore;

const USAGE: &str = "usage: tonic-order-server [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE]";

/// `--tls-cert` and `--tls-key` read into tonic's identity.
fn identity(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<Identity>, String> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(Identity::from_pem(read(&cert)?, read(&key)?))),
        _ => Err(format!("--tls-cert and --tls-key go together\n{USAGE}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 50061));
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => match value.parse() {
                Ok(a) => addr = a,
                Err(e) => {
                    eprintln!("bad --addr {value:?}: {e}");
                    return ExitCode::from(2);
                }
            },
            ("--tls-cert", Some(value)) => cert = Some(PathBuf::from(value)),
            ("--tls-key", Some(value)) => key = Some(PathBuf::from(value)),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let identity = match identity(cert, key) {
        Ok(identity) => identity,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut builder = Server::builder();
    if let Some(identity) = identity {
        builder = match builder.tls_config(ServerTlsConfig::new().identity(identity)) {
            Ok(builder) => builder,
            Err(e) => {
                eprintln!("error: bad TLS settings: {e}");
                return ExitCode::FAILURE;
            }
        };
    }
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("tonic-order-server listening on {local}");
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let served = builder
        .add_service(OrderManagementServer::new(OrderStore::with_samples()))
        .serve_with_incoming_shutdown(incoming, shutdown_signal())
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
