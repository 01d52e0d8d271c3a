//! Issue 15: tonic 0.14's generated client against our `order-server`, its streaming
//! requests fed from a channel *after* the call has returned:
//!
//! ```rust,ignore
//! let (tx, rx) = tokio::sync::mpsc::channel(16);
//! let mut replies = client.process_orders(ReceiverStream::new(rx)).await?.into_inner();
//! tx.send("102".into()).await?;
//! ```
//!
//! tonic's `.await` there returns once the response head arrives. A server that sends its
//! head only with its first response message, while the processOrders handler first
//! waits for a request, never gets one: both sides wait forever. The peer,
//! tests/peers/tonic-client (built on first use, tests/common/tonic.rs), bounds every wait
//! with 10 s and reports `PASS name` / `FAIL name: reason` per check, then
//! `N passed, M failed`:
//!
//! - `bidi_ready_stream`: processOrders with every id ready up front (`tokio_stream::iter`),
//!   the control: tonic streams a ready body while it waits for the head.
//! - `bidi_channel_fed`: the snippet above, ids 102..106 one by one, then every shipment.
//! - `bidi_channel_fed_ping_pong`: 3 ids, that batch's shipments, 3 more ids, theirs, then
//!   half-close and a clean end: shipments must flow while the request side is open.
//! - `client_streaming_channel_fed`: updateOrders on a task of its own, two updates sent
//!   one by one from the channel, the reply text, and getOrder showing both.

mod common;

use std::process::Command;
use std::time::Duration;

use common::python;
use common::tonic::tonic_channel_client;

const ORDER_SERVER: &str = env!("CARGO_BIN_EXE_order-server");
/// The checks tonic-channel-client runs; all must pass.
const CHECKS: usize = 4;
/// Each wait in a check is bounded by 10 s and each check by 60 s (plus a 10 s connect);
/// this only bounds a wedged run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn tonic_channel_fed_client_against_our_order_server() {
    tonic_client_checks(&[]);
}

/// The same checks with the server's connections on threads of their own.
#[test]
fn tonic_channel_fed_client_against_our_order_server_on_connection_threads() {
    tonic_client_checks(&["--connection-threads", "2"]);
}

fn tonic_client_checks(server_args: &[&str]) {
    // Build (or find up to date) before the server starts, so its clock is not running.
    let client = tonic_channel_client();
    let mut server_cmd = Command::new(ORDER_SERVER);
    server_cmd.args(["--addr", "127.0.0.1:0"]).args(server_args);
    let (mut server, addr) = python::spawn_server("order-server", server_cmd);

    let mut check = Command::new(&client);
    check.args(["--addr", &addr]);
    let out = python::run("tonic-channel-client", check, None, CLIENT_TIMEOUT);
    let want = format!("{CHECKS} passed, 0 failed");
    if !out.status.success() || !out.stdout.lines().any(|l| l == want) {
        let (_, server_stderr) = server.kill_and_collect();
        let server_name = [&["order-server"], server_args].concat().join(" ");
        panic!(
            "expected `{want}` from tonic's client:\n{}\n--- {server_name} stderr ---\n{server_stderr}",
            out.describe()
        );
    }
}
