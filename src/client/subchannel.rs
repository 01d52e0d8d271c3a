//! A subchannel: one endpoint of a channel and its HTTP/2 connection
//! (grpc `doc/load-balancing.md`: "subchannels", one per address).
//!
//! Layer: h2 glue. A subchannel dials its [`Target`] (HTTP/2 with prior
//! knowledge, RFC 9113 §3.3, or TLS under the connector), hands calls a clone
//! of `h2`'s `SendRequest`, drives the connection with a task of its own, and
//! forgets the connection when it fails (PROTOCOL-HTTP2.md "Connection
//! Management": its calls fail with `UNAVAILABLE`).
//!
//! ```text
//!  IDLE ──dial──▶ CONNECTING ──ok──▶ READY ──connection ends──▶ IDLE
//!                     │ fails
//!                     ▼
//!             TRANSIENT_FAILURE  until the back-off instant (doc/connection-backoff.md),
//!                                then dialed again by the next pick
//! ```
//!
//! Keepalive (gRFC A8, doc/keepalive.md): a connection the server closes with
//! GOAWAY ENHANCE_YOUR_CALM while we were pinging it was refused for pinging
//! too often, so the subchannel doubles its keepalive interval for the next
//! connection. (A8 also names the debug data `too_many_pings`; `h2` does not
//! show a client the debug data, so the code alone decides.)

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::time::Instant;

use super::Config;
use super::backoff::{ConnectBackoff, jitter_random};
use crate::streaming::AbortOnDrop;
use crate::transport::{Connector, Target};
use crate::wire::status::Status;

/// How many recently cancelled streams a connection remembers (h2 default: 50).
const CANCELLED_STREAMS_REMEMBERED: usize = 1024;

