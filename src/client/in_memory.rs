//! `Channel::in_memory`: a channel to a server in this same process, with no
//! socket, in one line. For tests of a service through its generated client,
//! and for embedding.
//!
//! Layer: a convenience over [`transport::memory`](crate::transport::memory)
//! (an in-memory listener and connector) and the server's `serve_on`:
//!
//! ```text
//!  Channel ── MemoryConnector ══ tokio::io::duplex ══ MemoryListener ── Server (its own task)
//!     └── holds the server's stop signal: the last clone dropped shuts the server down
//! ```

use std::fmt;

use tokio::sync::oneshot;

use super::Channel;
use crate::server;
use crate::transport::{self, ConnectFuture, Connector, MemoryConnector, Target};

/// The authority in-memory calls carry in `:authority` (no one resolves it).
const IN_MEMORY_URI: &str = "http://in-memory:1";

/// The memory connector, plus the sender whose drop stops the server.
struct InMemory {
    connector: MemoryConnector,
    /// Never sent on: dropping it (with the channel) ends `serve_on`.
    _stop: oneshot::Sender<()>,
}

impl fmt::Debug for InMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemory").finish_non_exhaustive()
    }
}

impl Connector for InMemory {
    fn connect<'a>(&'a self, target: &'a Target) -> ConnectFuture<'a> {
        self.connector.connect(target)
    }
}

impl Channel {
    /// Serves `server` in this process and returns a channel to it, with no
    /// socket: calls go through an in-memory pipe, as HTTP/2 all the same
    /// (metadata, deadlines, compression, status all behave as over TCP).
    ///
    /// The server runs on a task of its own on the current tokio runtime
    /// (so this panics outside one, as `tokio::spawn` does) until the
    /// channel and every clone of it are dropped; then it shuts down
    /// gracefully.
    ///
    /// ```no_run
    /// # async fn demo(service: impl h2grpc::server::Service) {
    /// use h2grpc::{client::Channel, server::Server};
    ///
    /// let channel = Channel::in_memory(Server::builder().add_service(service));
    /// # let _ = channel;
    /// # }
    /// ```
    pub fn in_memory(server: server::Builder) -> Channel {
        let (listener, connector) = transport::memory();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.serve_on(listener, async {
            // Err: the sender is gone, with the last clone of the channel.
            let _ = stopped.await;
        }));
        let connector = InMemory {
            connector,
            _stop: stop,
        };
        Channel::builder(IN_MEMORY_URI)
            .connector(connector)
            .connect_lazy()
            .expect("a constant http:// URI with a port always parses")
    }
}
