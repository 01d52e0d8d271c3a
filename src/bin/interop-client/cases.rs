//! The interop client cases, each as grpc/grpc doc/interop-test-descriptions.md
//! ("Client") describes its procedure and asserts. A case returns `Err(reason)`
//! on the first assert that does not hold.
//!
//! The compression cases live in `compressed.rs`.

use std::future::ready;
use std::task::Poll;
use std::time::Duration;

use futures::channel::mpsc;
use futures::{Stream, StreamExt, stream};
use h2grpc::client::Channel;
use h2grpc::{Code, Request, Status, Streaming};
use tokio::sync::oneshot;

use crate::compressed;
use crate::pb::grpc_testing::test_service_client::TestServiceClient;
use crate::pb::grpc_testing::unimplemented_service_client::UnimplementedServiceClient;
use crate::pb::grpc_testing::{
    EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest,
    StreamingInputCallRequest, StreamingOutputCallRequest, StreamingOutputCallResponse,
};

/// Every case this client implements, in the order `all` runs them.
pub const ALL: [&str; 18] = [
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_compressed_streaming",
    "server_compressed_streaming",
];

/// Cases run only when named (not by `all`): they ask the server for more
/// than the peers' interop servers in `cargo test` provide.
pub const EXTRA: [&str; 1] = ["pick_first_unary"];

/// pick_first_unary: calls made, each must name the same server.
const PICK_FIRST_CALLS: usize = 100;

/// Deadline of every call (bar `timeout_on_sleeping_server`'s 1 ms).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// large_unary and friends: request and response payload sizes.
pub const LARGE_REQUEST_BYTES: usize = 271_828;
pub const LARGE_RESPONSE_BYTES: usize = 314_159;
/// client_streaming / ping_pong request payload sizes, in order.
const REQUEST_SIZES: [usize; 4] = [27_182, 8, 1_828, 45_904];
/// server_streaming / ping_pong response payload sizes, in order.
const RESPONSE_SIZES: [usize; 4] = [31_415, 9, 2_653, 58_979];

const ECHO_INITIAL_KEY: &str = "x-grpc-test-echo-initial";
const ECHO_INITIAL_VALUE: &str = "test_initial_metadata_value";
const ECHO_TRAILING_KEY: &str = "x-grpc-test-echo-trailing-bin";
const ECHO_TRAILING_VALUE: [u8; 3] = [0xab, 0xab, 0xab];

/// What every case gets: one channel, shared by all cases as upstream clients do.
pub struct Ctx {
    pub channel: Channel,
    pub client: TestServiceClient,
}

/// Runs the case called `name`.
pub async fn run(name: &str, ctx: &Ctx) -> Result<(), String> {
    match name {
        "empty_unary" => empty_unary(ctx).await,
        "large_unary" => large_unary(ctx).await,
        "client_streaming" => client_streaming(ctx).await,
        "server_streaming" => server_streaming(ctx).await,
        "ping_pong" => ping_pong(ctx).await,
        "empty_stream" => empty_stream(ctx).await,
        "custom_metadata" => custom_metadata(ctx).await,
        "status_code_and_message" => status_code_and_message(ctx).await,
        "special_status_message" => special_status_message(ctx).await,
        "unimplemented_method" => unimplemented_method(ctx).await,
        "unimplemented_service" => unimplemented_service(ctx).await,
        "cancel_after_begin" => cancel_after_begin(ctx).await,
        "cancel_after_first_response" => cancel_after_first_response(ctx).await,
        "timeout_on_sleeping_server" => timeout_on_sleeping_server(ctx).await,
        "client_compressed_unary" => compressed::client_compressed_unary(ctx).await,
        "server_compressed_unary" => compressed::server_compressed_unary(ctx).await,
        "client_compressed_streaming" => compressed::client_compressed_streaming(ctx).await,
        "server_compressed_streaming" => compressed::server_compressed_streaming(ctx).await,
        "pick_first_unary" => pick_first_unary(ctx).await,
        other => Err(format!("unknown test case {other:?}")),
    }
}

