//! One HTTP/2 connection: handshake, accept streams, check heads, route.
//!
//! Layer: h2 glue. This task only polls `h2`'s `accept()` (which is what
//! drives the connection's reads and writes) and hands each stream to a
//! service; the call itself runs on its own task (see `call.rs`; with
//! connection threads its first poll runs here, inline). Malformed
//! heads are answered here without spawning anything (PROTOCOL-HTTP2.md
//! "Requests"; the checks live in the sans-IO `wire::head`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::sync::watch;

use super::Router;
use super::keepalive;
use super::route::dispatch;
use super::spawn;
use super::tap::{ActiveCall, Tap, TapSignals};
use crate::streaming::AbortOnDrop;
use crate::trace::{self, Dir, Side};
use crate::transport::{Connecting, Peer};

pub(super) async fn serve<C: Connecting>(
    conn: C,
    peer: Peer,
    router: Arc<Router>,
    mut stop: watch::Receiver<bool>,
) {
    let config = &router.config;
    // Register the socket here, on the runtime serving it, and run any
    // handshake of the transport (TLS) within the handshake timeout.
    let (socket, peer) = match tokio::time::timeout(
        config.handshake_timeout,
        conn.establish(peer.clone()),
    )
    .await
    {
        Ok(Ok(established)) => established,
        Ok(Err(e)) => {
            // A refused TLS handshake is worth knowing about; the server goes on.
            tracing::info!(target: "h2grpc::server", %peer, error = %e, "connection refused");
            return;
        }
        Err(_) => {
            tracing::info!(target: "h2grpc::server", %peer, "connection refused: no handshake within the handshake timeout");
            return;
        }
    };
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(config.stream_window_bytes)
        .initial_connection_window_size(config.connection_window_bytes)
        .max_concurrent_streams(config.max_concurrent_streams)
        .max_header_list_size(config.max_header_list_bytes);
    if let Some(bytes) = config.max_frame_bytes {
        builder.max_frame_size(bytes);
    }
    let signals = Arc::new(TapSignals::default());
    let socket = Tap::new(socket, config.ping_policy, signals.clone());
    // A peer that connects and says nothing must not hold a task forever.
    let handshake = tokio::time::timeout(
        config.handshake_timeout,
        builder.handshake::<_, Bytes>(socket),
    );
    let mut conn = match handshake.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(target: "h2grpc::server", %peer, error = %e, "handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(target: "h2grpc::server", %peer, "no HTTP/2 preface in time");
            return;
        }
    };
    let (ping_dead_tx, mut ping_dead) = tokio::sync::oneshot::channel::<()>();
    let _pinger =
        match (config.keepalive_interval, conn.ping_pong()) {
            (Some(interval), Some(ping_pong)) => Some(AbortOnDrop(tokio::spawn(
                keepalive::ping_loop(ping_pong, interval, config.keepalive_timeout, ping_dead_tx),
            ))),
            _ => None,
        };
    let mut stopping = *stop.borrow();
    if stopping {
        conn.graceful_shutdown();
    }
    let mut idle_check = config.idle_timeout.map(|t| Box::pin(tokio::time::sleep(t)));
    // The control signals live across iterations: a `Notified` made afresh on
    // every accept registers with (and leaves) its waiter list under a lock
    // each time, which callgrind showed on every call's path.
    let mut stop_requested = std::pin::pin!(async {
        // A dropped sender also means "stop".
        let _ = stop.changed().await;
    });
    let mut too_many_pings = std::pin::pin!(signals.notify.notified());
    let mut calmed = false;
    // On a connection thread, calls get their first poll on this task.
    let inline = config.connection_threads.is_some();
    loop {
        tokio::select! {
            accepted = std::future::poll_fn(|cx| {
                let polled = conn.poll_accept(cx);
                if inline && polled.is_pending() {
                    // Nothing more to read for now: run the batch of calls
                    // accepted since the last time (see `call::run_inline`).
                    spawn::run_inline();
                }
                polled
            }) => match accepted {
                Some(Ok((request, respond))) => {
                    let active = ActiveCall::new(signals.clone());
                    if inline {
                        spawn::dispatch_inline(|| dispatch(&router, request, respond, &peer, active));
                    } else {
                        dispatch(&router, request, respond, &peer, active);
                    }
                    if let (Some(sleep), Some(t)) = (idle_check.as_mut(), config.idle_timeout) {
                        sleep.as_mut().reset(tokio::time::Instant::now() + t);
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(target: "h2grpc::server", %peer, error = %e, "connection error");
                    break;
                }
                None => break,
            },
            () = &mut stop_requested, if !stopping => {
                stopping = true;
                if trace::enabled() {
                    trace::goaway(Side::Server, Dir::Send, "NO_ERROR: graceful shutdown, in-flight calls may finish");
                }
                conn.graceful_shutdown();
            }
            () = &mut too_many_pings, if !calmed => {
                calmed = true;
                // doc/keepalive.md: a client pinging too often gets GOAWAY ENHANCE_YOUR_CALM.
                tracing::debug!(target: "h2grpc::server", %peer, "too_many_pings: GOAWAY ENHANCE_YOUR_CALM");
                if trace::enabled() {
                    trace::goaway(Side::Server, Dir::Send, "ENHANCE_YOUR_CALM: too_many_pings");
                }
                stopping = true;
                conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
            }
            _ = &mut ping_dead => {
                // No PING ACK within the keepalive timeout: the peer or the path is gone.
                tracing::debug!(target: "h2grpc::server", %peer, "keepalive timeout: closing connection");
                break;
            }
            () = async {
                match idle_check.as_mut() {
                    Some(sleep) => sleep.as_mut().await,
                    None => std::future::pending().await,
                }
            } => {
                let t = config.idle_timeout.unwrap_or_default();
                if signals.active_calls.load(Ordering::Acquire) == 0 && !stopping {
                    tracing::debug!(target: "h2grpc::server", %peer, "idle: GOAWAY");
                    if trace::enabled() {
                        trace::goaway(Side::Server, Dir::Send, "NO_ERROR: connection idle");
                    }
                    stopping = true;
                    conn.graceful_shutdown();
                }
                if let Some(sleep) = idle_check.as_mut() {
                    sleep.as_mut().reset(tokio::time::Instant::now() + t);
                }
            }
        }
    }
    // Calls accepted just before the connection ended still get their poll.
    if inline {
        spawn::run_inline();
    }
}
