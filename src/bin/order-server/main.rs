//! `order-server`: the OrderManagement reference server.
//!
//! ```text
//! order-server [--addr HOST:PORT | --unix PATH] [--no-sample-data] [--gzip] [--connection-threads N]
//!              [--batch-size N] [--trace[=frames|all]]
//!              [--tls-cert FILE --tls-key FILE [--client-ca FILE [--client-ca-optional]]]
//!              [--token TOKEN] [--metrics HOST:PORT] [--log-calls]
//!              [--store memory|sqlite|postgres] [--data-dir DIR] [--database-url postgres://...]
//! ```
//! Prints `order-server listening on ADDR` once bound (port 0 picks a free
//! one), logs to stderr (`RUST_LOG` overrides the default filter, `info`),
//! and stops gracefully on Ctrl-C or SIGTERM.
//!
//! Around the calls (interceptors, `h2grpc::intercept`): `--token TOKEN`
//! refuses calls without `authorization: Bearer TOKEN` (`UNAUTHENTICATED`;
//! health checks stay open); `--metrics HOST:PORT` counts calls and their
//! latency by method and code and serves them as Prometheus text on
//! `http://HOST:PORT/metrics` (the bound address is printed as `metrics on
//! ADDR`); `--log-calls` wraps each call in a `tracing` span and logs its
//! end (method, peer, code, µs). Per-call logging is off by default: it
//! costs a write to stderr per call.
//! `--trace` (or `H2GRPC_TRACE=1`) prints the message trace to stderr,
//! `--trace=frames` every HTTP/2 frame as it crossed the socket, `--trace=all` both.
//! `--connection-threads N` serves connections on N threads of their own
//! (`server::Builder::connection_threads`; default: tokio's work-stealing runtime).
//! `--batch-size N`: processOrders sends what it has gathered after every N
//! ids (default 3, the book's; 1 answers each id, for a ping-pong client).
//!
//! TLS (`--tls-cert` chain and `--tls-key`, PEM; ALPN `h2`), over TCP or the
//! Unix socket alike: clients then dial `https://HOST:PORT` (or `unix:PATH`
//! with TLS settings); the "listening on" line shows the bare address as
//! without TLS. `--client-ca FILE` asks every client for a
//! certificate signed by a CA in FILE and refuses a handshake without one
//! (mTLS); with `--client-ca-optional` a client without a certificate is
//! served too, one with a bad certificate still refused. A refused handshake
//! is logged and the server goes on serving.
//!
//! Health (`grpc.health.v1.Health`): `""` and `ecommerce.OrderManagement`
//! are `SERVING`; on Ctrl-C or SIGTERM both turn `NOT_SERVING` before the
//! server drains.
//!
//! Where orders are kept (store/mod.rs): SQLite in `--data-dir DIR` by
//! default (`$H2GRPC_DATA_DIR`, `$XDG_DATA_HOME/h2grpc`,
//! `~/.local/share/h2grpc` or `./data`), durable across restarts;
//! `--store memory` keeps nothing; `--database-url postgres://...` shares one
//! PostgreSQL database among several servers. `H2GRPC_STORE` picks the store
//! when no store flag is given. A store that cannot be opened is an error
//! before the "listening on" line.
//!
//! Server reflection (`grpc.reflection.v1` and `v1alpha`) is always on, so
//! `grpcurl -plaintext ADDR list`, `describe` and calls with JSON work with no
//! `.proto` at hand.

#[path = "../common/logging.rs"]
mod logging;
mod metrics;
#[path = "../common/pb.rs"]
mod pb;
mod service;
mod store;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use h2grpc::intercept::{BearerToken, CallMetrics, TraceCalls};
use h2grpc::server::{Builder, Server};
use h2grpc::transport::Listener;
use tokio::net::TcpListener;

use pb::ecommerce::order_management_server::OrderManagementServer;
use service::OrderService;

