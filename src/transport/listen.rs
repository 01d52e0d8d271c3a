//! The server's seam: a [`Listener`] accepts connections, and each one is
//! [`Connecting`] until it is established on the runtime that will serve it.
//!
//! Two steps, because a socket belongs to the runtime that registered it:
//! the accept loop hands out a connection not yet registered anywhere, and
//! the connection's own task (on a connection thread, or wherever the
//! server runs) registers it and runs any handshake (TLS) there, off the
//! accept loop, so a slow handshake holds up no one else.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Context;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Peer;

/// A source of connections for the server.
pub trait Listener: Send + 'static {
    /// An accepted connection, not yet established.
    type Conn: Connecting;
    /// The next connection and who is on its other end. An `Err` is one
    /// failed accept (logged, and the server goes on).
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Conn, Peer)>> + Send;
}

/// An accepted connection on its way to carrying HTTP/2.
pub trait Connecting: Send + 'static {
    /// The established byte stream.
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    /// Runs on the connection's own task: registers the socket with that
    /// runtime and does any handshake, adding what it learned to `peer`.
    /// The server bounds it with its handshake timeout.
    fn establish(self, peer: Peer) -> impl Future<Output = io::Result<(Self::Io, Peer)>> + Send;
}

/// An accepted TCP connection, free to move to another runtime.
#[derive(Debug)]
pub struct TcpConnecting(std::net::TcpStream);

impl Listener for tokio::net::TcpListener {
    type Conn = TcpConnecting;
    async fn accept(&mut self) -> io::Result<(TcpConnecting, Peer)> {
        let (socket, addr) = tokio::net::TcpListener::accept(self).await?;
        // Deregistered here, registered again by `establish` wherever the
        // connection is served (tokio's `into_std` leaves it non-blocking).
        Ok((TcpConnecting(socket.into_std()?), Peer::tcp(addr)))
    }
}

impl Connecting for TcpConnecting {
    type Io = tokio::net::TcpStream;
    async fn establish(self, peer: Peer) -> io::Result<(tokio::net::TcpStream, Peer)> {
        let socket = tokio::net::TcpStream::from_std(self.0)?;
        // gRPC messages are small and latency-bound: never wait for Nagle.
        socket.set_nodelay(true)?;
        Ok((socket, peer))
    }
}

/// An accepted Unix domain socket connection, free to move to another runtime.
#[cfg(unix)]
#[derive(Debug)]
pub struct UnixConnecting(std::os::unix::net::UnixStream);

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Conn = UnixConnecting;
    async fn accept(&mut self) -> io::Result<(UnixConnecting, Peer)> {
        let (socket, addr) = tokio::net::UnixListener::accept(self).await?;
        let path = addr.as_pathname().map(std::path::Path::to_path_buf);
        let peer = Peer::new(super::PeerAddr::Unix(path));
        Ok((UnixConnecting(socket.into_std()?), peer))
    }
}

#[cfg(unix)]
impl Connecting for UnixConnecting {
    type Io = tokio::net::UnixStream;
    async fn establish(self, peer: Peer) -> io::Result<(tokio::net::UnixStream, Peer)> {
        Ok((tokio::net::UnixStream::from_std(self.0)?, peer))
    }
}

/// Binds a Unix domain socket at `path`. A socket file left there by a
/// process that is gone is removed first; one something still listens on
/// is not (`AddrInUse`).
#[cfg(unix)]
pub fn bind_unix(path: impl AsRef<std::path::Path>) -> io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    let path = path.as_ref();
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use: a server listens on it", path.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)?,
            Err(e) => return Err(e),
        }
    }
    tokio::net::UnixListener::bind(path)
}

/// Serves connections the application accepted itself: any stream of
/// established byte streams and their peers (`tokio::io::duplex` halves, a
/// TLS acceptor's output, a socket from systemd). They are served where
/// they are: such a stream is already bound to its runtime.
#[derive(Debug)]
pub struct Incoming<S>(pub S);

/// A connection that needs no establishing.
#[derive(Debug)]
pub struct Established<T>(T);

impl<S, T> Listener for Incoming<S>
where
    S: Stream<Item = io::Result<(T, Peer)>> + Send + Unpin + 'static,
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Conn = Established<T>;
    async fn accept(&mut self) -> io::Result<(Established<T>, Peer)> {
        match std::future::poll_fn(|cx: &mut Context<'_>| Pin::new(&mut self.0).poll_next(cx)).await
        {
            Some(accepted) => accepted.map(|(io, peer)| (Established(io), peer)),
            // No more connections will come: accept nothing more, and let the
            // server end on its shutdown signal.
            None => std::future::pending().await,
        }
    }
}

impl<T> Connecting for Established<T>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Io = T;
    fn establish(self, peer: Peer) -> impl Future<Output = io::Result<(T, Peer)>> + Send {
        std::future::ready(Ok((self.0, peer)))
    }
}
