//! `h2-ceiling`: a bare `h2` server that answers every request with the same
//! gRPC reply, the upper bound for any gRPC runtime built on `h2`.
//!
//! ```text
//! h2-ceiling [--addr HOST:PORT] [--connection-threads N]
//! ```
//! Prints `h2-ceiling listening on ADDR` once bound (port 0 picks a free one).
//! No gRPC logic: no path routing, no header checks, no decoding. Each
//! request's body is read to its end (releasing flow-control capacity, as
//! any real server must), then the answer is the fixed `getOrder("102")` reply:
//!
//! ```text
//!  HEADERS  :status 200, content-type: application/grpc
//!  DATA     00 0000004a  <74-byte Order 102>
//!  HEADERS  grpc-status: 0                        (trailers, END_STREAM)
//! ```
//!
//! Same task structure as h2grpc and tonic (one task per connection polling
//! `accept`, one per stream: serving on the connection task would stall it)
//! and the same windows as h2grpc's server (1 MiB stream, 4 MiB connection).
//! `--connection-threads N` runs connections the way h2grpc's
//! `Builder::connection_threads(N)` does (round-robin onto N single-threaded
//! runtimes, each stream's first poll on its connection's task once `h2` has
//! no further stream to hand out, a task only for an unfinished one), so that
//! mode has a like-for-like ceiling too.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::process::ExitCode;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::{HeaderMap, HeaderValue, Response};
use tokio::net::{TcpListener, TcpStream};

/// The framed reply: flag 0, length 74 (0x4a), then `Order` 102 encoded.
/// Fields: 1 id, 2 items (repeated), 3 description, 4 price (float), 5 destination.
const REPLY: &[u8] = b"\x00\x00\x00\x00\x4a\
    \x0a\x03102\
    \x12\x0fGoogle Pixel 3A\
    \x12\x0cMac Book Pro\
    \x1a\x0cMac Book Pro\
    \x25\x00\x00\xe1\x44\
    \x2a\x11Mountain View, CA";

const STREAM_WINDOW_BYTES: u32 = 1024 * 1024;
const CONNECTION_WINDOW_BYTES: u32 = 4 * 1024 * 1024;

#[tokio::main]
async fn main() -> ExitCode {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 50071));
    let mut threads = 0usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match (arg.as_str(), value.parse(), value.parse()) {
            ("--addr", Ok(a), _) => addr = a,
            ("--connection-threads", _, Ok(n)) => threads = n,
            _ => {
                eprintln!("usage: h2-ceiling [--addr HOST:PORT] [--connection-threads N]");
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
    println!("h2-ceiling listening on {local}");
    // Each connection thread: a current-thread runtime parked on a future that never ends.
    let handles: Vec<tokio::runtime::Handle> = (0..threads)
        .map(|_| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let handle = runtime.handle().clone();
            std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
            handle
        })
        .collect();
    let mut next = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                if handles.is_empty() {
                    tokio::spawn(connection(socket, false));
                    continue;
                }
                let Ok(socket) = socket.into_std() else { continue };
                handles[next].spawn(async move {
                    if let Ok(socket) = TcpStream::from_std(socket) {
                        connection(socket, true).await;
                    }
                });
                next = (next + 1) % handles.len();
            }
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
        }
    }
}

async fn connection(socket: TcpStream, inline: bool) {
    let _ = socket.set_nodelay(true);
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_concurrent_streams(1024);
    let Ok(mut conn) = builder.handshake::<_, Bytes>(socket).await else {
        return;
    };
    if !inline {
        while let Some(Ok((request, respond))) = conn.accept().await {
            tokio::spawn(answer(request.into_body(), respond));
        }
        return;
    }
    // Connection threads: as h2grpc does there, the streams accepted in one
    // read get their first poll on this task once `h2` has no further stream,
    // and only unfinished ones are spawned.
    let mut batch: Vec<Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
    loop {
        let accepted = std::future::poll_fn(|cx| {
            let polled = conn.poll_accept(cx);
            if polled.is_pending() {
                let mut noop = Context::from_waker(Waker::noop());
                for mut answer in batch.drain(..) {
                    if answer.as_mut().poll(&mut noop).is_pending() {
                        tokio::spawn(answer);
                    }
                }
            }
            polled
        })
        .await;
        let Some(Ok((request, respond))) = accepted else {
            return;
        };
        batch.push(Box::pin(answer(request.into_body(), respond)));
    }
}

async fn answer(mut body: RecvStream, mut respond: SendResponse<Bytes>) {
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let mut response = Response::new(());
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    let Ok(mut send) = respond.send_response(response, false) else {
        return;
    };
    let _ = send.send_data(Bytes::from_static(REPLY), false);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let _ = send.send_trailers(trailers);
}
