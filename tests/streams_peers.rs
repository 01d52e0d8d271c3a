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
            "{peer}: the bidi call did not return within {STEP:?} though no request was sent \
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
