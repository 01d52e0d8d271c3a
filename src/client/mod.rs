//! The client: a `Channel` to one server, multiplexing calls over one HTTP/2 connection.
//!
//! Layer: h2 glue. A `Channel` is an `Arc` around the connection state, so
//! clones are cheap and share the connection. The connection is made with
//! HTTP/2 prior knowledge (h2c, RFC 9113 §3.3), its frames are driven by a
//! task of its own, and each call takes a clone of `h2`'s `SendRequest`
//! handle. When the connection dies the next call dials again; calls that
//! were on the dead connection fail with `UNAVAILABLE`
//! (PROTOCOL-HTTP2.md "Connection Management").
//!
//! Keepalive (gRFC A8, doc/keepalive.md): a connection the server closes with
//! GOAWAY ENHANCE_YOUR_CALM while we were pinging it was refused for pinging
//! too often, so the channel doubles its keepalive interval for the next
//! connection. (A8 also names the debug data `too_many_pings`; `h2` does not
//! show a client the debug data, so the code alone decides.)
//!
//! The four call patterns live in `call.rs`.

mod call;
mod handle;
mod in_memory;
mod intercept;

pub use crate::wire::path::MethodPath;
pub use handle::{ClientStreamingCall, RequestSink, StreamingCall};

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::uri::{Authority, Scheme};

use crate::intercept::{ClientChain, ClientInterceptor};
use crate::streaming::AbortOnDrop;
use crate::transport::{Connector, SocketConnector, Target};
use crate::wire::compression::Encoding;
use crate::wire::frame::DEFAULT_MAX_RECV_BYTES;
use crate::wire::status::Status;

/// Per-stream receive window: 2 MiB, as tonic's client, so a fast server
/// stream is not throttled to 64 KiB per round trip.
pub const DEFAULT_STREAM_WINDOW_BYTES: u32 = 2 * 1024 * 1024;

/// Connection receive window: 5 MiB, as tonic's client.
pub const DEFAULT_CONNECTION_WINDOW_BYTES: u32 = 5 * 1024 * 1024;

/// How many recently cancelled streams a connection remembers (h2 default: 50).
const CANCELLED_STREAMS_REMEMBERED: usize = 1024;

/// Settings of one channel.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) max_recv_message_bytes: usize,
    pub(crate) max_send_message_bytes: usize,
    pub(crate) stream_window_bytes: u32,
    pub(crate) connection_window_bytes: u32,
    pub(crate) max_frame_bytes: Option<u32>,
    pub(crate) max_header_list_bytes: Option<u32>,
    /// Default `grpc-encoding` for calls that set none.
    pub(crate) send_compression: Option<Encoding>,
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) keepalive_timeout: Duration,
    /// Bounds each connection attempt: the transport's connect and the
    /// HTTP/2 handshake.
    pub(crate) connect_timeout: Duration,
    /// The timeout of calls that set none.
    pub(crate) default_timeout: Option<Duration>,
    /// Run by every call, in order, before its head is sent.
    pub(crate) interceptors: ClientChain,
}

/// How long a connection attempt may take (doc/connection-backoff.md's
/// MIN_CONNECT_TIMEOUT: 20 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

impl Default for Config {
    fn default() -> Self {
        Config {
            max_recv_message_bytes: DEFAULT_MAX_RECV_BYTES,
            max_send_message_bytes: u32::MAX as usize,
            stream_window_bytes: DEFAULT_STREAM_WINDOW_BYTES,
            connection_window_bytes: DEFAULT_CONNECTION_WINDOW_BYTES,
            max_frame_bytes: None,
            max_header_list_bytes: None,
            send_compression: None,
            keepalive_interval: None,
            keepalive_timeout: crate::server::DEFAULT_KEEPALIVE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            default_timeout: None,
            interceptors: ClientChain::default(),
        }
    }
}