/// A live connection: the handle calls clone, and a flag its driver task sets on exit.
#[derive(Clone)]
struct Connection {
    send: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

/// Where a subchannel is in its reconnect schedule.
#[derive(Debug)]
struct Failures {
    schedule: ConnectBackoff,
    /// In TRANSIENT_FAILURE until then: picks skip it.
    retry_at: Option<Instant>,
    /// Why the last dial failed, for the calls that find no endpoint.
    last_error: Option<Status>,
}

/// One endpoint of a channel.
pub(crate) struct Subchannel {
    target: Target,
    connector: Arc<dyn Connector>,
    config: Arc<Config>,
    /// The current connection, if any; cloned (cheaply) by every call.
    conn: Mutex<Option<Connection>>,
    /// Serialises dialing so concurrent calls share one connection.
    dialing: tokio::sync::Mutex<()>,
    /// The keepalive interval for the next connection: the configured one,
    /// doubled each time a server refused us for pinging too often (A8).
    keepalive_interval: Mutex<Option<Duration>>,
    failures: Mutex<Failures>,
    /// A connection of this subchannel ended since the balancer last asked:
    /// a `dns:` name is then resolved again (naming.md).
    lost: AtomicBool,
}

impl fmt::Debug for Subchannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subchannel")
            .field("target", &self.target)
            .field("ready", &self.live().is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether a connection ended because the server refused our pings (gRFC A8).
fn refused_for_pinging(e: &h2::Error) -> bool {
    e.is_go_away() && e.is_remote() && e.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM)
}

impl Subchannel {
    pub(crate) fn new(
        target: Target,
        connector: Arc<dyn Connector>,
        config: Arc<Config>,
    ) -> Subchannel {
        Subchannel {
            target,
            connector,
            keepalive_interval: Mutex::new(config.keepalive_interval),
            config,
            conn: Mutex::new(None),
            dialing: tokio::sync::Mutex::new(()),
            failures: Mutex::new(Failures {
                schedule: ConnectBackoff::new(),
                retry_at: None,
                last_error: None,
            }),
            lost: AtomicBool::new(false),
        }
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// The live connection's handle: READY.
    pub(crate) fn live(&self) -> Option<SendRequest<Bytes>> {
        let guard = lock(&self.conn);
        match guard.as_ref() {
            Some(c) if !c.closed.load(Ordering::Acquire) => Some(c.send.clone()),
            _ => None,
        }
    }

    /// In TRANSIENT_FAILURE at `now`: until when, and why.
    pub(crate) fn backing_off(&self, now: Instant) -> Option<(Instant, Option<Status>)> {
        let failures = lock(&self.failures);
        match failures.retry_at {
            Some(at) if at > now => Some((at, failures.last_error.clone())),
            _ => None,
        }
    }

    /// Whether a dial is under way.
    pub(crate) fn is_dialing(&self) -> bool {
        self.dialing.try_lock().is_err()
    }

    /// Whether a connection ended since the last call (and clears it).
    pub(crate) fn take_lost(&self) -> bool {
        self.lost.swap(false, Ordering::AcqRel)
    }

    /// A handle on the live connection, dialing if there is none. A failed
    /// dial puts the subchannel in back-off; a made one resets it.
    pub(crate) async fn connect(self: &Arc<Self>) -> Result<SendRequest<Bytes>, Status> {
        if let Some(send) = self.live() {
            return Ok(send);
        }
        let _dialing = self.dialing.lock().await;
        if let Some(send) = self.live() {
            return Ok(send);
        }
        let started = Instant::now();
        match self.dial().await {
            Ok(conn) => {
                let send = conn.send.clone();
                *lock(&self.conn) = Some(conn);
                let mut failures = lock(&self.failures);
                failures.schedule.reset();
                failures.retry_at = None;
                failures.last_error = None;
                Ok(send)
            }
            Err(status) => {
                let mut failures = lock(&self.failures);
                let at = failures.schedule.failed(started, jitter_random());
                failures.retry_at = Some(at);
                failures.last_error = Some(status.clone());
                Err(status)
            }
        }
    }

    /// Forgets the current connection (it failed), so the next call dials.
    pub(crate) fn discard(&self) {
        let mut guard = lock(&self.conn);
        if let Some(c) = guard.as_ref() {
            c.closed.store(true, Ordering::Release);
        }
        *guard = None;
    }

    /// gRFC A8: the server said we ping too often; ping half as often from now on.
    fn back_off_keepalive(&self) {
        let mut interval = lock(&self.keepalive_interval);
        if let Some(d) = interval.as_mut() {
            *d = d.saturating_mul(2);
            // A8: logged at a level that is on by default.
            tracing::warn!(
                target: "h2grpc::client",
                target_addr = %self.target,
                keepalive_interval = ?*d,
                "server sent GOAWAY ENHANCE_YOUR_CALM (too many pings): keepalive interval doubled"
            );
        }
    }

    async fn dial(self: &Arc<Self>) -> Result<Connection, Status> {
        let config = &self.config;
        let target = &self.target;
        let unavailable =
            |e: &dyn fmt::Display| Status::unavailable(format!("cannot connect to {target}: {e}"));
        // One budget for the transport's connect and the HTTP/2 handshake.
        let deadline = Instant::now() + config.connect_timeout;
        let socket = tokio::time::timeout_at(deadline, self.connector.connect(target));
        let socket = match socket.await {
            Ok(Ok(socket)) => crate::transport::client_tap(socket),
            Ok(Err(e)) => return Err(unavailable(&e)),
            Err(_) => return Err(unavailable(&"connect timeout")),
        };
        let mut builder = h2::client::Builder::new();
        builder
            .enable_push(false)
            // Remember streams we reset (cancelled calls) long enough to ignore the
            // frames the server had already sent: h2's default of 50 is soon
            // overrun by a busy client, and each late frame then counts as a
            // protocol error that h2 answers with a reset of its own.
            .max_concurrent_reset_streams(CANCELLED_STREAMS_REMEMBERED)
            // Those resets are counted over the connection's whole life and h2
            // closes it with GOAWAY ENHANCE_YOUR_CALM after 1024: fatal for a
            // long-lived channel whose calls get cancelled (found by tests/soak.rs:
            // 357 failed calls in a million). That guard protects servers from
            // hostile clients; a client has its own server to trust.
            .max_local_error_reset_streams(None)
            .initial_window_size(config.stream_window_bytes)
            .initial_connection_window_size(config.connection_window_bytes);
        if let Some(bytes) = config.max_frame_bytes {
            builder.max_frame_size(bytes);
        }
        if let Some(bytes) = config.max_header_list_bytes {
            builder.max_header_list_size(bytes);
        }
        let handshake = builder.handshake::<_, Bytes>(socket);
        let (send, mut connection) = match tokio::time::timeout_at(deadline, handshake).await {
            Ok(Ok(handshaken)) => handshaken,
            Ok(Err(e)) => return Err(unavailable(&e)),
            Err(_) => return Err(unavailable(&"HTTP/2 handshake timeout")),
        };
        // h2's handshake only writes our preface. Before the channel calls
        // this connection ready, the server must answer a PING, under the
        // same connect budget: something that accepts TCP but does not speak
        // HTTP/2 (a hung process, a wrong port) would otherwise take calls
        // that never end (grpc-go waits for the server's preface likewise).
        let mut ping_pong = connection.ping_pong();
        if let Some(ping_pong) = ping_pong.as_mut() {
            let answered = async {
                tokio::select! {
                    pong = ping_pong.ping(h2::Ping::opaque()) => pong.map(drop).map_err(|e| unavailable(&e)),
                    ended = &mut connection => Err(match ended {
                        Err(e) => unavailable(&e),
                        Ok(()) => unavailable(&"the server closed the connection"),
                    }),
                }
            };
            match tokio::time::timeout_at(deadline, answered).await {
                Ok(Ok(())) => {}
                Ok(Err(status)) => return Err(status),
                Err(_) => return Err(unavailable(&"no HTTP/2 answer within the connect timeout")),
            }
        }
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        let (dead_tx, dead) = tokio::sync::oneshot::channel();
        let interval = *lock(&self.keepalive_interval);
        let pinger = match (interval, ping_pong) {
            (Some(interval), Some(ping_pong)) => Some(AbortOnDrop(tokio::spawn(
                crate::keepalive::ping_loop(ping_pong, interval, config.keepalive_timeout, dead_tx),
            ))),
            _ => None,
        };
        // Weak: this task must not keep a dropped channel (and so its connection) alive.
        let subchannel: Weak<Subchannel> = Arc::downgrade(self);
        let pinging = pinger.is_some();
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    tracing::debug!(target: "h2grpc::client", error = %e, "connection ended");
                    if pinging
                        && refused_for_pinging(&e)
                        && let Some(sub) = Weak::upgrade(&subchannel)
                    {
                        sub.back_off_keepalive();
                    }
                },
                // No PING ACK in time: drop the connection, failing its calls.
                Ok(()) = dead => tracing::debug!(target: "h2grpc::client", "keepalive timeout: connection closed"),
            }
            flag.store(true, Ordering::Release);
            if let Some(sub) = Weak::upgrade(&subchannel) {
                sub.lost.store(true, Ordering::Release);
            }
            drop(pinger);
        });
        Ok(Connection { send, closed })
    }
}