const USAGE: &str = "usage: order-server [--addr HOST:PORT | --unix PATH] [--no-sample-data] \
                     [--gzip] [--connection-threads N] [--batch-size N] [--trace[=frames|all]] \
                     [--tls-cert FILE --tls-key FILE [--client-ca FILE [--client-ca-optional]]] \
                     [--token TOKEN] [--metrics HOST:PORT] [--log-calls] \
                     [--store memory|sqlite|postgres] [--data-dir DIR] [--database-url postgres://...]\n\
                     default store: sqlite in $H2GRPC_DATA_DIR, $XDG_DATA_HOME/h2grpc, \
                     ~/.local/share/h2grpc or ./data ($H2GRPC_STORE picks another)";

struct Args {
    addr: SocketAddr,
    /// `--unix PATH`: a Unix domain socket instead of TCP.
    unix: Option<std::path::PathBuf>,
    sample_data: bool,
    gzip: bool,
    connection_threads: Option<usize>,
    /// `--batch-size N`: processOrders answers after every N ids (default 3).
    batch_size: Option<usize>,
    tls: Option<TlsArgs>,
    /// `--token`: the bearer token every call must carry.
    token: Option<String>,
    /// `--metrics`: where to serve Prometheus text.
    metrics: Option<SocketAddr>,
    /// `--log-calls`: a span and an end line per call.
    log_calls: bool,
    /// `--store`, `--data-dir`, `--database-url`.
    store: store::Options,
}

/// `--tls-cert`, `--tls-key`, `--client-ca`, `--client-ca-optional`.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
struct TlsArgs {
    cert: PathBuf,
    key: PathBuf,
    /// mTLS: the CAs client certificates must chain to, and whether a
    /// client may also come without one.
    client_ca: Option<(PathBuf, bool)>,
}

fn parse_args(argv: Vec<String>) -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
        unix: None,
        sample_data: true,
        gzip: false,
        connection_threads: None,
        batch_size: None,
        tls: None,
        token: None,
        metrics: None,
        log_calls: false,
        store: store::Options::default(),
    };
    let mut tls_cert = None;
    let mut tls_key = None;
    let mut client_ca = None;
    let mut client_ca_optional = false;
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
            "--batch-size" => {
                let value = it.next().ok_or("--batch-size needs a value")?;
                let n = value
                    .parse()
                    .map_err(|e| format!("bad --batch-size {value:?}: {e}"))?;
                args.batch_size = Some(n);
            }
            "--tls-cert" => {
                tls_cert = Some(PathBuf::from(it.next().ok_or("--tls-cert needs a file")?))
            }
            "--tls-key" => {
                tls_key = Some(PathBuf::from(it.next().ok_or("--tls-key needs a file")?))
            }
            "--client-ca" => {
                client_ca = Some(PathBuf::from(it.next().ok_or("--client-ca needs a file")?));
            }
            "--client-ca-optional" => client_ca_optional = true,
            "--token" => args.token = Some(it.next().ok_or("--token needs a value")?),
            "--metrics" => {
                let value = it.next().ok_or("--metrics needs HOST:PORT")?;
                args.metrics = Some(
                    value
                        .parse()
                        .map_err(|e| format!("bad --metrics {value:?}: {e}"))?,
                );
            }
            "--log-calls" => args.log_calls = true,
            flag if store::FLAGS.contains(&flag) => {
                let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                args.store.set(flag, value)?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    args.tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(TlsArgs {
            cert,
            key,
            client_ca: client_ca.map(|ca| (ca, !client_ca_optional)),
        }),
        (None, None) if client_ca.is_some() => {
            return Err(format!(
                "--client-ca needs TLS: give --tls-cert and --tls-key too\n{USAGE}"
            ));
        }
        (None, None) => None,
        (Some(_), None) => return Err(format!("--tls-cert needs --tls-key\n{USAGE}")),
        (None, Some(_)) => return Err(format!("--tls-key needs --tls-cert\n{USAGE}")),
    };
    if client_ca_optional && args.tls.as_ref().is_none_or(|t| t.client_ca.is_none()) {
        return Err(format!("--client-ca-optional needs --client-ca\n{USAGE}"));
    }
    Ok(args)
}

