//! Issue 15: a bidi call must return before the server's response head arrives.
//!
//! `Channel::streaming` used to await the response HEADERS before returning. Servers such
//! as grpcio (C-core) send that head lazily, with their first response message, and their
//! handlers read a request before they write one. A client that makes the call first and
//! feeds its request stream afterwards (the natural way to ping-pong) then deadlocks:
//!
//! ```text
//! let mut replies = client.process_orders_stream(stream_from(rx)).await?.into_inner(); // waits for the head
//! tx.send("102".into()).await?;                                                  // never reached
//! ```
//!
//! Every test here does exactly that: the request stream is fed by a tokio mpsc channel,
//! the call is awaited FIRST, and only then are requests sent, one round at a time, each
//! reply checked before the next request goes out; then the request side is closed and the
//! end status checked. Every wait is bounded ([`STEP`]), so the bug shows up as a failed
//! test naming the step that stalled, never as a hang.
//!
//! Peers, and when each sends its response head:
//!
//! | server                                 | response head                                 |
//! |----------------------------------------|-----------------------------------------------|
//! | grpcio tests/python/order_server.py    | with the first response message               |
//! | grpcio tests/python/interop_server.py  | with the first response message               |
//! | grpc-js tests/node/interop_server.js   | at once (its handlers call sendMetadata)      |
//! | grpc-js tests/node/lazy_head_server.js | with the first response message               |
//! | our `order-server`, `interop-server`   | the first time the handler waits (before      |
//! |                                        | that server change: with the first message)   |
//!
//! Client streaming gets the same channel-fed treatment (the call runs in a task or beside
//! the sender, requests are sent after a delay), as a guard for the same change.
//!
//! The second half drives the same peers through the call handles the generated clients
//! return under the rpc's name (`StreamingCall`, `ClientStreamingCall`), which also return
//! before the response head:
//!
//! 1. bidi ping-pong on a `StreamingCall` (`send`/`feed`, `recv`, `close_send`, `Ok(None)`,
//!    trailers);
//! 2. the same, `split()` into a spawned sending task (`RequestSink`) and a receiver
//!    (`Streaming`) taking turns over a channel;
//! 3. client streaming on a `ClientStreamingCall` (`send` after delays, `feed`,
//!    `close_and_recv`);
//! 4. `head().await` and `trailers()` showing the interop Echo Metadata;
//! 5. a 300 ms deadline with nothing sent: `recv` fails with DEADLINE_EXCEEDED in time,
//!    and a `send` after it fails.

mod common;

use std::future::Future;
use std::process::Command;
use std::time::Duration;

use futures::Stream;
use h2grpc::Status;
use tokio::sync::mpsc;

use common::node;
use common::python::{self, ChildGuard};

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod ecommerce {
    include!(concat!(env!("OUT_DIR"), "/ecommerce.rs"));
}

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod grpc_testing {
    include!(concat!(env!("OUT_DIR"), "/grpc.testing.rs"));
}

use ecommerce::order_management_client::OrderManagementClient;
use ecommerce::{CombinedShipment, Order};
use grpc_testing::test_service_client::TestServiceClient;
use grpc_testing::{
    Payload, ResponseParameters, StreamingInputCallRequest, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};

const ORDER_SERVER: &str = env!("CARGO_BIN_EXE_order-server");
const INTEROP_SERVER: &str = env!("CARGO_BIN_EXE_interop-server");

/// The bound on every single wait: connecting, the call returning, each send, each reply,
/// the end of the stream. Local peers answer in milliseconds.
const STEP: Duration = Duration::from_secs(10);
/// The deadline each call carries, so a server also gives up on a stalled call.
const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// How long the client-streaming tests wait, with the call in flight, before sending.
const SEND_DELAY: Duration = Duration::from_millis(300);

/// The interop `ping_pong` case's sizes: (request payload, response payload).
const PING_PONG: [(usize, i32); 4] = [(27182, 31415), (8, 9), (1828, 2653), (45904, 58979)];
/// The interop `client_streaming` case's request payloads (they add up to 74922).
const CLIENT_STREAMING: [usize; 4] = [27182, 8, 1828, 45904];

const MOUNTAIN_VIEW: &str = "cmb - Mountain View, CA";
const SAN_JOSE: &str = "cmb - San Jose, CA";

// ---------------------------------------------------------------------------------------
// Servers

/// tests/python/order_server.py with the sample orders 102..106.
fn python_order_server() -> (ChildGuard, String) {
    let py = python::python_env();
    python::spawn_server("order_server.py", py.command("order_server.py"))
}

/// tests/python/interop_server.py on a free port.
fn python_interop_server() -> (ChildGuard, String) {
    let py = python::python_env_interop();
    let mut cmd = py.command("interop_server.py");
    cmd.args(["--port", "0"]);
    python::spawn_server("interop_server.py", cmd)
}

/// tests/node/interop_server.js on a free port. Its Echo Metadata step calls
/// `call.sendMetadata()` first thing in every handler, so grpc-js sends this server's
/// response head at once.
fn node_interop_server() -> (ChildGuard, String) {
    node_server("interop_server.js")
}

/// tests/node/lazy_head_server.js on a free port: grpc-js left to its default, the
/// response head goes out with the first response message.
fn node_lazy_head_server() -> (ChildGuard, String) {
    node_server("lazy_head_server.js")
}

