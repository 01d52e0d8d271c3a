//! The client's seam: a [`Connector`] turns a [`Target`] into a byte stream.
//!
//! The default, [`SocketConnector`], dials TCP (`TCP_NODELAY` on: gRPC
//! messages are small and latency-bound, Nagle would hold them back) or a
//! Unix domain socket. An application supplies its own connector for
//! anything else: an in-memory pipe ([`super::memory`]), a proxy, a tunnel.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::Target;

/// A connected byte stream HTTP/2 can run over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A connection of any transport, as the channel holds it.
pub type BoxedIo = Box<dyn Io>;

/// What [`Connector::connect`] returns.
pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<BoxedIo>> + Send + 'a>>;

/// Opens connections for a channel. The channel bounds each attempt with
/// its connect timeout and speaks HTTP/2 over what this returns.
pub trait Connector: Send + Sync + 'static {
    /// Connects to `target`.
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a>;
}

/// The default connector: TCP or a Unix domain socket, as the target says.
#[derive(Clone, Debug, Default)]
pub struct SocketConnector {
    /// TCP keepalive probes after this much idle time (`SO_KEEPALIVE`);
    /// `None` leaves the system default (off).
    pub tcp_keepalive: Option<Duration>,
}

impl Connector for SocketConnector {
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a> {
        Box::pin(async move {
            match target {
                // TLS, if any, is a layer above (`TlsConnector`).
                Target::Tcp(authority) | Target::TcpTls(authority) => {
                    let socket = tokio::net::TcpStream::connect(authority.as_str()).await?;
                    socket.set_nodelay(true)?;
                    if let Some(idle) = self.tcp_keepalive {
                        let keepalive = socket2::TcpKeepalive::new().with_time(idle);
                        socket2::SockRef::from(&socket).set_tcp_keepalive(&keepalive)?;
                    }
                    Ok(Box::new(socket) as BoxedIo)
                }
                #[cfg(unix)]
                Target::Unix(path) => {
                    let socket = tokio::net::UnixStream::connect(path).await?;
                    Ok(Box::new(socket) as BoxedIo)
                }
                #[cfg(not(unix))]
                Target::Unix(_) => Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "Unix domain sockets are not supported on this platform",
                )),
            }
        })
    }
}