/// The TLS acceptor `--tls-cert`/`--tls-key`/`--client-ca` describe, built
/// before binding so a bad file is reported before the "listening" line.
#[cfg(feature = "tls")]
type Acceptor = h2grpc::transport::TlsAcceptor;
/// Without the `tls` feature there is no acceptor to build.
#[cfg(not(feature = "tls"))]
type Acceptor = std::convert::Infallible;

#[cfg(feature = "tls")]
fn acceptor(tls: &TlsArgs) -> std::io::Result<Acceptor> {
    let mut config = h2grpc::transport::ServerTlsConfig::from_pem_files(&tls.cert, &tls.key)?;
    if let Some((ca, required)) = &tls.client_ca {
        config = config.client_ca_file(ca, *required)?;
    }
    config.build()
}

#[cfg(not(feature = "tls"))]
fn acceptor(_tls: &TlsArgs) -> std::io::Result<Acceptor> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "order-server was built without the `tls` feature",
    ))
}

/// Serves `listener`'s connections, under TLS when `tls` is given.
async fn serve<L: Listener>(
    builder: Builder,
    listener: L,
    tls: Option<Acceptor>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    match tls {
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            let listener = h2grpc::transport::TlsListener::new(listener, acceptor);
            builder.serve_on(listener, shutdown).await
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
        None => builder.serve_on(listener, shutdown).await,
    }
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
    let log_calls = argv.iter().any(|a| a == "--log-calls");
    logging::init(
        if log_calls {
            "info,h2grpc::call=debug"
        } else {
            "info"
        },
        trace,
    );

    let args = match parse_args(argv) {
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
    let store = match args.store.choice() {
        Ok(choice) => store::open(choice, args.sample_data).await,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let store = match store {
        Ok(store) => store,
        Err(message) => {
            eprintln!("error: store: {message}");
            return ExitCode::FAILURE;
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
    if let Some(tls) = &args.tls {
        let clients = match &tls.client_ca {
            None => "no client certificates",
            Some((_, true)) => "client certificates required",
            Some((_, false)) => "client certificates optional",
        };
        tracing::info!("TLS on ({clients})");
    }

    let mut builder = Server::builder();
    if args.gzip {
        // Responses go out gzip-compressed to clients that accept it.
        builder = builder.send_compression(h2grpc::compression::Encoding::Gzip);
    }
    if let Some(threads) = args.connection_threads {
        builder = builder.connection_threads(threads);
    }
    if args.log_calls {
        builder = builder.interceptor(TraceCalls);
    }
    if let Some(addr) = args.metrics {
        match metrics::serve(addr).await {
            Ok(bound) => println!("metrics on {bound}"),
            Err(e) => {
                eprintln!("error: cannot serve metrics on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        }
        builder = builder.interceptor(CallMetrics);
    }
    if let Some(token) = &args.token {
        // Load balancers probe health without credentials.
        builder = builder.interceptor(BearerToken::new(token).exempt("grpc.health.v1.Health"));
    }
    let (health, health_service) = h2grpc::health::health_reporter();
    health.set_serving(pb::ecommerce::order_management_server::SERVICE_NAME);
    let shutdown = health.not_serving_on(shutdown_signal());
    let mut service = OrderService::new(store);
    if let Some(ids) = args.batch_size {
        service = service.with_batch_size(ids);
    }
    let builder = builder.add_service(OrderManagementServer::new(service));
    let builder = builder.add_service(health_service);
    // Server reflection, both versions, over the order and health services' descriptors.
    let reflection = h2grpc::reflection::Builder::new()
        .register_encoded_file_descriptor_set(pb::ecommerce::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(h2grpc::health::pb::FILE_DESCRIPTOR_SET)
        .build();
    let builder = match reflection {
        Ok((v1, v1alpha)) => builder.add_service(v1).add_service(v1alpha),
        Err(e) => {
            eprintln!("error: reflection: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = match listener {
        Bound::Tcp(listener) => serve(builder, listener, tls, shutdown).await,
        Bound::Unix(listener, path) => {
            let served = serve(builder, listener, tls, shutdown).await;
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