/// A live connection: the handle calls clone, and a flag its driver task sets on exit.
#[derive(Clone)]
struct Connection {
    send: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

struct Inner {
    scheme: Scheme,
    authority: Authority,
    /// Where connections go, and what opens them.
    target: Target,
    connector: Arc<dyn Connector>,
    config: Config,
    /// The current connection, if any; cloned (cheaply) by every call.
    conn: Mutex<Option<Connection>>,
    /// Serialises dialing so concurrent first calls share one connection.
    dialing: tokio::sync::Mutex<()>,
    /// The keepalive interval for the next connection: the configured one,
    /// doubled each time a server refused us for pinging too often (A8).
    keepalive_interval: Mutex<Option<Duration>>,
}

impl Inner {
    /// gRFC A8: the server said we ping too often; ping half as often from now on.
    fn back_off_keepalive(&self) {
        let mut interval = self
            .keepalive_interval
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(d) = interval.as_mut() {
            *d = d.saturating_mul(2);
            // A8: logged at a level that is on by default.
            tracing::warn!(
                target: "h2grpc::client",
                authority = %self.authority,
                keepalive_interval = ?*d,
                "server sent GOAWAY ENHANCE_YOUR_CALM (too many pings): keepalive interval doubled"
            );
        }
    }
}

/// Whether a connection ended because the server refused our pings (gRFC A8).
fn refused_for_pinging(e: &h2::Error) -> bool {
    e.is_go_away() && e.is_remote() && e.reason() == Some(h2::Reason::ENHANCE_YOUR_CALM)
}

/// A connection to one gRPC server; clone it freely.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("authority", &self.inner.authority)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Settings for a channel, then `connect` or `connect_lazy`.
pub struct ChannelBuilder {
    uri: String,
    config: Config,
    /// `None`: the default [`SocketConnector`].
    connector: Option<Arc<dyn Connector>>,
    tcp_keepalive: Option<Duration>,
    /// `:authority` in place of the target's.
    authority: Option<Authority>,
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::ClientTlsConfig>,
}

impl fmt::Debug for ChannelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBuilder")
            .field("uri", &self.uri)
            .field("config", &self.config)
            .field("custom_connector", &self.connector.is_some())
            .finish()
    }
}