async fn empty_unary(ctx: &Ctx) -> Result<(), String> {
    ok(ctx.client.empty_call(call(Empty {})).await, "EmptyCall")?;
    Ok(())
}

/// pick_first_unary: every call on the channel reaches the same server, which
/// says so with a non-empty `server_id`.
async fn pick_first_unary(ctx: &Ctx) -> Result<(), String> {
    let request = SimpleRequest {
        fill_server_id: true,
        ..Default::default()
    };
    let mut first: Option<String> = None;
    for i in 0..PICK_FIRST_CALLS {
        let response = ok(
            ctx.client.unary_call(call(request.clone())).await,
            "UnaryCall",
        )?;
        let id = &response.get_ref().server_id;
        match &first {
            None if id.is_empty() => return Err("server_id is empty".into()),
            None => first = Some(id.clone()),
            Some(first) if first != id => {
                return Err(format!("call {i}: server_id {id:?}, call 0: {first:?}"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

async fn large_unary(ctx: &Ctx) -> Result<(), String> {
    let response = ok(
        ctx.client.unary_call(call(large_request())).await,
        "UnaryCall",
    )?;
    check_payload(
        response.get_ref().payload.as_ref(),
        LARGE_RESPONSE_BYTES,
        "response",
    )
}

async fn client_streaming(ctx: &Ctx) -> Result<(), String> {
    let requests = REQUEST_SIZES.map(|size| StreamingInputCallRequest {
        payload: Some(zeros(size)),
        ..Default::default()
    });
    let response = ok(
        ctx.client
            .streaming_input_call_stream(call(stream::iter(requests)))
            .await,
        "StreamingInputCall",
    )?;
    expect_eq(
        response.get_ref().aggregated_payload_size,
        74_922,
        "aggregated_payload_size",
    )
}

async fn server_streaming(ctx: &Ctx) -> Result<(), String> {
    let request = StreamingOutputCallRequest {
        response_parameters: RESPONSE_SIZES.iter().map(|&s| params(s)).collect(),
        ..Default::default()
    };
    let response = ok(
        ctx.client.streaming_output_call(call(request)).await,
        "StreamingOutputCall",
    )?;
    let responses = ok(collect(response.into_inner()).await, "StreamingOutputCall")?;
    check_sizes(&responses, &RESPONSE_SIZES)
}

async fn ping_pong(ctx: &Ctx) -> Result<(), String> {
    let (tx, rx) = mpsc::unbounded();
    let mut rx = Some(rx);
    let mut stream = None;
    let sizes = REQUEST_SIZES.iter().zip(&RESPONSE_SIZES);
    for (i, (&request_size, &response_size)) in sizes.enumerate() {
        let request = StreamingOutputCallRequest {
            response_parameters: vec![params(response_size)],
            payload: Some(zeros(request_size)),
            ..Default::default()
        };
        tx.unbounded_send(request)
            .map_err(|_| "the request stream closed early".to_owned())?;
        // The call is opened once the first request is queued: a server may
        // hold its response head until it has a message to send.
        if let Some(rx) = rx.take() {
            let response = ok(
                ctx.client.full_duplex_call_stream(call(rx)).await,
                "FullDuplexCall",
            )?;
            stream = Some(response.into_inner());
        }
        let Some(stream) = stream.as_mut() else {
            return Err("FullDuplexCall did not open".into());
        };
        let reply = ok(stream.message().await, "FullDuplexCall")?
            .ok_or_else(|| format!("stream ended after {i} responses, expected 4"))?;
        check_payload(
            reply.payload.as_ref(),
            response_size,
            &format!("response {i}"),
        )?;
    }
    // Half-close: the server must end the call OK with no further response.
    drop(tx);
    let Some(mut stream) = stream else {
        return Err("FullDuplexCall did not open".into());
    };
    match ok(stream.message().await, "FullDuplexCall after half-close")? {
        None => Ok(()),
        Some(_) => Err("more than 4 responses".into()),
    }
}

async fn empty_stream(ctx: &Ctx) -> Result<(), String> {
    let response = ok(
        ctx.client
            .full_duplex_call_stream(call(stream::empty::<StreamingOutputCallRequest>()))
            .await,
        "FullDuplexCall",
    )?;
    let responses = ok(collect(response.into_inner()).await, "FullDuplexCall")?;
    expect_eq(responses.len(), 0, "number of responses")
}

async fn custom_metadata(ctx: &Ctx) -> Result<(), String> {
    // 1. UnaryCall: the initial echo in the head, the trailing echo in the trailers.
    let mut request = call(large_request());
    add_echo_metadata(request.metadata_mut())?;
    let response = ok(ctx.client.unary_call(request).await, "UnaryCall")?;
    check_payload(
        response.get_ref().payload.as_ref(),
        LARGE_RESPONSE_BYTES,
        "UnaryCall response",
    )?;
    check_echo(response.metadata(), response.trailers(), "UnaryCall")?;

    // 2. FullDuplexCall with one request, then half-close.
    let request = StreamingOutputCallRequest {
        response_parameters: vec![params(LARGE_RESPONSE_BYTES)],
        payload: Some(zeros(LARGE_REQUEST_BYTES)),
        ..Default::default()
    };
    let mut request = call(stream::iter([request]));
    add_echo_metadata(request.metadata_mut())?;
    let response = ok(
        ctx.client.full_duplex_call_stream(request).await,
        "FullDuplexCall",
    )?;
    // A bidi call returns before the response head: wait for it here.
    let mut stream = response.into_inner();
    let head = ok(stream.head().await.cloned(), "FullDuplexCall")?;
    let mut responses = Vec::new();
    while let Some(reply) = ok(stream.message().await, "FullDuplexCall")? {
        responses.push(reply);
    }
    check_sizes(&responses, &[LARGE_RESPONSE_BYTES])?;
    let trailers = stream.trailers().cloned().unwrap_or_default();
    check_echo(&head, &trailers, "FullDuplexCall")
}

async fn status_code_and_message(ctx: &Ctx) -> Result<(), String> {
    echo_status_both_ways(ctx, "test status message", true).await
}

async fn special_status_message(ctx: &Ctx) -> Result<(), String> {
    let message = "\t\ntest with whitespace\r\nand Unicode BMP \u{263A} and non-BMP \u{1F608}\t\n";
    echo_status_both_ways(ctx, message, false).await
}

/// UnaryCall (and, for status_code_and_message, FullDuplexCall) asking the
/// server to fail with UNKNOWN and `message`: both must come back exactly.
async fn echo_status_both_ways(ctx: &Ctx, message: &str, duplex: bool) -> Result<(), String> {
    let status = EchoStatus {
        code: Code::Unknown as i32,
        message: message.to_owned(),
    };
    let request = SimpleRequest {
        response_status: Some(status.clone()),
        ..Default::default()
    };
    let got = failed(ctx.client.unary_call(call(request)).await, "UnaryCall")?;
    check_status(&got, Code::Unknown, message, "UnaryCall")?;
    if !duplex {
        return Ok(());
    }
    let request = StreamingOutputCallRequest {
        response_status: Some(status),
        ..Default::default()
    };
    let result = match ctx
        .client
        .full_duplex_call_stream(call(stream::iter([request])))
        .await
    {
        Ok(response) => collect(response.into_inner()).await.map(|_| ()),
        Err(status) => Err(status),
    };
    let got = failed(result, "FullDuplexCall")?;
    check_status(&got, Code::Unknown, message, "FullDuplexCall")
}

async fn unimplemented_method(ctx: &Ctx) -> Result<(), String> {
    let got = failed(
        ctx.client.unimplemented_call(call(Empty {})).await,
        "TestService/UnimplementedCall",
    )?;
    expect_code(&got, Code::Unimplemented)
}

async fn unimplemented_service(ctx: &Ctx) -> Result<(), String> {
    let client = UnimplementedServiceClient::new(ctx.channel.clone());
    let got = failed(
        client.unimplemented_call(call(Empty {})).await,
        "UnimplementedService/UnimplementedCall",
    )?;
    expect_code(&got, Code::Unimplemented)
}

/// Starts StreamingInputCall and cancels it once the request head is out,
/// before any message. Cancelling means dropping the call: h2 then resets the
/// stream with RST_STREAM(CANCEL), PROTOCOL-HTTP2.md's wire form of CANCELLED.
/// A follow-up call checks the reset left the connection usable.
async fn cancel_after_begin(ctx: &Ctx) -> Result<(), String> {
    let (begun_tx, begun_rx) = oneshot::channel();
    let client = ctx.client.clone();
    let call_task = tokio::spawn(async move {
        client
            .streaming_input_call_stream(call(begun_then_silent(begun_tx)))
            .await
    });
    // The request stream is first polled once the head has been handed to h2.
    let _ = tokio::time::timeout(CALL_TIMEOUT, begun_rx).await;
    call_task.abort();
    let status = match call_task.await {
        Err(e) if e.is_cancelled() => Status::cancelled("cancelled by the client"),
        Err(e) => return Err(format!("call task failed: {e}")),
        Ok(Ok(_)) => return Err("call succeeded before it was cancelled".into()),
        Ok(Err(status)) => status,
    };
    expect_code(&status, Code::Cancelled)?;
    follow_up(ctx).await
}

/// FullDuplexCall: one request, one response, then cancel (drop the call,
/// which resets the stream) while the request side is still open.
async fn cancel_after_first_response(ctx: &Ctx) -> Result<(), String> {
    let (tx, rx) = mpsc::unbounded();
    let request = StreamingOutputCallRequest {
        response_parameters: vec![params(31_415)],
        payload: Some(zeros(27_182)),
        ..Default::default()
    };
    tx.unbounded_send(request)
        .map_err(|_| "the request stream closed early".to_owned())?;
    let response = ok(
        ctx.client.full_duplex_call_stream(call(rx)).await,
        "FullDuplexCall",
    )?;
    let mut stream = response.into_inner();
    let first = ok(stream.message().await, "FullDuplexCall")?
        .ok_or("the stream ended before the first response")?;
    check_payload(first.payload.as_ref(), 31_415, "first response")?;
    // Cancel: dropping the receive side aborts the call (and its request pump)
    // while `tx` still holds the request side open, so this is a reset
    // (CANCELLED on both ends), not a half-close.
    drop(stream);
    let checked = follow_up(ctx).await;
    drop(tx);
    checked
}

/// FullDuplexCall with a 1 ms deadline, one request and no half-close: the
/// call must end DEADLINE_EXCEEDED (whichever side notices first).
async fn timeout_on_sleeping_server(ctx: &Ctx) -> Result<(), String> {
    let request = StreamingOutputCallRequest {
        payload: Some(zeros(27_182)),
        ..Default::default()
    };
    let requests = stream::once(ready(request)).chain(stream::pending());
    let mut request = Request::new(requests);
    request.set_timeout(Duration::from_millis(1));
    let result = match ctx.client.full_duplex_call_stream(request).await {
        Ok(response) => collect(response.into_inner()).await.map(|_| ()),
        Err(status) => Err(status),
    };
    let got = failed(result, "FullDuplexCall")?;
    expect_code(&got, Code::DeadlineExceeded)
}

/// After a cancel: the same channel must still complete a call.
async fn follow_up(ctx: &Ctx) -> Result<(), String> {
    ok(
        ctx.client.empty_call(call(Empty {})).await,
        "EmptyCall after the cancel",
    )?;
    Ok(())
}

/// A request stream that reports its first poll on `begun` and then never
/// yields: the call has begun (head sent) but no message will follow.
fn begun_then_silent<T>(begun: oneshot::Sender<()>) -> impl Stream<Item = T> + Send + 'static {
    let mut begun = Some(begun);
    stream::poll_fn(move |_cx| {
        if let Some(begun) = begun.take() {
            let _ = begun.send(());
        }
        Poll::Pending
    })
}

// ---- helpers shared with compressed.rs ----

/// A request with the standard per-call deadline.
pub fn call<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    request
}

/// The large_unary request: 271828 zero bytes in, 314159 asked for.
pub fn large_request() -> SimpleRequest {
    SimpleRequest {
        response_size: LARGE_RESPONSE_BYTES as i32,
        payload: Some(zeros(LARGE_REQUEST_BYTES)),
        ..Default::default()
    }
}

pub fn zeros(size: usize) -> Payload {
    Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; size],
    }
}

pub fn params(size: usize) -> ResponseParameters {
    ResponseParameters {
        size: size as i32,
        ..Default::default()
    }
}

/// Reads a response stream to its end.
pub async fn collect<T>(mut stream: Streaming<T>) -> Result<Vec<T>, Status> {
    let mut all = Vec::new();
    while let Some(message) = stream.message().await? {
        all.push(message);
    }
    Ok(all)
}

/// The call must have succeeded.
pub fn ok<T>(result: Result<T, Status>, what: &str) -> Result<T, String> {
    result.map_err(|status| format!("{what} failed: {}", describe(&status)))
}

/// The call must have failed; returns its status.
pub fn failed<T>(result: Result<T, Status>, what: &str) -> Result<Status, String> {
    match result {
        Ok(_) => Err(format!("{what} succeeded, expected it to fail")),
        Err(status) => Ok(status),
    }
}

pub fn expect_code(status: &Status, code: Code) -> Result<(), String> {
    if status.code() == code {
        Ok(())
    } else {
        Err(format!(
            "expected {}, got {}",
            code.as_str(),
            describe(status)
        ))
    }
}

pub fn expect_eq<T: PartialEq + std::fmt::Debug>(
    got: T,
    want: T,
    what: &str,
) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: expected {want:?}, got {got:?}"))
    }
}