fn node_server(script: &str) -> (ChildGuard, String) {
    let js = node::node_env();
    let mut cmd = js.command(script);
    cmd.args(["--port", "0"]);
    python::spawn_server(script, cmd)
}

/// Our `order-server` with the sample orders, on a free port.
fn our_order_server() -> (ChildGuard, String) {
    let mut cmd = Command::new(ORDER_SERVER);
    cmd.args(["--addr", "127.0.0.1:0"]);
    python::spawn_server("order-server", cmd)
}

/// Our `interop-server` on a free port.
fn our_interop_server() -> (ChildGuard, String) {
    let mut cmd = Command::new(INTEROP_SERVER);
    cmd.args(["--port", "0"]);
    python::spawn_server("interop-server", cmd)
}

// ---------------------------------------------------------------------------------------
// Helpers

/// Runs one test body on a fresh multi-threaded runtime.
fn block_on<F: Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build a tokio runtime")
        .block_on(body)
}

/// `fut`, or a panic naming `what` if it takes longer than [`STEP`].
async fn step<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(STEP, fut).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: nothing within {STEP:?}"),
    }
}

/// The call's return, bounded: the step issue 15 stalls on.
async fn call_returns<T>(peer: &str, call: impl Future<Output = Result<T, Status>>) -> T {
    match tokio::time::timeout(STEP, call).await {
        Ok(Ok(response)) => response,
        Ok(Err(status)) => panic!("{peer}: the call failed: {status:?}"),
        Err(_) => panic!(
            "{peer}: the streaming call did not return within {STEP:?} though no request was sent \
             yet: the client waits for the response head, which this server only sends with \
             its first reply, to a request the caller sends after the call returns (issue 15)"
        ),
    }
}

/// A request stream fed by the returned sender; dropping the sender ends the stream
/// (the client half-closes).
fn channel_stream<T: Send + 'static>() -> (mpsc::Sender<T>, impl Stream<Item = T> + Send + 'static)
{
    let (tx, rx) = mpsc::channel(16);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let message = rx.recv().await?;
        Some((message, rx))
    });
    (tx, stream)
}

/// Sends `message` on the request channel, bounded.
async fn send<T>(tx: &mpsc::Sender<T>, what: &str, message: T) {
    step(what, tx.send(message))
        .await
        .unwrap_or_else(|_| panic!("{what}: the request stream was dropped by the client"));
}

/// The next reply, which must be there.
async fn reply<T>(replies: &mut h2grpc::Streaming<T>, what: &str) -> T {
    match step(what, replies.message()).await {
        Ok(Some(message)) => message,
        Ok(None) => panic!("{what}: the stream ended (OK) instead"),
        Err(status) => panic!("{what}: the stream failed: {status:?}"),
    }
}

/// The stream must end with OK and nothing more.
async fn ends_ok<T: std::fmt::Debug>(replies: &mut h2grpc::Streaming<T>, what: &str) {
    match step(what, replies.message()).await {
        Ok(None) => {}
        Ok(Some(message)) => panic!("{what}: expected the end, got another reply {message:?}"),
        Err(status) => panic!("{what}: expected OK, the stream failed: {status:?}"),
    }
}

fn uri(addr: &str) -> String {
    format!("http://{addr}")
}

fn with_deadline<T>(message: T) -> h2grpc::Request<T> {
    let mut request = h2grpc::Request::new(message);
    request.set_timeout(CALL_DEADLINE);
    request
}

// ---------------------------------------------------------------------------------------
// processOrders (bidi): the order service

/// A shipment's id, status and order ids.
fn shipment_summary(shipment: &CombinedShipment) -> (String, String, Vec<String>) {
    let ids = shipment.orders_list.iter().map(|o| o.id.clone()).collect();
    (shipment.id.clone(), shipment.status.clone(), ids)
}

fn expected(id: &str, orders: &[&str]) -> (String, String, Vec<String>) {
    (
        id.to_owned(),
        "Processed!".to_owned(),
        orders.iter().map(|&o| o.to_owned()).collect(),
    )
}

/// One processOrders round: the ids sent, then the shipments (id, order ids) they flush.
struct Round {
    ids: &'static [&'static str],
    shipments: &'static [(&'static str, &'static [&'static str])],
}

const ROUNDS: [Round; 2] = [
    Round {
        ids: &["102", "103", "104"],
        shipments: &[(MOUNTAIN_VIEW, &["102", "104"]), (SAN_JOSE, &["103"])],
    },
    Round {
        ids: &["105", "106", "103"],
        shipments: &[(SAN_JOSE, &["105", "103"]), (MOUNTAIN_VIEW, &["106"])],
    },
];