impl ChannelBuilder {
    /// Largest message accepted (default 4 MiB). Over it the call fails with `RESOURCE_EXHAUSTED`.
    pub fn max_recv_message_size(mut self, bytes: usize) -> Self {
        self.config.max_recv_message_bytes = bytes;
        self
    }
    /// Largest message sent (default 4 GiB). Over it the call fails with `RESOURCE_EXHAUSTED`.
    pub fn max_send_message_size(mut self, bytes: usize) -> Self {
        self.config.max_send_message_bytes = bytes.min(u32::MAX as usize);
        self
    }
    /// Per-stream receive window (default 2 MiB).
    pub fn initial_stream_window_size(mut self, bytes: u32) -> Self {
        self.config.stream_window_bytes = bytes;
        self
    }
    /// Connection receive window (default 5 MiB).
    pub fn initial_connection_window_size(mut self, bytes: u32) -> Self {
        self.config.connection_window_bytes = bytes;
        self
    }
    /// HTTP/2 SETTINGS_MAX_FRAME_SIZE we accept (default 16 KiB).
    pub fn max_frame_size(mut self, bytes: u32) -> Self {
        self.config.max_frame_bytes = Some(bytes);
        self
    }
    /// HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE we accept.
    pub fn max_header_list_size(mut self, bytes: u32) -> Self {
        self.config.max_header_list_bytes = Some(bytes);
        self
    }
    /// Compresses every call's messages with `encoding` unless the call sets its own.
    pub fn send_compression(mut self, encoding: Encoding) -> Self {
        self.config.send_compression = Some(encoding);
        self
    }
    /// Pings the server this often; a ping unanswered within the keepalive
    /// timeout closes the connection and its calls fail with `UNAVAILABLE`
    /// (doc/keepalive.md). Servers refuse pings more often than they permit
    /// (5 min by default). Default: off.
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.config.keepalive_interval = Some(interval);
        self
    }
    /// How long a keepalive ping may go unanswered (default 20 s).
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.config.keepalive_timeout = timeout;
        self
    }
    /// Bounds each connection attempt, the transport's connect and the
    /// HTTP/2 handshake together (default 20 s). A server that cannot be
    /// reached fails the call with `UNAVAILABLE` within it.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }
    /// The timeout of every call that sets none of its own (default: none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.default_timeout = Some(timeout);
        self
    }
    /// TCP keepalive probes after this much idle time (`SO_KEEPALIVE`; the
    /// default connector only). HTTP/2 keepalive pings are
    /// [`keepalive_interval`](Self::keepalive_interval).
    pub fn tcp_keepalive(mut self, idle: Duration) -> Self {
        self.tcp_keepalive = Some(idle);
        self
    }
    /// Opens connections with `connector` instead of dialing the URI's
    /// address: an in-memory pipe ([`crate::transport::memory`]), a proxy,
    /// a tunnel. The URI still gives `:authority`.
    pub fn connector(mut self, connector: impl Connector) -> Self {
        self.connector = Some(Arc::new(connector));
        self
    }
    /// TLS settings (CAs, client certificate, server name). An `https://`
    /// URI without them trusts the platform's CA store.
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, tls: crate::transport::ClientTlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }
    /// Sends `authority` as every call's `:authority` instead of the
    /// URI's `host:port` (a virtual host behind a proxy; the interop
    /// clients' `--server_host_override`). `INVALID_ARGUMENT` if it is not
    /// a valid authority.
    pub fn authority(mut self, authority: &str) -> Result<Self, Status> {
        let parsed = Authority::try_from(authority).map_err(|e| {
            Status::invalid_argument(format!("invalid authority {authority:?}: {e}"))
        })?;
        self.authority = Some(parsed);
        Ok(self)
    }
    /// Adds an interceptor every call of the channel runs, in the order
    /// added (see [`crate::intercept`]).
    pub fn interceptor(mut self, interceptor: impl ClientInterceptor) -> Self {
        self.config.interceptors.push(interceptor);
        self
    }
    /// Connects now; fails with `UNAVAILABLE` if the server cannot be reached.
    pub async fn connect(self) -> Result<Channel, Status> {
        let channel = self.connect_lazy()?;
        channel.connection().await?;
        Ok(channel)
    }
    /// Returns at once; the first call dials.
    pub fn connect_lazy(self) -> Result<Channel, Status> {
        let target = Target::parse(&self.uri)?;
        // TLS settings on an http:// target still mean TLS: say https.
        #[cfg(feature = "tls")]
        let scheme = match (&target, self.tls.is_some()) {
            (Target::Tcp(_), true) => Scheme::HTTPS,
            _ => target.scheme(),
        };
        #[cfg(not(feature = "tls"))]
        let scheme = target.scheme();
        let connector = self.connector.unwrap_or_else(|| {
            Arc::new(SocketConnector {
                tcp_keepalive: self.tcp_keepalive,
            })
        });
        let connector = with_tls(connector, &target, {
            #[cfg(feature = "tls")]
            {
                self.tls
            }
            #[cfg(not(feature = "tls"))]
            {
                None::<()>
            }
        })?;
        Ok(Channel {
            inner: Arc::new(Inner {
                scheme,
                authority: self.authority.unwrap_or_else(|| target.authority()),
                target,
                connector,
                keepalive_interval: Mutex::new(self.config.keepalive_interval),
                config: self.config,
                conn: Mutex::new(None),
                dialing: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

/// TLS over `connector` when the URI is `https://` or TLS settings were given.
#[cfg(feature = "tls")]
fn with_tls(
    connector: Arc<dyn Connector>,
    target: &Target,
    tls: Option<crate::transport::ClientTlsConfig>,
) -> Result<Arc<dyn Connector>, Status> {
    let bad = |e: std::io::Error| Status::invalid_argument(format!("TLS settings: {e}"));
    let tls = match tls {
        Some(tls) => tls,
        None if target.is_tls() => crate::transport::ClientTlsConfig::new()
            .native_roots()
            .map_err(bad)?,
        None => return Ok(connector),
    };
    Ok(Arc::new(tls.connector(connector, target).map_err(bad)?))
}

#[cfg(not(feature = "tls"))]
fn with_tls(
    connector: Arc<dyn Connector>,
    target: &Target,
    _tls: Option<()>,
) -> Result<Arc<dyn Connector>, Status> {
    if target.is_tls() {
        return Err(Status::invalid_argument(
            "https:// needs h2grpc's `tls` feature",
        ));
    }
    Ok(connector)
}

impl Channel {
    /// Connects to `uri` (e.g. `"http://127.0.0.1:50051"`) with default settings.
    pub async fn connect(uri: &str) -> Result<Channel, Status> {
        Channel::builder(uri).connect().await
    }

    /// A channel that dials on its first call.
    pub fn connect_lazy(uri: &str) -> Result<Channel, Status> {
        Channel::builder(uri).connect_lazy()
    }

    /// A builder for non-default settings.
    pub fn builder(uri: &str) -> ChannelBuilder {
        ChannelBuilder {
            uri: uri.to_owned(),
            config: Config::default(),
            connector: None,
            tcp_keepalive: None,
            authority: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    fn live(&self) -> Option<SendRequest<Bytes>> {
        let guard = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(c) if !c.closed.load(Ordering::Acquire) => Some(c.send.clone()),
            _ => None,
        }
    }

    /// A handle on the live connection, dialing if there is none.
    async fn connection(&self) -> Result<SendRequest<Bytes>, Status> {
        if let Some(send) = self.live() {
            return Ok(send);
        }
        let _dialing = self.inner.dialing.lock().await;
        if let Some(send) = self.live() {
            return Ok(send);
        }
        let conn = self.dial().await?;
        let send = conn.send.clone();
        *self.inner.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
        Ok(send)
    }

    /// Forgets the current connection (it failed), so the next call dials.
    fn discard(&self) {
        let mut guard = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = guard.as_ref() {
            c.closed.store(true, Ordering::Release);
        }
        *guard = None;
    }

    async fn dial(&self) -> Result<Connection, Status> {
        let config = &self.inner.config;
        let target = &self.inner.target;
        let unavailable =
            |e: &dyn fmt::Display| Status::unavailable(format!("cannot connect to {target}: {e}"));
        // One budget for the transport's connect and the HTTP/2 handshake.
        let deadline = tokio::time::Instant::now() + config.connect_timeout;
        let socket = tokio::time::timeout_at(deadline, self.inner.connector.connect(target));
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
        let interval = *self
            .inner
            .keepalive_interval
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let pinger = match (interval, ping_pong) {
            (Some(interval), Some(ping_pong)) => Some(AbortOnDrop(tokio::spawn(
                crate::server::ping_loop(ping_pong, interval, config.keepalive_timeout, dead_tx),
            ))),
            _ => None,
        };
        // Weak: this task must not keep a dropped channel (and so its connection) alive.
        let channel = Arc::downgrade(&self.inner);
        let pinging = pinger.is_some();
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    tracing::debug!(target: "h2grpc::client", error = %e, "connection ended");
                    if pinging
                        && refused_for_pinging(&e)
                        && let Some(inner) = Weak::upgrade(&channel)
                    {
                        inner.back_off_keepalive();
                    }
                },
                // No PING ACK in time: drop the connection, failing its calls.
                Ok(()) = dead => tracing::debug!(target: "h2grpc::client", "keepalive timeout: connection closed"),
            }
            flag.store(true, Ordering::Release);
            drop(pinger);
        });
        Ok(Connection { send, closed })
    }
}