fn check_status(status: &Status, code: Code, message: &str, what: &str) -> Result<(), String> {
    expect_code(status, code).map_err(|e| format!("{what}: {e}"))?;
    expect_eq(status.message(), message, &format!("{what} status message"))
}

/// The payload exists, has `size` bytes, all zero.
pub fn check_payload(payload: Option<&Payload>, size: usize, what: &str) -> Result<(), String> {
    let payload = payload.ok_or_else(|| format!("{what}: no payload"))?;
    expect_eq(payload.body.len(), size, &format!("{what} payload size"))?;
    if payload.body.iter().any(|&b| b != 0) {
        return Err(format!("{what}: payload is not all zeros"));
    }
    Ok(())
}

pub fn check_sizes(
    responses: &[StreamingOutputCallResponse],
    sizes: &[usize],
) -> Result<(), String> {
    expect_eq(responses.len(), sizes.len(), "number of responses")?;
    for (i, (response, &size)) in responses.iter().zip(sizes).enumerate() {
        check_payload(response.payload.as_ref(), size, &format!("response {i}"))?;
    }
    Ok(())
}

fn add_echo_metadata(metadata: &mut h2grpc::Metadata) -> Result<(), String> {
    metadata
        .insert(ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE)
        .map_err(|e| e.to_string())?;
    metadata
        .insert_bin(ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE)
        .map_err(|e| e.to_string())
}

fn check_echo(
    head: &h2grpc::Metadata,
    trailers: &h2grpc::Metadata,
    what: &str,
) -> Result<(), String> {
    expect_eq(
        head.get(ECHO_INITIAL_KEY),
        Some(ECHO_INITIAL_VALUE),
        &format!("{what} initial metadata {ECHO_INITIAL_KEY}"),
    )?;
    let trailing = trailers
        .get_bin(ECHO_TRAILING_KEY)
        .transpose()
        .map_err(|e| format!("{what} trailing metadata {ECHO_TRAILING_KEY}: {e}"))?;
    expect_eq(
        trailing.as_deref(),
        Some(&ECHO_TRAILING_VALUE[..]),
        &format!("{what} trailing metadata {ECHO_TRAILING_KEY}"),
    )
}

/// `CODE "message"`, the message quoted so whitespace under test is visible.
pub fn describe(status: &Status) -> String {
    format!("{} {:?}", status.code().as_str(), status.message())
}