/// processOrders, ping-pong by batch ([`ROUNDS`]). Both servers flush the shipments of a
/// batch after every 3 ids (destinations in order of first appearance) and what remains at
/// the end:
///
/// - 102 (MV), 103 (SJ), 104 (MV)  -> [MV: 102, 104], [SJ: 103]
/// - 105 (SJ), 106 (MV), 103 (SJ)  -> [SJ: 105, 103], [MV: 106]
/// - 104 (MV), then half-close     -> [MV: 104], then OK
async fn process_orders_ping_pong(peer: &str, addr: &str) {
    let client = step(
        &format!("{peer}: connect"),
        OrderManagementClient::connect(&uri(addr)),
    )
    .await
    .unwrap_or_else(|status| panic!("{peer}: connect failed: {status:?}"));
    let (tx, requests) = channel_stream::<String>();
    let response = call_returns(peer, client.process_orders_stream(with_deadline(requests))).await;
    let mut replies = response.into_inner();

    for (round, Round { ids, shipments }) in ROUNDS.iter().enumerate() {
        for id in *ids {
            send(
                &tx,
                &format!("{peer}: round {round}: send {id}"),
                (*id).to_owned(),
            )
            .await;
        }
        for (n, (dest, orders)) in shipments.iter().enumerate() {
            let what = format!("{peer}: round {round}: shipment {n} after ids {ids:?}");
            let shipment = reply(&mut replies, &what).await;
            assert_eq!(
                shipment_summary(&shipment),
                expected(dest, orders),
                "{what}"
            );
            let destination = dest.trim_start_matches("cmb - ");
            assert!(
                shipment
                    .orders_list
                    .iter()
                    .all(|o| o.destination == destination && !o.items.is_empty()),
                "{what}: orders are the full stored orders for {destination}: {shipment:?}"
            );
        }
    }

    send(
        &tx,
        &format!("{peer}: send the last id 104"),
        "104".to_owned(),
    )
    .await;
    drop(tx); // half-close: the server flushes what remains
    let what = format!("{peer}: the remainder after half-close");
    let shipment = reply(&mut replies, &what).await;
    assert_eq!(
        shipment_summary(&shipment),
        expected(MOUNTAIN_VIEW, &["104"]),
        "{what}"
    );
    ends_ok(&mut replies, &format!("{peer}: the end of processOrders")).await;
}

#[test]
fn process_orders_ping_pong_against_python_grpcio() {
    let (_server, addr) = python_order_server();
    block_on(process_orders_ping_pong("grpcio order_server.py", &addr));
}

#[test]
fn process_orders_ping_pong_against_our_order_server() {
    let (_server, addr) = our_order_server();
    block_on(process_orders_ping_pong("our order-server", &addr));
}

// ---------------------------------------------------------------------------------------
// FullDuplexCall (bidi): the interop service

fn ping(request_bytes: usize, response_size: i32) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: vec![ResponseParameters {
            size: response_size,
            ..Default::default()
        }],
        payload: Some(Payload {
            r#type: 0, // COMPRESSABLE
            body: vec![0; request_bytes],
        }),
        ..Default::default()
    }
}

fn check_pong(pong: &StreamingOutputCallResponse, size: i32, what: &str) {
    let payload = pong
        .payload
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: response without a payload"));
    assert_eq!(payload.r#type, 0, "{what}: payload type COMPRESSABLE");
    assert_eq!(
        payload.body.len(),
        usize::try_from(size).unwrap(),
        "{what}: payload size"
    );
    assert!(
        payload.body.iter().all(|&b| b == 0),
        "{what}: payload is all zeros"
    );
}

/// FullDuplexCall as the interop ping_pong case: one request with one ResponseParameters,
/// its one response, then the next; then half-close and OK.
async fn full_duplex_ping_pong(peer: &str, addr: &str) {
    let client = step(
        &format!("{peer}: connect"),
        TestServiceClient::connect(&uri(addr)),
    )
    .await
    .unwrap_or_else(|status| panic!("{peer}: connect failed: {status:?}"));
    let (tx, requests) = channel_stream::<StreamingOutputCallRequest>();
    let response = call_returns(
        peer,
        client.full_duplex_call_stream(with_deadline(requests)),
    )
    .await;
    let mut replies = response.into_inner();

    for (n, (request_bytes, response_size)) in PING_PONG.into_iter().enumerate() {
        let what = format!("{peer}: ping {n} (asks for {response_size} bytes)");
        send(&tx, &what, ping(request_bytes, response_size)).await;
        let pong = reply(&mut replies, &format!("{what}: its pong")).await;
        check_pong(&pong, response_size, &what);
    }
    drop(tx);
    ends_ok(&mut replies, &format!("{peer}: the end of FullDuplexCall")).await;
}

#[test]
fn full_duplex_ping_pong_against_python_grpcio() {
    let (_server, addr) = python_interop_server();
    block_on(full_duplex_ping_pong("grpcio interop_server.py", &addr));
}

#[test]
fn full_duplex_ping_pong_against_node_grpc_js() {
    let (_server, addr) = node_interop_server();
    block_on(full_duplex_ping_pong("grpc-js interop_server.js", &addr));
}

#[test]
fn full_duplex_ping_pong_against_node_grpc_js_lazy_head() {
    let (_server, addr) = node_lazy_head_server();
    block_on(full_duplex_ping_pong("grpc-js lazy_head_server.js", &addr));
}

#[test]
fn full_duplex_ping_pong_against_our_interop_server() {
    let (_server, addr) = our_interop_server();
    block_on(full_duplex_ping_pong("our interop-server", &addr));
}

// ---------------------------------------------------------------------------------------
// Client streaming, fed the same way: the call is in flight before anything is sent.

fn updated(id: &str, description: &str, price: f32, destination: &str) -> Order {
    Order {
        id: id.to_owned(),
        items: vec![format!("item of {id}")],
        description: description.to_owned(),
        price,
        destination: destination.to_owned(),
    }
}

/// updateOrders with the call running in a task before the first order is sent; the
/// reply names the ids in the order received, and the updates are stored.
async fn update_orders_channel_fed(peer: &str, addr: &str) {
    let client = step(
        &format!("{peer}: connect"),
        OrderManagementClient::connect(&uri(addr)),
    )
    .await
    .unwrap_or_else(|status| panic!("{peer}: connect failed: {status:?}"));
    let (tx, requests) = channel_stream::<Order>();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.update_orders_stream(with_deadline(requests)).await }
    });

    let new_102 = updated("102", "updated 102", 1900.0, "Mountain View, CA");
    let new_103 = updated("103", "updated 103", 450.0, "San Jose, CA");
    tokio::time::sleep(SEND_DELAY).await;
    send(&tx, &format!("{peer}: send order 102"), new_102.clone()).await;
    tokio::time::sleep(SEND_DELAY).await;
    send(&tx, &format!("{peer}: send order 103"), new_103.clone()).await;
    drop(tx);

    let reply = step(&format!("{peer}: updateOrders' reply"), call)
        .await
        .expect("the call's task panicked")
        .unwrap_or_else(|status| panic!("{peer}: updateOrders failed: {status:?}"));
    assert_eq!(reply.get_ref(), "Updated orders: 102, 103", "{peer}");

    for order in [new_102, new_103] {
        let stored = step(
            &format!("{peer}: getOrder {}", order.id),
            client.get_order(order.id.clone()),
        )
        .await
        .unwrap_or_else(|status| panic!("{peer}: getOrder {} failed: {status:?}", order.id));
        assert_eq!(
            stored.get_ref(),
            &order,
            "{peer}: stored order {}",
            order.id
        );
    }
}

