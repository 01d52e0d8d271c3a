//! `tonic-order-server`: the OrderManagement service on tonic 0.14, the
//! peer h2grpc's `order-server` is measured against.
//!
//! ```text
//! tonic-order-server [--addr HOST:PORT]
//! ```
//! Prints `tonic-order-server listening on ADDR` once bound (port 0 picks a
//! free one) and stops on Ctrl-C or SIGTERM. tonic's defaults throughout,
//! except TCP_NODELAY, set as h2grpc sets it. No logging.

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use tonic_order_server::pb::ecommerce::order_management_server::OrderManagementServer;
use tonic_order_server::service::OrderStore;

#[tokio::main]
async fn main() -> ExitCode {
    let mut addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 50061));
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
            _ => {
                eprintln!("usage: tonic-order-server [--addr HOST:PORT]");
                return ExitCode::from(2);
            }
        }
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
    let served = Server::builder()
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
