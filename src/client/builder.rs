//! `ChannelBuilder`: a channel's settings, its target or targets, and its
//! service config, turned into a [`Channel`] by `connect` or `connect_lazy`.
//!
//! Layer: configuration. The URI is read as grpc's `doc/naming.md` says (see
//! [`Name`]): one target makes a channel with one subchannel and no
//! balancer; a `dns:`, `ipv4:` or `ipv6:` name, or a list given to
//! [`Channel::balance_list`], makes one that balances (`balancer.rs`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};

use super::balancer::{Balancer, Resolver, target_of};
use super::retry::Throttle;
use super::service_config::{LbPolicy, MethodTable, ServiceConfig};
use super::subchannel::Subchannel;
use super::{Channel, Config, Endpoints, Inner};
use crate::intercept::ClientInterceptor;
use crate::transport::{Connector, Name, SocketConnector, Target};
use crate::wire::compression::Encoding;
use crate::wire::status::Status;

impl Channel {
    /// Connects to `uri` (e.g. `"http://127.0.0.1:50051"`, `"dns:///localhost:50051"`)
    /// with default settings.
    pub async fn connect(uri: &str) -> Result<Channel, Status> {
        Channel::builder(uri).connect().await
    }

    /// A channel that dials on its first call.
    pub fn connect_lazy(uri: &str) -> Result<Channel, Status> {
        Channel::builder(uri).connect_lazy()
    }

    /// A builder for non-default settings.
    pub fn builder(uri: &str) -> ChannelBuilder {
        Channel::builder_of(vec![uri.to_owned()])
    }

    /// A builder for a channel that balances over these target URIs
    /// (`http://`, `https://`, `unix:`), pick_first unless
    /// [`lb_policy`](ChannelBuilder::lb_policy) or the service config says otherwise.
    pub fn balance_list<I, S>(uris: I) -> ChannelBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let uris: Vec<String> = uris.into_iter().map(|u| u.as_ref().to_owned()).collect();
        let mut builder = Channel::builder_of(uris);
        builder.balanced = true;
        builder
    }

    fn builder_of(uris: Vec<String>) -> ChannelBuilder {
        ChannelBuilder {
            uris,
            config: Config::default(),
            service_config: None,
            lb_policy: None,
            balanced: false,
            connector: None,
            tcp_keepalive: None,
            authority: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Settings for a channel, then `connect` or `connect_lazy`.
pub struct ChannelBuilder {
    /// The URI, or several target URIs for [`Channel::balance_list`].
    uris: Vec<String>,
    config: Config,
    /// In code, or read from JSON (an error is reported at `connect_lazy`).
    service_config: Option<Result<ServiceConfig, Status>>,
    /// The policy set in code; it wins over the service config's.
    lb_policy: Option<LbPolicy>,
    /// From [`Channel::balance_list`]: the URIs are a list of targets.
    balanced: bool,
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
            .field("uris", &self.uris)
            .field("service_config", &self.service_config)
            .field("lb_policy", &self.lb_policy)
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
    /// How calls are spread over several endpoints (a `dns:`, `ipv4:` or
    /// `ipv6:` URI, or [`Channel::balance_list`]); default pick_first, or the
    /// service config's.
    pub fn lb_policy(mut self, policy: LbPolicy) -> Self {
        self.lb_policy = Some(policy);
        self
    }
    /// Per-method timeouts, `waitForReady` and retry policies, the retry
    /// throttle and the load-balancing policy (see [`ServiceConfig`]).
    pub fn service_config(mut self, config: ServiceConfig) -> Self {
        self.service_config = Some(Ok(config));
        self
    }
    /// The service config in grpc's JSON form (`doc/service_config.md`); a
    /// config that does not parse fails `connect_lazy` / `connect` with
    /// `INVALID_ARGUMENT` naming the field.
    #[cfg(feature = "service-config")]
    pub fn service_config_json(mut self, json: &str) -> Self {
        self.service_config = Some(ServiceConfig::from_json(json));
        self
    }
    /// Returns at once; the first call dials (and resolves a `dns:` name).
    pub fn connect_lazy(self) -> Result<Channel, Status> {
        let service_config = self.service_config.transpose()?.unwrap_or_default();
        let names = self
            .uris
            .iter()
            .map(|uri| Name::parse(uri))
            .collect::<Result<Vec<_>, _>>()?;
        #[cfg(feature = "tls")]
        let tls_set = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls_set = false;
        // What the channel dials: one target, or a resolver over several.
        let (first, resolver) = match names.as_slice() {
            [] => return Err(Status::invalid_argument("no server uri")),
            [Name::Target(target)] if !self.balanced => (target.clone(), None),
            [Name::Dns { host, port }] if !self.balanced => {
                let authority = Authority::try_from(format!("{host}:{port}"))
                    .or_else(|_| Authority::try_from(format!("[{host}]:{port}")))
                    .map_err(|e| Status::invalid_argument(format!("dns name {host:?}: {e}")))?;
                let target = if tls_set {
                    Target::TcpTls(authority)
                } else {
                    Target::Tcp(authority)
                };
                let resolver = Resolver::Dns {
                    host: host.clone(),
                    port: *port,
                    tls: tls_set,
                };
                (target, Some(resolver))
            }
            [Name::Addresses(addrs)] if !self.balanced => {
                let targets = addrs
                    .iter()
                    .map(|a| target_of(*a, tls_set))
                    .collect::<Result<Vec<_>, _>>()?;
                (targets[0].clone(), Some(Resolver::Fixed(targets)))
            }
            several => {
                let targets = several
                    .iter()
                    .map(|name| match name {
                        Name::Target(t) => Ok(t.clone()),
                        _ => Err(Status::invalid_argument(
                            "a balance list holds targets (http://, https://, unix:), not names",
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (targets[0].clone(), Some(Resolver::Fixed(targets)))
            }
        };
        // TLS settings on an http:// target still mean TLS: say https.
        let scheme = match (&first, tls_set) {
            (Target::Tcp(_), true) => Scheme::HTTPS,
            _ => first.scheme(),
        };
        let connector = self.connector.unwrap_or_else(|| {
            Arc::new(SocketConnector {
                tcp_keepalive: self.tcp_keepalive,
            })
        });
        let connector = with_tls(connector, &first, {
            #[cfg(feature = "tls")]
            {
                self.tls
            }
            #[cfg(not(feature = "tls"))]
            {
                None::<()>
            }
        })?;
        let config = Arc::new(self.config);
        let endpoints = match resolver {
            None => Endpoints::Single(Arc::new(Subchannel::new(
                first.clone(),
                connector,
                config.clone(),
            ))),
            Some(resolver) => {
                let policy = self
                    .lb_policy
                    .or(service_config.lb_policy)
                    .unwrap_or_default();
                Endpoints::Balanced(Arc::new(Balancer::new(
                    policy,
                    resolver,
                    connector,
                    config.clone(),
                )))
            }
        };
        let methods = MethodTable::new(&service_config);
        Ok(Channel {
            inner: Arc::new(Inner {
                scheme,
                authority: self.authority.unwrap_or_else(|| first.authority()),
                config,
                endpoints,
                methods: (!methods.is_empty()).then_some(methods),
                throttle: service_config.throttling.map(Throttle::new),
                retry_buffers: Default::default(),
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