#[test]
fn update_orders_channel_fed_against_python_grpcio() {
    let (_server, addr) = python_order_server();
    block_on(update_orders_channel_fed("grpcio order_server.py", &addr));
}

#[test]
fn update_orders_channel_fed_against_our_order_server() {
    let (_server, addr) = our_order_server();
    block_on(update_orders_channel_fed("our order-server", &addr));
}

/// StreamingInputCall as a joined future: the sender runs beside the call, after a delay;
/// the reply adds up the payloads.
async fn streaming_input_channel_fed(peer: &str, addr: &str) {
    let client = step(
        &format!("{peer}: connect"),
        TestServiceClient::connect(&uri(addr)),
    )
    .await
    .unwrap_or_else(|status| panic!("{peer}: connect failed: {status:?}"));
    let (tx, requests) = channel_stream::<StreamingInputCallRequest>();
    let sender = async move {
        tokio::time::sleep(SEND_DELAY).await;
        for (n, bytes) in CLIENT_STREAMING.into_iter().enumerate() {
            let request = StreamingInputCallRequest {
                payload: Some(Payload {
                    r#type: 0,
                    body: vec![0; bytes],
                }),
                ..Default::default()
            };
            send(
                &tx,
                &format!("{peer}: request {n} ({bytes} bytes)"),
                request,
            )
            .await;
        }
        // `tx` drops here: the request side closes.
    };
    let call = client.streaming_input_call_stream(with_deadline(requests));
    let (reply, ()) = step(
        &format!("{peer}: StreamingInputCall"),
        futures::future::join(call, sender),
    )
    .await;
    let reply = reply.unwrap_or_else(|status| panic!("{peer}: StreamingInputCall: {status:?}"));
    let total: usize = CLIENT_STREAMING.iter().sum();
    assert_eq!(
        usize::try_from(reply.get_ref().aggregated_payload_size).unwrap(),
        total,
        "{peer}: aggregated_payload_size"
    );
}

#[test]
fn streaming_input_channel_fed_against_python_grpcio() {
    let (_server, addr) = python_interop_server();
    block_on(streaming_input_channel_fed(
        "grpcio interop_server.py",
        &addr,
    ));
}

#[test]
fn streaming_input_channel_fed_against_node_grpc_js() {
    let (_server, addr) = node_interop_server();
    block_on(streaming_input_channel_fed(
        "grpc-js interop_server.js",
        &addr,
    ));
}

#[test]
fn streaming_input_channel_fed_against_our_interop_server() {
    let (_server, addr) = our_interop_server();
    block_on(streaming_input_channel_fed("our interop-server", &addr));
}

// ---------------------------------------------------------------------------------------
// Call handles: `StreamingCall` / `ClientStreamingCall`, returned before the response head.
//
// The same peers, driven through the handles the generated clients expose under the rpc's
// name (`client.full_duplex_call(())`, `client.update_orders(())`): the call returns once
// the request head is out, then the caller sends, receives, half-closes and reads the
// trailers on the handle (or on its two halves, `split()` between two tasks).

/// The interop Echo Metadata keys and values (as src/bin/interop-client/cases.rs).
const ECHO_INITIAL_KEY: &str = "x-grpc-test-echo-initial";
const ECHO_INITIAL_VALUE: &str = "test_initial_metadata_value";
const ECHO_TRAILING_KEY: &str = "x-grpc-test-echo-trailing-bin";
const ECHO_TRAILING_VALUE: [u8; 3] = [0xab, 0xab, 0xab];

/// The timeout of the deadline case's call, and how soon after the call started its
/// `recv` must have failed.
const SHORT_TIMEOUT: Duration = Duration::from_millis(300);
const SHORT_TIMEOUT_FAILS_WITHIN: Duration = Duration::from_secs(1);

