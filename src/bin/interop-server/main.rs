//! `interop-server`: the standard gRPC interop `grpc.testing.TestService`
//! (grpc/grpc doc/interop-test-descriptions.md, "Server") on h2grpc.
//!
//! ```text
//! interop-server [--port N] [--host HOST]
//!                [--use_tls=true --tls_cert_file FILE --tls_key_file FILE [--client_ca_file FILE]]
//! ```
//! Binds HOST:N (default 127.0.0.1; `--port 0`, the default, picks a free
//! port) and prints `interop-server listening on HOST:PORT` as its first
//! stdout line. Flags may also be written `--flag=value`, as the upstream
//! interop runners do; a boolean flag alone (`--use_tls`) means true, as in
//! grpc-go's. Stops on Ctrl-C or SIGTERM.
//!
//! TLS: `--use_tls=true` with `--tls_cert_file` and `--tls_key_file` (PEM),
//! as grpc-go's interop server spells them; that server falls back to
//! grpc's test certificates, this one has none built in, so both files are
//! required. Without `--use_tls` it speaks plaintext HTTP/2 (h2c).
//!
//! `--client_ca_file FILE` (an h2grpc addition, no upstream interop server
//! has it) requires every client to present a certificate signed by a CA in
//! FILE (mTLS). `EmptyCall` and `UnaryCall` then return the client's
//! verified certificate (DER) in the response head as `x-h2grpc-peer-cert-bin`,
//! so a foreign client can check what the handler saw.

#[path = "../common/flags.rs"]
mod flags;
#[path = "../common/logging.rs"]
mod logging;
#[path = "../common/interop_pb.rs"]
mod pb;

mod service;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use h2grpc::server::Server;
use tokio::net::TcpListener;

use pb::grpc_testing::test_service_server::TestServiceServer;
use service::InteropService;

const USAGE: &str = "usage: interop-server [--port N] [--host HOST] [--use_tls=true|false] \
                     [--tls_cert_file FILE --tls_key_file FILE] [--client_ca_file FILE] [--trace]";

struct Args {
    host: IpAddr,
    port: u16,
    tls: Option<TlsArgs>,
}

/// `--tls_cert_file`, `--tls_key_file`, `--client_ca_file`.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
struct TlsArgs {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        tls: None,
    };
    let mut use_tls = false;
    let mut cert = None;
    let mut key = None;
    let mut client_ca = None;
    let mut it = std::env::args().skip(1).peekable();
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
            "--use_tls" => {
                use_tls = flags::bool_flag(&flag, inline.clone(), &mut it)?;
            }
            "--tls_cert_file" => cert = Some(PathBuf::from(value()?)),
            "--tls_key_file" => key = Some(PathBuf::from(value()?)),
            "--client_ca_file" => client_ca = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if use_tls {
        let (Some(cert), Some(key)) = (cert, key) else {
            return Err(format!(
                "--use_tls=true needs --tls_cert_file and --tls_key_file (this server has \
                 no built-in test certificates)\n{USAGE}"
            ));
        };
        args.tls = Some(TlsArgs {
            cert,
            key,
            client_ca,
        });
    } else if cert.is_some() || key.is_some() || client_ca.is_some() {
        return Err(format!(
            "--tls_cert_file, --tls_key_file and --client_ca_file need --use_tls=true\n{USAGE}"
        ));
    }
    Ok(args)
}

/// The TLS acceptor the flags describe, built before binding so a bad file
/// is reported before the "listening" line.
#[cfg(feature = "tls")]
type Acceptor = h2grpc::transport::TlsAcceptor;
/// Without the `tls` feature there is no acceptor to build.
#[cfg(not(feature = "tls"))]
type Acceptor = std::convert::Infallible;

#[cfg(feature = "tls")]
fn acceptor(tls: &TlsArgs) -> std::io::Result<Acceptor> {
    let mut config = h2grpc::transport::ServerTlsConfig::from_pem_files(&tls.cert, &tls.key)?;
    if let Some(ca) = &tls.client_ca {
        config = config.client_ca_file(ca, true)?;
    }
    config.build()
}

#[cfg(not(feature = "tls"))]
fn acceptor(_tls: &TlsArgs) -> std::io::Result<Acceptor> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "interop-server was built without the `tls` feature",
    ))
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
    let tls = match args.tls.as_ref().map(acceptor).transpose() {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("error: TLS: {e}");
            return ExitCode::FAILURE;
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

    let builder = Server::builder().add_service(TestServiceServer::new(InteropService));
    let served = match tls {
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            let listener = h2grpc::transport::TlsListener::new(listener, acceptor);
            builder.serve_on(listener, shutdown_signal()).await
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
        None => builder.serve_on(listener, shutdown_signal()).await,
    };
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
