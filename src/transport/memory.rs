//! In-memory connections: a server and its clients in one process, no
//! socket at all (`tokio::io::duplex`). For tests of a service through its
//! generated client, and for embedding.
//!
//! ```no_run
//! # async fn demo(service: impl h2grpc::server::Service) -> Result<(), h2grpc::Status> {
//! let (listener, connector) = h2grpc::transport::memory();
//! tokio::spawn(
//!     h2grpc::server::Server::builder()
//!         .add_service(service)
//!         .serve_on(listener, std::future::pending()),
//! );
//! // Any authority: it only fills `:authority`.
//! let channel = h2grpc::client::Channel::builder("http://in-memory:1")
//!     .connector(connector)
//!     .connect()
//!     .await?;
//! # let _ = channel;
//! # Ok(())
//! # }
//! ```

use std::io;

use tokio::io::DuplexStream;
use tokio::sync::mpsc;

use super::connect::{BoxedIo, ConnectFuture, Connector};
use super::listen::{Connecting, Listener};
use super::{Peer, PeerAddr, Target};

/// Bytes in flight each way on one in-memory connection before a writer
/// waits (HTTP/2 flow control bounds a stream far below this anyway).
const PIPE_BYTES: usize = 256 * 1024;

/// Connections waiting for the server to accept them.
const BACKLOG: usize = 64;

/// A listener and a connector joined in memory: every `connect` on the
/// connector (or a clone of it) is one connection accepted by the listener.
pub fn memory() -> (MemoryListener, MemoryConnector) {
    let (tx, rx) = mpsc::channel(BACKLOG);
    (MemoryListener { rx }, MemoryConnector { tx })
}

/// The server's end of [`memory`].
#[derive(Debug)]
pub struct MemoryListener {
    rx: mpsc::Receiver<DuplexStream>,
}

/// The client's end of [`memory`]: pass it to `ChannelBuilder::connector`.
#[derive(Clone, Debug)]
pub struct MemoryConnector {
    tx: mpsc::Sender<DuplexStream>,
}

/// An accepted in-memory connection.
#[derive(Debug)]
pub struct MemoryConnecting(DuplexStream);

impl Listener for MemoryListener {
    type Conn = MemoryConnecting;
    async fn accept(&mut self) -> io::Result<(MemoryConnecting, Peer)> {
        match self.rx.recv().await {
            Some(pipe) => Ok((MemoryConnecting(pipe), Peer::new(PeerAddr::Memory))),
            // Every connector is gone: nothing more will come.
            None => std::future::pending().await,
        }
    }
}

impl Connecting for MemoryConnecting {
    type Io = DuplexStream;
    // Not tied to any runtime: nothing to register.
    async fn establish(self, peer: Peer) -> io::Result<(DuplexStream, Peer)> {
        Ok((self.0, peer))
    }
}

impl Connector for MemoryConnector {
    fn connect<'a>(&'a self, _target: &'a Target) -> ConnectFuture<'a> {
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(PIPE_BYTES);
            self.tx.send(server).await.map_err(|_| {
                io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "the in-memory server is gone",
                )
            })?;
            Ok(Box::new(client) as BoxedIo)
        })
    }
}