/// What request metadata a handle call carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Echo {
    /// None.
    Nothing,
    /// The trailing echo only: an interop server sends it back in its trailers and still
    /// sends its head lazily (grpcio sends its head early only for an initial echo).
    Trailing,
    /// Both echo keys.
    Both,
}

/// The handle call's `Request<()>`: the call deadline and the echo metadata asked for.
fn handle_request(echo: Echo) -> h2grpc::Request<()> {
    let mut request = with_deadline(());
    let metadata = request.metadata_mut();
    if echo == Echo::Both {
        metadata
            .insert(ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE)
            .expect("insert the initial echo");
    }
    if echo != Echo::Nothing {
        metadata
            .insert_bin(ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE)
            .expect("insert the trailing echo");
    }
    request
}

/// The trailing echo must be in `trailers`, the trailing metadata of an ended call.
fn check_trailing_echo(trailers: Option<&h2grpc::Metadata>, what: &str) {
    let trailers =
        trailers.unwrap_or_else(|| panic!("{what}: no trailers though the call has ended"));
    let trailing = trailers
        .get_bin(ECHO_TRAILING_KEY)
        .unwrap_or_else(|| panic!("{what}: {ECHO_TRAILING_KEY} missing from the trailers"))
        .unwrap_or_else(|e| panic!("{what}: {ECHO_TRAILING_KEY} does not decode: {e}"));
    assert_eq!(
        &trailing[..],
        &ECHO_TRAILING_VALUE[..],
        "{what}: trailing echo"
    );
}

/// `fut` (a send, flush or close) must succeed within [`STEP`].
async fn sent(what: &str, fut: impl Future<Output = Result<(), Status>>) {
    if let Err(status) = step(what, fut).await {
        panic!("{what}: failed: {status:?}");
    }
}

/// `fut` (a `recv`) must yield a message within [`STEP`].
async fn received<T>(what: &str, fut: impl Future<Output = Result<Option<T>, Status>>) -> T {
    match step(what, fut).await {
        Ok(Some(message)) => message,
        Ok(None) => panic!("{what}: the call ended (OK) instead"),
        Err(status) => panic!("{what}: the call failed: {status:?}"),
    }
}

/// `fut` (a `recv`) must report the end of the call, OK, within [`STEP`].
async fn ended<T: std::fmt::Debug>(
    what: &str,
    fut: impl Future<Output = Result<Option<T>, Status>>,
) {
    match step(what, fut).await {
        Ok(None) => {}
        Ok(Some(message)) => panic!("{what}: expected the end, got another reply {message:?}"),
        Err(status) => panic!("{what}: expected OK, the call failed: {status:?}"),
    }
}

async fn interop_client(peer: &str, addr: &str) -> TestServiceClient {
    step(
        &format!("{peer}: connect"),
        TestServiceClient::connect(&uri(addr)),
    )
    .await
    .unwrap_or_else(|status| panic!("{peer}: connect failed: {status:?}"))
}

async fn order_client(peer: &str, addr: &str) -> OrderManagementClient {
    step(
        &format!("{peer}: connect"),
        OrderManagementClient::connect(&uri(addr)),
    )
    .await
    .unwrap_or_else(|status| panic!("{peer}: connect failed: {status:?}"))
}

// 1. Bidi ping-pong on a `StreamingCall`.

/// FullDuplexCall on a handle, as the interop ping_pong case: `send` one request, `recv`
/// its one reply, four times; `close_send`, then `recv` is `Ok(None)`. With
/// [`Echo::Trailing`] the trailers must carry the trailing echo.
async fn full_duplex_handle_ping_pong(peer: &str, addr: &str, echo: Echo) {
    let client = interop_client(peer, addr).await;
    let mut call = call_returns(peer, client.full_duplex_call(handle_request(echo))).await;

    for (n, (request_bytes, response_size)) in PING_PONG.into_iter().enumerate() {
        let what = format!("{peer}: ping {n} (asks for {response_size} bytes)");
        sent(&what, call.send(&ping(request_bytes, response_size))).await;
        let pong = received(&format!("{what}: its pong"), call.recv()).await;
        check_pong(&pong, response_size, &what);
    }
    sent(&format!("{peer}: close_send"), call.close_send()).await;
    ended(&format!("{peer}: the end of FullDuplexCall"), call.recv()).await;
    match echo {
        Echo::Nothing => assert!(
            call.trailers().is_some(),
            "{peer}: an ended call has its trailers"
        ),
        Echo::Trailing | Echo::Both => {
            check_trailing_echo(call.trailers(), &format!("{peer}: FullDuplexCall"));
        }
    }
    // Closing again does nothing; sending after the close is refused.
    sent(&format!("{peer}: close_send again"), call.close_send()).await;
    let late = step(&format!("{peer}: send after close"), call.send(&ping(1, 1))).await;
    assert!(late.is_err(), "{peer}: a send after close_send must fail");
}

#[test]
fn full_duplex_handle_ping_pong_against_python_grpcio() {
    let (_server, addr) = python_interop_server();
    block_on(full_duplex_handle_ping_pong(
        "grpcio interop_server.py",
        &addr,
        Echo::Trailing,
    ));
}

#[test]
fn full_duplex_handle_ping_pong_against_node_grpc_js_lazy_head() {
    let (_server, addr) = node_lazy_head_server();
    block_on(full_duplex_handle_ping_pong(
        "grpc-js lazy_head_server.js",
        &addr,
        Echo::Nothing,
    ));
}

