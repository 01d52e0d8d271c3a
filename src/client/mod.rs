//! The client: a `Channel` to one server or several, multiplexing calls over
//! HTTP/2 connections.
//!
//! Layer: h2 glue. A `Channel` is an `Arc` around its state, so clones are
//! cheap and share the connections. Its parts, top down:
//!
//! ```text
//!  Channel ─ one call ─▶ method config (service_config.rs: timeout, waitForReady, retryPolicy)
//!     │                  retry loop   (retry.rs: gRFC A6 attempts, throttle, pushback;
//!     │                                transparent retry of calls a GOAWAY refused unseen;
//!     │                                retry_stream.rs: streaming calls, replay buffer)
//!     │                  the four patterns (call.rs, handle.rs)
//!     ├─ Single(Subchannel)            one target: its connection, taken directly
//!     └─ Balanced(Balancer)            a name (doc/naming.md) resolved to many subchannels,
//!                                      picked per call (doc/load-balancing.md)
//!  Subchannel (subchannel.rs)          dial, discard, keepalive back-off, reconnect back-off
//!                                      (doc/connection-backoff.md)
//! ```
//!
//! A connection is made with HTTP/2 prior knowledge (h2c, RFC 9113 §3.3) or
//! TLS, its frames are driven by a task of its own, and each call takes a
//! clone of `h2`'s `SendRequest` handle. When a connection dies the next call
//! dials again; calls that were on it fail with `UNAVAILABLE`
//! (PROTOCOL-HTTP2.md "Connection Management"), unless a retry policy retries them.

mod backoff;
mod balancer;
mod builder;
mod call;
mod handle;
mod in_memory;
mod intercept;
mod retry;
mod retry_stream;
mod service_config;
mod subchannel;

pub use crate::wire::path::MethodPath;
pub use backoff::{BACKOFF_JITTER, BACKOFF_MULTIPLIER, INITIAL_BACKOFF, MAX_BACKOFF};
pub use balancer::{DNS_REFRESH_INTERVAL, MIN_RERESOLVE_INTERVAL};
pub use builder::ChannelBuilder;
pub use handle::{ClientStreamingCall, RequestSink, StreamingCall};
pub use retry::PUSHBACK_HEADER;
pub use retry_stream::{CHANNEL_RETRY_BUFFER_BYTES, PER_RPC_RETRY_BUFFER_BYTES};
pub use service_config::{
    LbPolicy, MAX_ATTEMPTS_CAP, MethodConfig, RetryPolicy, RetryThrottling, ServiceConfig,
};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::uri::{Authority, Scheme};

use crate::intercept::ClientChain;
use crate::wire::compression::Encoding;
use crate::wire::frame::DEFAULT_MAX_RECV_BYTES;
use crate::wire::status::Status;
use balancer::Balancer;
use retry::Throttle;
use service_config::MethodTable;
use subchannel::Subchannel;

/// Per-stream receive window: 2 MiB, as tonic's client, so a fast server
/// stream is not throttled to 64 KiB per round trip.
pub const DEFAULT_STREAM_WINDOW_BYTES: u32 = 2 * 1024 * 1024;

/// Connection receive window: 5 MiB, as tonic's client.
pub const DEFAULT_CONNECTION_WINDOW_BYTES: u32 = 5 * 1024 * 1024;

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

/// What a channel dials.
#[derive(Debug)]
enum Endpoints {
    /// One target: every call takes this subchannel's connection.
    Single(Arc<Subchannel>),
    /// Several: resolved and picked per call.
    Balanced(Arc<Balancer>),
}

/// The subchannel a call's attempt runs on: borrowed from a one-target
/// channel (no reference count touched), owned when a balancer picked it.
enum Picked<'a> {
    Single(&'a Subchannel),
    Balanced(Arc<Subchannel>),
}

impl std::ops::Deref for Picked<'_> {
    type Target = Subchannel;
    fn deref(&self) -> &Subchannel {
        match self {
            Picked::Single(sub) => sub,
            Picked::Balanced(sub) => sub,
        }
    }
}

struct Inner {
    scheme: Scheme,
    authority: Authority,
    config: Arc<Config>,
    endpoints: Endpoints,
    /// The service config's method configs; `None` when it has none, so
    /// calls skip the look-up.
    methods: Option<MethodTable>,
    /// gRFC A6 retry throttling, shared by every call of the channel.
    throttle: Option<Throttle>,
    /// gRFC A6: the request bytes all retried streaming calls keep for replay.
    retry_buffers: retry_stream::RetryBuffers,
}

/// A channel to one gRPC server or several; clone it freely.
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("authority", &self.inner.authority)
            .field("endpoints", &self.inner.endpoints)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Connects one endpoint now (the first a pick would take).
    async fn connection(&self) -> Result<(), Status> {
        self.pick(false).await.map(drop)
    }

    /// A subchannel and its live connection for one attempt. Fail fast: an
    /// unreachable server is `UNAVAILABLE` at once. `wait_for_ready`: dial
    /// again on the back-off schedule until one connects (the call's
    /// deadline bounds the wait).
    async fn pick(&self, wait_for_ready: bool) -> Result<(Picked<'_>, SendRequest<Bytes>), Status> {
        match &self.inner.endpoints {
            Endpoints::Single(sub) => loop {
                match sub.connect().await {
                    Ok(send) => return Ok((Picked::Single(sub), send)),
                    Err(status) if !wait_for_ready => return Err(status),
                    Err(_) => {
                        let now = tokio::time::Instant::now();
                        let wake = sub.backing_off(now).map_or(now, |(at, _)| at);
                        tokio::time::sleep_until(wake).await;
                    }
                }
            },
            Endpoints::Balanced(balancer) => {
                let (sub, send) = balancer.pick(wait_for_ready).await?;
                Ok((Picked::Balanced(sub), send))
            }
        }
    }

    /// The targets a balanced channel currently balances over, in order
    /// (empty before its first call resolved the name); the one target of a
    /// plain channel.
    pub fn endpoints(&self) -> Vec<crate::transport::Target> {
        match &self.inner.endpoints {
            Endpoints::Single(sub) => vec![sub.target().clone()],
            Endpoints::Balanced(balancer) => balancer.targets(),
        }
    }
}
