//! Transports: the byte streams HTTP/2 runs over, behind one seam per side.
//!
//! Layer: I/O, below the h2 glue. gRPC does not care what carries its
//! HTTP/2 connection (PROTOCOL-HTTP2.md: "This document serves as a
//! detailed description for an implementation of gRPC carried over HTTP2";
//! grpc's `doc/naming.md` names the targets): TCP, a Unix domain socket, an
//! in-memory pipe, any of them under TLS. Each side has one seam:
//!
//! ```text
//!  server   Listener::accept() ─▶ (Connecting, Peer) ─▶ establish() on the connection's runtime
//!                                                        (register the socket, TLS handshake)
//!                                                     ─▶ AsyncRead + AsyncWrite ─▶ h2 server
//!  client   Connector::connect(&Target) ─▶ BoxedIo ─▶ h2 client
//! ```
//!
//! The call code above never learns which transport it runs on: a handler
//! sees the [`Peer`] on its `Request`.

mod connect;
mod frame_tap;
mod listen;
mod memory;
mod target;
#[cfg(feature = "tls")]
mod tls;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use connect::{BoxedIo, ConnectFuture, Connector, Io, SocketConnector};
pub(crate) use frame_tap::{FrameTap, client_tap};
pub use listen::{Connecting, Incoming, Listener, TcpConnecting};
pub use memory::{MemoryConnector, MemoryListener, memory};
pub use target::{DEFAULT_NAME_PORT, Name, Target};
#[cfg(feature = "tls")]
pub use tls::{
    ClientTlsConfig, ServerTlsConfig, TlsAcceptor, TlsConnecting, TlsConnector, TlsListener,
};

/// The certificate type of [`Peer::tls_certs`] (rustls' DER certificate).
#[cfg(feature = "tls")]
pub use rustls::pki_types::CertificateDer;

#[cfg(unix)]
pub use listen::{UnixConnecting, bind_unix};

/// Who is on the other end of a connection: what a handler can learn about
/// its caller. Cheap to clone (shared by every call of one connection).
#[derive(Clone)]
pub struct Peer(Arc<PeerInner>);

struct PeerInner {
    addr: PeerAddr,
    /// The client's verified certificate chain (leaf first), under mTLS;
    /// `Some(empty)` for TLS without a client certificate.
    #[cfg(feature = "tls")]
    tls_certs: Option<Vec<CertificateDer<'static>>>,
}

/// Where a peer is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAddr {
    /// A TCP peer's address.
    Tcp(SocketAddr),
    /// A Unix domain socket peer; its path, if its socket is bound to one
    /// (a client's usually is not).
    Unix(Option<PathBuf>),
    /// An in-memory connection in this process.
    Memory,
    /// A transport the application supplied, described in its own words.
    Other(String),
}

impl Peer {
    /// A peer at `addr`.
    pub fn new(addr: PeerAddr) -> Peer {
        Peer(Arc::new(PeerInner {
            addr,
            #[cfg(feature = "tls")]
            tls_certs: None,
        }))
    }

    /// The same peer, reached over TLS, with its verified certificates.
    #[cfg(feature = "tls")]
    pub fn with_tls_certs(&self, certs: Vec<CertificateDer<'static>>) -> Peer {
        Peer(Arc::new(PeerInner {
            addr: self.0.addr.clone(),
            tls_certs: Some(certs),
        }))
    }

    /// Over TLS: the peer's verified certificate chain, leaf first (empty
    /// when it presented none). `None` without TLS.
    #[cfg(feature = "tls")]
    pub fn tls_certs(&self) -> Option<&[CertificateDer<'static>]> {
        self.0.tls_certs.as_deref()
    }

    /// A TCP peer.
    pub fn tcp(addr: SocketAddr) -> Peer {
        Peer::new(PeerAddr::Tcp(addr))
    }

    /// Where the peer is.
    pub fn addr(&self) -> &PeerAddr {
        &self.0.addr
    }

    /// The peer's socket address, for a TCP peer.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.0.addr {
            PeerAddr::Tcp(addr) => Some(addr),
            _ => None,
        }
    }

    /// The peer's socket path, for a Unix domain socket bound to one.
    pub fn unix_path(&self) -> Option<&Path> {
        match &self.0.addr {
            PeerAddr::Unix(path) => path.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.addr {
            PeerAddr::Tcp(addr) => write!(f, "{addr}"),
            PeerAddr::Unix(Some(path)) => write!(f, "unix:{}", path.display()),
            PeerAddr::Unix(None) => f.write_str("unix:(unnamed)"),
            PeerAddr::Memory => f.write_str("memory"),
            PeerAddr::Other(what) => f.write_str(what),
        }
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Peer").field(&self.0.addr).finish()
    }
}