#[test]
fn full_duplex_handle_ping_pong_against_our_interop_server() {
    let (_server, addr) = our_interop_server();
    block_on(full_duplex_handle_ping_pong(
        "our interop-server",
        &addr,
        Echo::Trailing,
    ));
}

/// processOrders on a handle, by batch ([`ROUNDS`]): each round's ids are queued with
/// `feed` (they leave together, flushed by the first `recv`), then its shipments are
/// received; then the last id is sent, `close_send`, the remainder, and `Ok(None)`.
async fn process_orders_handle_ping_pong(peer: &str, addr: &str) {
    let client = order_client(peer, addr).await;
    let mut call = call_returns(peer, client.process_orders(handle_request(Echo::Nothing))).await;

    for (round, Round { ids, shipments }) in ROUNDS.iter().enumerate() {
        for id in *ids {
            let what = format!("{peer}: round {round}: feed {id}");
            sent(&what, call.feed(&(*id).to_owned())).await;
        }
        for (n, (dest, orders)) in shipments.iter().enumerate() {
            let what = format!("{peer}: round {round}: shipment {n} after ids {ids:?}");
            let shipment = received(&what, call.recv()).await;
            assert_eq!(
                shipment_summary(&shipment),
                expected(dest, orders),
                "{what}"
            );
            let destination = dest.trim_start_matches("cmb - ");
            assert!(
                shipment
                    .orders_list
                    .iter()
                    .all(|o| o.destination == destination && !o.items.is_empty()),
                "{what}: orders are the full stored orders for {destination}: {shipment:?}"
            );
        }
    }

    sent(
        &format!("{peer}: send the last id 104"),
        call.send(&"104".to_owned()),
    )
    .await;
    sent(&format!("{peer}: close_send"), call.close_send()).await;
    let what = format!("{peer}: the remainder after close_send");
    let shipment = received(&what, call.recv()).await;
    assert_eq!(
        shipment_summary(&shipment),
        expected(MOUNTAIN_VIEW, &["104"]),
        "{what}"
    );
    ended(&format!("{peer}: the end of processOrders"), call.recv()).await;
    assert!(
        call.trailers().is_some(),
        "{peer}: an ended call has its trailers"
    );
}

#[test]
fn process_orders_handle_ping_pong_against_python_grpcio() {
    let (_server, addr) = python_order_server();
    block_on(process_orders_handle_ping_pong(
        "grpcio order_server.py",
        &addr,
    ));
}

#[test]
fn process_orders_handle_ping_pong_against_our_order_server() {
    let (_server, addr) = our_order_server();
    block_on(process_orders_handle_ping_pong("our order-server", &addr));
}

// 2. The same ping-pong, the call split between a sending task and a receiver.

/// FullDuplexCall `split()`: a spawned task owns the `RequestSink` and sends ping `n` once
/// the receiver, which owns the `Streaming`, has checked pong `n - 1` and said so on a
/// channel; after the last pong it closes. The receiver then sees `Ok(None)` and the
/// trailing echo.
async fn full_duplex_split_ping_pong(peer: &str, addr: &str) {
    let client = interop_client(peer, addr).await;
    let call = call_returns(
        peer,
        client.full_duplex_call(handle_request(Echo::Trailing)),
    )
    .await;
    let (mut requests, mut replies) = call.split();
    let (pong_tx, mut pong_rx) = mpsc::channel::<usize>(1);

    let sender = tokio::spawn({
        let peer = peer.to_owned();
        async move {
            for (n, (request_bytes, response_size)) in PING_PONG.into_iter().enumerate() {
                if n > 0 {
                    let what = format!("{peer}: sender: wait for pong {}", n - 1);
                    let acked = step(&what, pong_rx.recv()).await;
                    assert_eq!(acked, Some(n - 1), "{what}");
                }
                let what = format!("{peer}: sender: ping {n}");
                sent(&what, requests.send(&ping(request_bytes, response_size))).await;
            }
            let what = format!("{peer}: sender: wait for the last pong");
            let acked = step(&what, pong_rx.recv()).await;
            assert_eq!(acked, Some(PING_PONG.len() - 1), "{what}");
            sent(&format!("{peer}: sender: close"), requests.close()).await;
        }
    });

    for (n, (_, response_size)) in PING_PONG.into_iter().enumerate() {
        let what = format!("{peer}: receiver: pong {n} ({response_size} bytes)");
        let pong = reply(&mut replies, &what).await;
        check_pong(&pong, response_size, &what);
        pong_tx
            .send(n)
            .await
            .unwrap_or_else(|_| panic!("{what}: the sender task is gone"));
    }
    step(&format!("{peer}: the sender task"), sender)
        .await
        .expect("the sender task panicked");
    ends_ok(&mut replies, &format!("{peer}: the end of FullDuplexCall")).await;
    check_trailing_echo(replies.trailers(), &format!("{peer}: FullDuplexCall"));
}

#[test]
fn full_duplex_split_ping_pong_against_python_grpcio() {
    let (_server, addr) = python_interop_server();
    block_on(full_duplex_split_ping_pong(
        "grpcio interop_server.py",
        &addr,
    ));
}

#[test]
fn full_duplex_split_ping_pong_against_our_interop_server() {
    let (_server, addr) = our_interop_server();
    block_on(full_duplex_split_ping_pong("our interop-server", &addr));
}

