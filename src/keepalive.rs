//! Keepalive pinging, shared by both ends (grpc/grpc doc/keepalive.md).
//!
//! Layer: h2 glue. Every `keepalive_interval` a PING goes out; no ACK within
//! `keepalive_timeout` means the peer or the path is dead, and the owner of
//! the connection closes it, failing its calls with `UNAVAILABLE`. The server
//! runs this per connection (`server::connection`), the client per
//! subchannel connection (`client::subchannel`). What a server does about a
//! client that pings too often is the server's own (`server::keepalive`).

use std::time::Duration;

/// Sends a PING every `interval`; if one is not acknowledged within `timeout`,
/// reports the connection dead through `dead` and stops. Used by both ends.
pub(crate) async fn ping_loop(
    mut ping_pong: h2::PingPong,
    interval: Duration,
    timeout: Duration,
    dead: tokio::sync::oneshot::Sender<()>,
) {
    loop {
        tokio::time::sleep(interval).await;
        match tokio::time::timeout(timeout, ping_pong.ping(h2::Ping::opaque())).await {
            Ok(Ok(_pong)) => {}
            // An h2 error means the connection is already gone; a timeout means it should be.
            Ok(Err(_)) | Err(_) => {
                let _ = dead.send(());
                return;
            }
        }
    }
}
