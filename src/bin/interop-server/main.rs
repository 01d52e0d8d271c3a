//! `interop-server`: the standard gRPC interop `grpc.testing.TestService`
//! (grpc/grpc doc/interop-test-descriptions.md, "Server") on h2grpc.
//!
//! ```text
//! interop-server [--port N] [--host HOST] [--use_tls false]
//! ```
//! Binds HOST:N (default 127.0.0.1; `--port 0`, the default, picks a free
//! port) and prints `interop-server listening on HOST:PORT` as its first
//! stdout line. Plaintext HTTP/2 (h2c) only. Flags may also be written
//! `--flag=value`, as the upstream interop runners do. Stops on Ctrl-C or SIGTERM.

#[path = "../common/logging.rs"]
mod logging;
#[path = "../common/interop_pb.rs"]
mod pb;

mod service;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use h2grpc::server::Server;
use tokio::net::TcpListener;

use pb::grpc_testing::test_service_server::TestServiceServer;
use service::InteropService;

const USAGE: &str = "usage: interop-server [--port N] [--host HOST] [--use_tls false] [--trace]";

struct Args {
    host: IpAddr,
    port: u16,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                args.port = v.parse().map_err(|e| format!("bad --port {v:?}: {e}"))?;
            }
            "--host" => {
                let v = value()?;
                args.host = v.parse().map_err(|e| format!("bad --host {v:?}: {e}"))?;
            }
            // Handled by logging::trace_requested in main.
            "--trace" => {}
            "--use_tls" => match value()?.as_str() {
                "false" => {}
                "true" => return Err("--use_tls true: TLS is not supported yet".into()),
                v => return Err(format!("bad --use_tls {v:?}: expected true or false")),
            },
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    let trace = logging::trace_requested(&mut argv);
    logging::init("warn", trace);

    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::new(args.host, args.port);
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("interop-server listening on {local}");
    let _ = std::io::stdout().flush();

    let served = Server::builder()
        .add_service(TestServiceServer::new(InteropService))
        .serve_with_listener(listener, shutdown_signal())
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