// 3. Client streaming on a `ClientStreamingCall`.

/// updateOrders on a handle: the call returns, then each order is sent after a delay,
/// then `close_and_recv`; the reply names the ids in order, and the updates are stored.
async fn update_orders_handle(peer: &str, addr: &str) {
    let client = order_client(peer, addr).await;
    let mut call = call_returns(peer, client.update_orders(handle_request(Echo::Nothing))).await;

    let new_102 = updated("102", "handle 102", 1950.0, "Mountain View, CA");
    let new_105 = updated("105", "handle 105", 35.5, "San Jose, CA");
    for order in [&new_102, &new_105] {
        tokio::time::sleep(SEND_DELAY).await;
        sent(
            &format!("{peer}: send order {}", order.id),
            call.send(order),
        )
        .await;
    }
    tokio::time::sleep(SEND_DELAY).await;
    let reply = step(&format!("{peer}: close_and_recv"), call.close_and_recv())
        .await
        .unwrap_or_else(|status| panic!("{peer}: updateOrders failed: {status:?}"));
    assert_eq!(reply.get_ref(), "Updated orders: 102, 105", "{peer}");

    for order in [new_102, new_105] {
        let stored = step(
            &format!("{peer}: getOrder {}", order.id),
            client.get_order(order.id.clone()),
        )
        .await
        .unwrap_or_else(|status| panic!("{peer}: getOrder {} failed: {status:?}", order.id));
        assert_eq!(
            stored.get_ref(),
            &order,
            "{peer}: stored order {}",
            order.id
        );
    }
}

#[test]
fn update_orders_handle_against_python_grpcio() {
    let (_server, addr) = python_order_server();
    block_on(update_orders_handle("grpcio order_server.py", &addr));
}

#[test]
fn update_orders_handle_against_our_order_server() {
    let (_server, addr) = our_order_server();
    block_on(update_orders_handle("our order-server", &addr));
}

/// StreamingInputCall on a handle: the first two requests are sent after delays, the
/// last two only queued with `feed` (they leave with the close), then `close_and_recv`;
/// the reply adds up all four payloads, and the trailers carry the trailing echo.
async fn streaming_input_handle(peer: &str, addr: &str) {
    let client = interop_client(peer, addr).await;
    let mut call = call_returns(
        peer,
        client.streaming_input_call(handle_request(Echo::Trailing)),
    )
    .await;

    for (n, bytes) in CLIENT_STREAMING.into_iter().enumerate() {
        let request = StreamingInputCallRequest {
            payload: Some(Payload {
                r#type: 0,
                body: vec![0; bytes],
            }),
            ..Default::default()
        };
        let what = format!("{peer}: request {n} ({bytes} bytes)");
        if n < 2 {
            tokio::time::sleep(SEND_DELAY).await;
            sent(&what, call.send(&request)).await;
        } else {
            sent(&what, call.feed(&request)).await;
        }
    }
    let reply = step(&format!("{peer}: close_and_recv"), call.close_and_recv())
        .await
        .unwrap_or_else(|status| panic!("{peer}: StreamingInputCall failed: {status:?}"));
    let total: usize = CLIENT_STREAMING.iter().sum();
    assert_eq!(
        usize::try_from(reply.get_ref().aggregated_payload_size).unwrap(),
        total,
        "{peer}: aggregated_payload_size"
    );
    check_trailing_echo(
        Some(reply.trailers()),
        &format!("{peer}: StreamingInputCall"),
    );
}

#[test]
fn streaming_input_handle_against_python_grpcio() {
    let (_server, addr) = python_interop_server();
    block_on(streaming_input_handle("grpcio interop_server.py", &addr));
}

#[test]
fn streaming_input_handle_against_node_grpc_js() {
    let (_server, addr) = node_interop_server();
    block_on(streaming_input_handle("grpc-js interop_server.js", &addr));
}

#[test]
fn streaming_input_handle_against_our_interop_server() {
    let (_server, addr) = our_interop_server();
    block_on(streaming_input_handle("our interop-server", &addr));
}

// 4. The response head's metadata on a handle.

/// FullDuplexCall with both echo keys as request metadata: after one request, `head()`
/// shows the initial echo; then the reply, `close_send`, `Ok(None)`, and `trailers()`
/// shows the trailing echo. (`head()` twice returns the same metadata.)
async fn full_duplex_handle_echo_metadata(peer: &str, addr: &str) {
    let client = interop_client(peer, addr).await;
    let mut call = call_returns(peer, client.full_duplex_call(handle_request(Echo::Both))).await;
    let (request_bytes, response_size) = PING_PONG[1];
    sent(
        &format!("{peer}: send one request"),
        call.send(&ping(request_bytes, response_size)),
    )
    .await;

    let head = step(&format!("{peer}: head"), call.head())
        .await
        .unwrap_or_else(|status| panic!("{peer}: head failed: {status:?}"));
    assert_eq!(
        head.get(ECHO_INITIAL_KEY),
        Some(ECHO_INITIAL_VALUE),
        "{peer}: the initial echo in the response head: {head:?}"
    );
    assert!(
        head.get_bin(ECHO_TRAILING_KEY).is_none(),
        "{peer}: the trailing echo is not in the head: {head:?}"
    );
    let again = step(&format!("{peer}: head again"), call.head())
        .await
        .unwrap_or_else(|status| panic!("{peer}: head again failed: {status:?}"));
    assert_eq!(
        again.get(ECHO_INITIAL_KEY),
        Some(ECHO_INITIAL_VALUE),
        "{peer}"
    );

    let pong = received(&format!("{peer}: the reply"), call.recv()).await;
    check_pong(&pong, response_size, &format!("{peer}: the reply"));
    assert!(
        call.trailers().is_none(),
        "{peer}: no trailers before the call has ended"
    );
    sent(&format!("{peer}: close_send"), call.close_send()).await;
    ended(&format!("{peer}: the end of FullDuplexCall"), call.recv()).await;
    check_trailing_echo(call.trailers(), &format!("{peer}: FullDuplexCall"));
}

#[test]
fn full_duplex_handle_echo_metadata_against_python_grpcio() {
    let (_server, addr) = python_interop_server();
    block_on(full_duplex_handle_echo_metadata(
        "grpcio interop_server.py",
        &addr,
    ));
}

#[test]
fn full_duplex_handle_echo_metadata_against_node_grpc_js() {
    let (_server, addr) = node_interop_server();
    block_on(full_duplex_handle_echo_metadata(
        "grpc-js interop_server.js",
        &addr,
    ));
}

#[test]
fn full_duplex_handle_echo_metadata_against_our_interop_server() {
    let (_server, addr) = our_interop_server();
    block_on(full_duplex_handle_echo_metadata(
        "our interop-server",
        &addr,
    ));
}

/// `head()` against a server that sends its head only with its first reply: after one
/// request it returns (the head came with the reply), empty of echo metadata, and the
/// reply is still there for `recv`.
#[test]
fn full_duplex_handle_head_against_node_grpc_js_lazy_head() {
    let (_server, addr) = node_lazy_head_server();
    block_on(async {
        let peer = "grpc-js lazy_head_server.js";
        let client = interop_client(peer, &addr).await;
        let mut call =
            call_returns(peer, client.full_duplex_call(handle_request(Echo::Both))).await;
        let (request_bytes, response_size) = PING_PONG[2];
        sent(
            &format!("{peer}: send one request"),
            call.send(&ping(request_bytes, response_size)),
        )
        .await;
        let head = step(&format!("{peer}: head"), call.head())
            .await
            .unwrap_or_else(|status| panic!("{peer}: head failed: {status:?}"));
        assert_eq!(
            head.get(ECHO_INITIAL_KEY),
            None,
            "{peer}: it echoes nothing"
        );
        let pong = received(&format!("{peer}: the reply"), call.recv()).await;
        check_pong(&pong, response_size, &format!("{peer}: the reply"));
        sent(&format!("{peer}: close_send"), call.close_send()).await;
        ended(&format!("{peer}: the end of FullDuplexCall"), call.recv()).await;
    });
}

// 5. The deadline on a handle.

/// FullDuplexCall with a 300 ms timeout and nothing ever sent: `recv` fails with
/// DEADLINE_EXCEEDED within [`SHORT_TIMEOUT_FAILS_WITHIN`] of the call's start (the local
/// timer, or the server's own status), and a `send` right after that fails: the call is
/// over, so a message handed to it must not be reported as sent. A later `recv` yields
/// no message.
async fn full_duplex_handle_deadline(peer: &str, addr: &str) {
    let client = interop_client(peer, addr).await;
    let mut request = h2grpc::Request::new(());
    request.set_timeout(SHORT_TIMEOUT);
    let start = tokio::time::Instant::now();
    let mut call = call_returns(peer, client.full_duplex_call(request)).await;

    let got = step(&format!("{peer}: recv with nothing sent"), call.recv()).await;
    let elapsed = start.elapsed();
    match got {
        Err(status) => assert_eq!(
            status.code(),
            h2grpc::Code::DeadlineExceeded,
            "{peer}: recv: {status:?}"
        ),
        Ok(reply) => panic!("{peer}: recv should have failed, got {reply:?}"),
    }
    assert!(
        elapsed >= SHORT_TIMEOUT && elapsed <= SHORT_TIMEOUT_FAILS_WITHIN,
        "{peer}: recv failed after {elapsed:?}, the timeout is {SHORT_TIMEOUT:?}"
    );

    let late = step(
        &format!("{peer}: send after the deadline"),
        call.send(&ping(8, 9)),
    )
    .await;
    assert!(
        late.is_err(),
        "{peer}: a send {:?} after the call started, after recv failed with \
         DEADLINE_EXCEEDED, must fail; it returned {late:?}",
        start.elapsed()
    );
    let again = step(&format!("{peer}: recv again"), call.recv()).await;
    assert!(
        !matches!(again, Ok(Some(_))),
        "{peer}: recv after the deadline: {again:?}"
    );
}

#[test]
fn full_duplex_handle_deadline_against_python_grpcio() {
    let (_server, addr) = python_interop_server();
    block_on(full_duplex_handle_deadline(
        "grpcio interop_server.py",
        &addr,
    ));
}

/// The same against grpc-js, which does not reset the stream when the deadline passes:
/// only our own side can make the late send fail here, so this one does not depend on
/// whether the server's reset raced ahead of the send.
#[test]
fn full_duplex_handle_deadline_against_node_grpc_js() {
    let (_server, addr) = node_interop_server();
    block_on(full_duplex_handle_deadline(
        "grpc-js interop_server.js",
        &addr,
    ));
}
