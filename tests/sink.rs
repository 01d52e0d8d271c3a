//! `ResponseSink` in the handle style: a second `Echo` implementation
//! (`handle_echo`) whose handlers call `sink.send(&msg).await` in loops,
//! `send_head`, `set_trailers`, `set_send_compression`, `flush`, and move
//! the sink into spawned tasks; checked with our client and, where the wire
//! matters, with raw HTTP/2 frames (`support/h2raw.rs`).
//!
//! Every test is bounded in time ([`bounded`]); every wait inside is too.

mod handle_echo;
mod support;

#[path = "support/h2raw.rs"]
mod h2raw;

use std::future::Future;
use std::io::Read;
use std::sync::atomic::Ordering;
use std::time::Duration;

use h2grpc::{Code, Request, Status};
use prost::Message;
use tokio::time::Instant;

use h2raw::{RawConn, data, field, grpc_head, grpc_message, headers, window_update};
use handle_echo::{BIG, HandleServer, Probe};
use support::echo::eventually;
use support::echo::pb::{EchoRequest, EchoResponse};

const SERVER_STREAM: &str = "/h2grpc.test.Echo/ServerStream";
const BIDI: &str = "/h2grpc.test.Echo/Bidi";

/// The sink takes a message while less than this is waiting (flow::COALESCE_BYTES).
const BATCH_BYTES: usize = 32 * 1024;

/// Runs a test body, failing it if it takes longer than `secs` seconds.
async fn bounded<F: Future>(secs: u64, test: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), test).await {
        Ok(out) => out,
        Err(_) => panic!("test did not finish within {secs} s"),
    }
}

/// A server-streaming request for handler mode `mode`.
fn ask(mode: &str, count: u32, bytes: u32) -> EchoRequest {
    EchoRequest {
        message: mode.to_owned(),
        count,
        response_bytes: bytes,
        ..Default::default()
    }
}

/// A bidi call's request (metadata only) for handler mode `mode`.
fn bidi_mode(mode: &str) -> Request<()> {
    let mut request = Request::new(());
    request.metadata_mut().insert("x-mode", mode).unwrap();
    request
}

fn say(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..Default::default()
    }
}

/// Waits until the handler's completed sends have not moved for `quiet`; returns their number.
async fn sends_settle(probe: &Probe, quiet: Duration) -> usize {
    let mut last = probe.sent();
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = probe.sent();
        if now != last {
            last = now;
            since = Instant::now();
        } else if last > 0 && since.elapsed() >= quiet {
            return last;
        }
    }
}

/// Reads a response stream to its end: the messages and how it ended.
async fn drain(
    stream: &mut h2grpc::Streaming<EchoResponse>,
) -> (Vec<EchoResponse>, Result<(), Status>) {
    let mut got = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(m)) => got.push(m),
            Ok(None) => return (got, Ok(())),
            Err(status) => return (got, Err(status)),
        }
    }
}

fn indices(messages: &[EchoResponse]) -> Vec<u32> {
    messages.iter().map(|m| m.index).collect()
}

/// Splits a response body into gRPC messages (flag, payload); also returns
/// how many bytes were left over after the last whole message.
fn split_messages(mut body: &[u8]) -> (Vec<(u8, Vec<u8>)>, usize) {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        if body.len() < 5 + len {
            break;
        }
        out.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    (out, body.len())
}

/// Opens stream 1 on a new raw connection: `path` with the gRPC head plus
/// `extra` fields, then the request message (END_STREAM) if there is one.
async fn raw_call(
    server: &HandleServer,
    path: &str,
    extra: &[(&str, &str)],
    request: Option<&EchoRequest>,
) -> RawConn {
    let mut conn = RawConn::connect(server.addr).await;
    let mut head = grpc_head(path);
    for (name, value) in extra {
        head.push(field(name, value));
    }
    let mut bytes = headers(1, false, &head);
    if let Some(request) = request {
        bytes.extend_from_slice(&data(1, true, &grpc_message(0, &request.encode_to_vec())));
    }
    assert!(conn.send(&bytes).await, "send the request");
    conn
}

// ───────────────────────── 1. Flow control ─────────────────────────

/// A handler sending 64 KiB messages to a client that does not read is
/// held at the client's stream window plus about one batch, and runs on
/// once the client reads: all messages arrive, in order.
async fn flow_control_holds_the_handler_at_the_window(threads: Option<usize>) {
    const N: u32 = 100;
    let server = HandleServer::start_on(threads).await;
    let client = server.client().await;
    let mut stream = client
        .server_stream(ask("flood", N, BIG))
        .await
        .expect("head")
        .into_inner();
    let stalled = sends_settle(&server.probe, Duration::from_millis(500)).await;
    let window = h2grpc::client::DEFAULT_STREAM_WINDOW_BYTES as usize;
    let bound = (window + 2 * BATCH_BYTES) / BIG as usize + 2;
    eprintln!("flow control ({threads:?}): {stalled} sends completed, bound {bound}");
    assert!(
        stalled <= bound,
        "{stalled} sends of {BIG} B completed against a {window} B window (bound {bound})"
    );
    assert!(
        stalled + 1 >= window / BIG as usize,
        "only {stalled} sends completed: the {window} B window was not used"
    );
    assert!(!server.probe.has("returned"), "{:?}", server.probe.notes());

    let (got, end) = drain(&mut stream).await;
    assert_eq!(end, Ok(()));
    assert_eq!(indices(&got), (0..N).collect::<Vec<_>>());
    assert!(got.iter().all(|m| m.padding.len() == BIG as usize));
    assert_eq!(server.probe.sent(), N as usize);
    eventually("handler returned Ok", || server.probe.has("returned: Ok")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_control_holds_the_handler_at_the_window_then_resumes() {
    bounded(30, flow_control_holds_the_handler_at_the_window(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_control_holds_the_handler_at_the_window_on_connection_threads() {
    bounded(30, flow_control_holds_the_handler_at_the_window(Some(2))).await;
}

/// Flush waits for the window: with the window full, `flush` does not
/// return; once the client reads it does, and the rest follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_the_window_then_hands_everything_over() {
    bounded(30, async {
        const N: u32 = 60;
        let server = HandleServer::start().await;
        let client = server.client().await;
        let mut stream = client
            .server_stream(ask("flush-full", N, BIG))
            .await
            .expect("head")
            .into_inner();
        let probe = &server.probe;
        eventually("flush tried", || probe.has("flush")).await;
        assert!(probe.has("flush blocked"), "{:?}", probe.notes());
        assert!(!probe.has("flushed"), "{:?}", probe.notes());
        let (got, end) = drain(&mut stream).await;
        assert_eq!(end, Ok(()));
        assert_eq!(indices(&got), (0..N).collect::<Vec<_>>());
        assert!(probe.has("flushed"));
    })
    .await;
}

/// Flushed messages reach the client while the handler goes on waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_messages_arrive_while_the_handler_waits() {
    bounded(10, async {
        let server = HandleServer::start().await;
        let client = server.client().await;
        let mut stream = client
            .server_stream(ask("flush", 3, 10))
            .await
            .expect("head")
            .into_inner();
        for i in 0..3 {
            let m = stream.message().await.unwrap().expect("message");
            assert_eq!(m.index, i);
        }
        assert!(server.probe.has("flushed"));
        assert!(!server.probe.has("returned"));
        server.probe.gate.notify_one();
        assert!(stream.message().await.unwrap().is_none());
    })
    .await;
}

// ───────────────────────── 2. Client reset ─────────────────────────

/// The client drops the call while the handler is blocked in `send`: the
/// handler's future is dropped, and the server serves the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reset_while_blocked_in_send_drops_the_handler() {
    bounded(20, async {
        let server = HandleServer::start().await;
        let client = server.client().await;
        let stream = client
            .server_stream(ask("flood", 1000, BIG))
            .await
            .expect("head")
            .into_inner();
        let stalled = sends_settle(&server.probe, Duration::from_millis(300)).await;
        assert!(stalled < 1000);
        assert_eq!(server.probe.active(), 1);
        drop(stream);
        eventually("handler dropped", || server.probe.active() == 0).await;
        assert!(!server.probe.has("returned"), "{:?}", server.probe.notes());

        let mut next = client
            .server_stream(ask("flood", 3, 10))
            .await
            .expect("a new call")
            .into_inner();
        let (got, end) = drain(&mut next).await;
        assert_eq!(end, Ok(()));
        assert_eq!(indices(&got), [0, 1, 2]);
    })
    .await;
}

/// The client drops the call while the handler waits on something other
/// than the sink (a server-streaming handler on a future of its own, a bidi
/// handler in `recv`): the handler is dropped, and the server serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reset_while_the_handler_waits_elsewhere_drops_it() {
    bounded(20, async {
        let server = HandleServer::start().await;
        let client = server.client().await;
        let mut stream = client
            .server_stream(ask("pend", 0, 10))
            .await
            .expect("head")
            .into_inner();
        assert_eq!(stream.message().await.unwrap().expect("one").index, 0);
        eventually("handler waiting", || server.probe.has("waiting")).await;
        drop(stream);
        eventually("server-streaming handler dropped", || {
            server.probe.active() == 0
        })
        .await;

        let mut call = client.bidi(bidi_mode("echo")).await.expect("bidi");
        call.send(&say("one")).await.unwrap();
        assert_eq!(call.recv().await.unwrap().expect("echo").message, "one");
        assert_eq!(server.probe.active(), 1);
        drop(call);
        eventually("bidi handler dropped", || server.probe.active() == 0).await;
        assert!(!server.probe.has("returned"), "{:?}", server.probe.notes());

        let mut call = client.bidi(bidi_mode("echo")).await.expect("bidi again");
        call.send(&say("two")).await.unwrap();
        assert_eq!(call.recv().await.unwrap().expect("echo").message, "two");
        call.close_send().await.unwrap();
        assert!(call.recv().await.unwrap().is_none());
    })
    .await;
}

// ───────────────────────── 3. Deadline ─────────────────────────

/// A handler blocked in `send` (client not reading) past a 300 ms deadline:
/// the server drops it at the deadline and the client gets DEADLINE_EXCEEDED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_while_blocked_in_send_drops_the_handler() {
    bounded(20, async {
        let server = HandleServer::start().await;
        let client = server.client().await;
        let mut request = Request::new(ask("flood", 1000, BIG));
        request.set_timeout(Duration::from_millis(300));
        let started = Instant::now();
        let mut stream = client
            .server_stream(request)
            .await
            .expect("head")
            .into_inner();
        eventually("handler dropped at the deadline", || {
            server.probe.active() == 0
        })
        .await;
        let dropped_after = started.elapsed();
        assert!(
            dropped_after >= Duration::from_millis(250),
            "handler dropped after {dropped_after:?}, before the deadline"
        );
        assert!(server.probe.sent() < 1000);
        assert!(!server.probe.has("returned"), "{:?}", server.probe.notes());
        let (_, end) = drain(&mut stream).await;
        assert_eq!(end.unwrap_err().code(), Code::DeadlineExceeded);
    })
    .await;
}

/// The same on the wire, with a raw client that does not enforce the
/// deadline itself: once it reopens its window it gets what the server had
/// handed to h2, then trailers with grpc-status 4 (DEADLINE_EXCEEDED), and
/// what came before them is whole gRPC messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_on_the_wire_is_whole_messages_then_grpc_status_4() {
    bounded(20, async {
        let server = HandleServer::start().await;
        let request = ask("flood", 1000, BIG);
        let mut conn = raw_call(
            &server,
            SERVER_STREAM,
            &[("grpc-timeout", "300m")],
            Some(&request),
        )
        .await;
        conn.auto_window = false;
        let started = Instant::now();
        while server.probe.active() > 0 || server.probe.started.load(Ordering::SeqCst) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "handler not dropped"
            );
            conn.settle(Duration::from_millis(20)).await;
        }
        assert!(!server.probe.has("returned"), "{:?}", server.probe.notes());
        let log = conn.stream(1);
        assert!(log.head.is_some(), "no response head");
        assert!(
            log.body.len() <= 65_535,
            "{} B past a 65535 B window",
            log.body.len()
        );

        conn.auto_window = true;
        let mut credit = window_update(0, 16 << 20);
        credit.extend_from_slice(&window_update(1, 16 << 20));
        assert!(conn.send(&credit).await);
        conn.wait_stream(1, Duration::from_secs(5)).await;
        let log = conn.stream(1);
        assert!(log.end_stream, "stream not ended: {log:?}");
        assert_eq!(log.grpc_status(), Some(4), "trailers {:?}", log.trailers);
        let (messages, leftover) = split_messages(&log.body);
        let declared = (leftover >= 5).then(|| {
            let p = &log.body[log.body.len() - leftover..];
            5 + u32::from_be_bytes([p[1], p[2], p[3], p[4]]) as usize
        });
        assert_eq!(
            leftover,
            0,
            "{} B of DATA: {} whole messages, then {leftover} B of a {declared:?} B message \
             (truncated) before the grpc-status 4 trailers",
            log.body.len(),
            messages.len()
        );
    })
    .await;
}

// ───────────────────────── 4. Send limit ─────────────────────────

/// A send over `max_send_message_size` fails with RESOURCE_EXHAUSTED (and
/// so does every later send); the call ends with RESOURCE_EXHAUSTED though
/// the handler ignored the errors and returned Ok; the messages before it arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_over_the_limit_fails_the_send_and_the_call() {
    bounded(10, async {
        let server = HandleServer::start_with(|b| b.max_send_message_size(1024)).await;
        let client = server.client().await;
        let mut stream = client
            .server_stream(ask("oversize", 0, 4096))
            .await
            .expect("head")
            .into_inner();
        let (got, end) = drain(&mut stream).await;
        assert_eq!(indices(&got), [0, 1, 2]);
        let status = end.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        let probe = &server.probe;
        eventually("handler returned", || probe.has("returned")).await;
        assert_eq!(
            probe.find("oversize").as_deref(),
            Some("oversize: Err(RESOURCE_EXHAUSTED)")
        );
        assert_eq!(
            probe.find("after").as_deref(),
            Some("after: Err(RESOURCE_EXHAUSTED)")
        );
        assert_eq!(probe.find("returned").as_deref(), Some("returned: Ok"));
    })
    .await;
}

// ───────────────────────── 5. Head and trailers ─────────────────────────

/// `send_head` before any message: the client has the head (and its
/// metadata) while the handler has sent nothing; a second `send_head`
/// fails; `set_trailers` reaches the client's `trailers()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stream_send_head_then_trailers() {
    bounded(10, async {
        let server = HandleServer::start().await;
        let client = server.client().await;
        let response = client
            .server_stream(ask("head", 2, 10))
            .await
            .expect("head before any message");
        assert_eq!(response.metadata().get("x-head"), Some("early"));
        assert_eq!(server.probe.sent(), 0);
        assert!(server.probe.has("head sent"));
        assert_eq!(
            server.probe.find("second send_head").as_deref(),
            Some("second send_head: Err(INTERNAL)")
        );
        server.probe.gate.notify_one();
        let mut stream = response.into_inner();
        let (got, end) = drain(&mut stream).await;
        assert_eq!(end, Ok(()));
        assert_eq!(indices(&got), [0, 1]);
        let trailers = stream.trailers().expect("trailers");
        assert_eq!(trailers.get("x-trailer"), Some("late"));
    })
    .await;
}

/// An `Err` returned after `set_trailers`: the client gets both the status
/// and the trailers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stream_error_with_trailers_delivers_both() {
    bounded(10, async {
        let server = HandleServer::start().await;
        let client = server.client().await;
        let request = EchoRequest {
            fail_code: Code::Aborted as i32,
            fail_message: "after trailers".to_owned(),
            ..ask("head", 1, 10)
        };
        let response = client.server_stream(request).await.expect("head");
        server.probe.gate.notify_one();
        let mut stream = response.into_inner();
        let (got, end) = drain(&mut stream).await;
        assert_eq!(indices(&got), [0]);
        let status = end.unwrap_err();
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(status.message(), "after trailers");
        assert_eq!(status.metadata().get("x-trailer"), Some("late"));
        assert_eq!(
            stream.trailers().and_then(|t| t.get("x-trailer")),
            Some("late")
        );
    })
    .await;
}

/// Bidi through the call handle: `head().await` sees the `send_head`
/// metadata before the handler has read or sent anything; trailers after;
/// and with `x-fail`, the error and the trailers both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_send_head_then_trailers_and_error_with_trailers() {
    bounded(10, async {
        let server = HandleServer::start().await;
        let client = server.client().await;
        for fail in [false, true] {
            let mut request = bidi_mode("head");
            if fail {
                request.metadata_mut().insert("x-fail", "1").unwrap();
            }
            let mut call = client.bidi(request).await.expect("bidi");
            let head = call.head().await.expect("head before any message");
            assert_eq!(head.get("x-head"), Some("early"));
            assert_eq!(server.probe.sent(), 0);
            server.probe.gate.notify_one();
            call.send(&say("a")).await.unwrap();
            assert_eq!(call.recv().await.unwrap().expect("echo").message, "a");
            call.close_send().await.unwrap();
            match (fail, call.recv().await) {
                (false, Ok(None)) => {}
                (true, Err(status)) => {
                    assert_eq!(status.code(), Code::Aborted);
                    assert_eq!(status.metadata().get("x-trailer"), Some("late"));
                }
                (_, other) => panic!("fail={fail}: unexpected end {other:?}"),
            }
            assert_eq!(
                call.trailers().and_then(|t| t.get("x-trailer")),
                Some("late")
            );
        }
    })
    .await;
}

// ───────────────────────── 6. Trailers-Only and the bidi head ─────────────────────────

/// A server-streaming handler that fails before sending or waiting answers
/// Trailers-Only: one HEADERS frame, END_STREAM, grpc-status (and its
/// trailers) in it, no DATA.
#[tokio::test]
async fn server_stream_failing_at_once_is_trailers_only_on_the_wire() {
    bounded(10, async {
        let server = HandleServer::start().await;
        let request = EchoRequest {
            fail_code: Code::FailedPrecondition as i32,
            fail_message: "no".to_owned(),
            ..ask("fail-now", 0, 0)
        };
        let mut conn = raw_call(&server, SERVER_STREAM, &[], Some(&request)).await;
        conn.wait_stream(1, Duration::from_secs(5)).await;
        let log = conn.stream(1);
        assert!(log.end_stream, "{log:?}");
        assert!(log.trailers.is_none(), "a second header block: {log:?}");
        assert_eq!(log.data_frames, 0, "{log:?}");
        assert_eq!(log.head_value(":status").as_deref(), Some("200"));
        assert_eq!(log.head_value("grpc-status").as_deref(), Some("9"));
        assert_eq!(log.head_value("x-trailer").as_deref(), Some("only"));
        assert_eq!(log.reset, None);
    })
    .await;
}

/// A bidi handler that fails before reading answers Trailers-Only, even
/// though the client has not finished (or even started) sending.
#[tokio::test]
async fn bidi_failing_before_reading_is_trailers_only_on_the_wire() {
    bounded(10, async {
        let server = HandleServer::start().await;
        let mut conn = raw_call(&server, BIDI, &[("x-mode", "fail-before-read")], None).await;
        conn.wait_for(Duration::from_secs(5), |c| c.stream(1).head.is_some())
            .await;
        conn.settle(Duration::from_millis(100)).await;
        let log = conn.stream(1);
        assert!(log.end_stream, "{log:?}");
        assert!(log.trailers.is_none(), "a second header block: {log:?}");
        assert_eq!(log.data_frames, 0);
        assert_eq!(log.head_value("grpc-status").as_deref(), Some("7"));
        assert_eq!(log.head_value("x-trailer").as_deref(), Some("only"));
    })
    .await;
}

/// A bidi handler that reads first sends its response head before the
/// client has sent any request message: HEADERS without END_STREAM within
/// 1 s of a request head with no DATA. Then the call completes normally.
#[tokio::test]
async fn bidi_reading_first_sends_the_head_before_any_request_message() {
    bounded(10, async {
        let server = HandleServer::start().await;
        let mut conn = raw_call(&server, BIDI, &[("x-mode", "echo")], None).await;
        let headed = conn
            .wait_for(Duration::from_secs(1), |c| c.stream(1).head.is_some())
            .await;
        assert!(headed, "no response head within 1 s: {:?}", conn.stream(1));
        let log = conn.stream(1);
        assert_eq!(log.head_value(":status").as_deref(), Some("200"));
        assert_eq!(log.head_value("grpc-status"), None);
        assert!(!log.end_stream);
        assert_eq!(log.data_frames, 0);

        let message = grpc_message(0, &say("late").encode_to_vec());
        assert!(conn.send(&data(1, true, &message)).await);
        conn.wait_stream(1, Duration::from_secs(5)).await;
        let log = conn.stream(1);
        assert_eq!(log.grpc_status(), Some(0));
        let (messages, leftover) = split_messages(&log.body);
        assert_eq!(leftover, 0);
        assert_eq!(messages.len(), 1);
        let echoed = EchoResponse::decode(&messages[0].1[..]).unwrap();
        assert_eq!(echoed.message, "late");
    })
    .await;
}

/// The same with our client: the handle's `head().await` returns before it
/// has sent anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_reading_first_head_reaches_our_client_before_it_sends() {
    bounded(10, async {
        let server = HandleServer::start().await;
        let client = server.client().await;
        let mut call = client.bidi(bidi_mode("echo")).await.expect("bidi");
        tokio::time::timeout(Duration::from_secs(1), call.head())
            .await
            .expect("head within 1 s")
            .expect("head");
        call.send(&say("x")).await.unwrap();
        assert_eq!(call.recv().await.unwrap().expect("echo").message, "x");
        call.close_send().await.unwrap();
        assert!(call.recv().await.unwrap().is_none());
    })
    .await;
}

// ───────────────────────── 7. Compression ─────────────────────────

/// `set_send_compression(Gzip)` to a client that accepts gzip: messages
/// arrive compressed, but the one sent with the toggle off arrives plain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_with_one_message_toggled_plain() {
    bounded(10, async {
        let server = HandleServer::start().await;
        let client = server.client().await;
        let mut stream = client
            .server_stream(ask("gzip", 0, 4096))
            .await
            .expect("head")
            .into_inner();
        let mut flags = Vec::new();
        while let Some(m) = stream.message().await.unwrap() {
            assert_eq!(m.padding.len(), 4096);
            flags.push((m.index, stream.last_message_compressed()));
        }
        assert_eq!(flags, [(0, true), (1, false), (2, true)]);
    })
    .await;
}

/// On the wire: `grpc-encoding: gzip` in the head and flags 1, 0, 1 (the
/// compressed ones gunzip to the message) for a client that accepts gzip;
/// no `grpc-encoding` and flags 0, 0, 0 for one that does not.
#[tokio::test]
async fn gzip_on_the_wire_only_when_accepted() {
    bounded(10, async {
        let server = HandleServer::start().await;
        for accepts in [true, false] {
            let extra: &[(&str, &str)] = if accepts {
                &[("grpc-accept-encoding", "gzip")]
            } else {
                &[]
            };
            let request = ask("gzip", 0, 4096);
            let mut conn = raw_call(&server, SERVER_STREAM, extra, Some(&request)).await;
            conn.wait_stream(1, Duration::from_secs(5)).await;
            let log = conn.stream(1);
            assert_eq!(log.grpc_status(), Some(0), "{log:?}");
            let (messages, leftover) = split_messages(&log.body);
            assert_eq!(leftover, 0);
            let flags: Vec<u8> = messages.iter().map(|(flag, _)| *flag).collect();
            if accepts {
                assert_eq!(log.head_value("grpc-encoding").as_deref(), Some("gzip"));
                assert_eq!(flags, [1, 0, 1]);
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&messages[0].1[..])
                    .read_to_end(&mut plain)
                    .unwrap();
                assert_eq!(
                    EchoResponse::decode(&plain[..]).unwrap().padding.len(),
                    4096
                );
                assert!(
                    messages[0].1.len() < 1024,
                    "gzip did not shrink 4 KiB of 0xab"
                );
            } else {
                assert_eq!(log.head_value("grpc-encoding"), None);
                assert_eq!(flags, [0, 0, 0]);
            }
        }
    })
    .await;
}

// ───────────────────────── 8. Cross-task ─────────────────────────

/// The handler moves the sink into a spawned task that sends 1000
/// messages, and returns after joining it: all arrive, in order.
async fn spawned_task_sends_everything(threads: Option<usize>) {
    const N: u32 = 1000;
    let server = HandleServer::start_on(threads).await;
    let client = server.client().await;
    let mut stream = client
        .server_stream(ask("spawn", N, 100))
        .await
        .expect("head")
        .into_inner();
    let (got, end) = drain(&mut stream).await;
    assert_eq!(end, Ok(()));
    assert_eq!(indices(&got), (0..N).collect::<Vec<_>>());
    let notes = server.probe.notes();
    assert_eq!(
        notes,
        ["task done: Ok", "joined", "returned: Ok"],
        "handler order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_task_sends_1000_in_order() {
    bounded(20, spawned_task_sends_everything(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_task_sends_1000_in_order_on_connection_threads() {
    bounded(20, spawned_task_sends_everything(Some(2))).await;
}

/// Bidi: the handler reads, a spawned task owning the sink answers.
async fn bidi_spawned_task_answers(threads: Option<usize>) {
    const N: usize = 200;
    let server = HandleServer::start_on(threads).await;
    let client = server.client().await;
    let mut call = client.bidi(bidi_mode("spawn")).await.expect("bidi");
    for i in 0..N {
        call.send(&say(&format!("m{i}"))).await.unwrap();
    }
    call.close_send().await.unwrap();
    let mut got = Vec::new();
    while let Some(m) = call.recv().await.unwrap() {
        got.push((m.index as usize, m.message));
    }
    let want: Vec<_> = (0..N).map(|i| (i, format!("m{i}"))).collect();
    assert_eq!(got, want);
    eventually("handler returned", || server.probe.has("returned: Ok")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_spawned_task_answers_in_order() {
    bounded(20, bidi_spawned_task_answers(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_spawned_task_answers_in_order_on_connection_threads() {
    bounded(20, bidi_spawned_task_answers(Some(2))).await;
}

/// A spawned task that keeps the sink after the handler returned (and the
/// call ended): its next send, flush and send_head fail.
async fn sink_kept_after_the_call_fails(threads: Option<usize>) {
    let server = HandleServer::start_on(threads).await;
    let client = server.client().await;
    let mut stream = client
        .server_stream(ask("orphan", 3, 10))
        .await
        .expect("head")
        .into_inner();
    let (got, end) = drain(&mut stream).await;
    assert_eq!(end, Ok(()));
    assert_eq!(indices(&got), [0, 1, 2]);
    let probe = &server.probe;
    assert_eq!(probe.find("returned").as_deref(), Some("returned: Ok"));
    // The client has seen the trailers; give the call task its last
    // instructions (it closes the sink right after writing them).
    tokio::time::sleep(Duration::from_millis(50)).await;
    probe.gate.notify_one();
    eventually("late send tried", || probe.has("late send_head")).await;
    assert_eq!(
        probe.find("late send:").as_deref(),
        Some("late send: Err(CANCELLED)")
    );
    assert_eq!(
        probe.find("late flush").as_deref(),
        Some("late flush: Err(CANCELLED)")
    );
    assert_eq!(
        probe.find("late send_head").as_deref(),
        Some("late send_head: Err(CANCELLED)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_kept_after_the_call_ended_fails_its_next_send() {
    bounded(10, sink_kept_after_the_call_fails(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_kept_after_the_call_ended_fails_its_next_send_on_connection_threads() {
    bounded(10, sink_kept_after_the_call_fails(Some(2))).await;
}

/// A spawned task sends after the handler returned, while the call is still
/// draining earlier messages into a full window: the send must either fail
/// or its message must reach the client — a send that returns Ok must not
/// be lost.
async fn send_after_return_while_draining(threads: Option<usize>) {
    let server = HandleServer::start_on(threads).await;
    let client = server.client().await;
    let mut stream = client
        .server_stream(ask("orphan-drain", 0, BIG))
        .await
        .expect("head")
        .into_inner();
    let probe = &server.probe;
    eventually("late send tried", || probe.has("late send")).await;
    let stalled = probe.find("stalled at").expect("stalled");
    let late = probe.find("late send").unwrap();
    let i: u32 = stalled["stalled at ".len()..].parse().unwrap();
    assert_eq!(probe.find("returned").as_deref(), Some("returned: Ok"));
    let (got, end) = drain(&mut stream).await;
    assert_eq!(end, Ok(()));
    eprintln!(
        "orphan-drain ({threads:?}): {stalled}; {late}; client got {} messages",
        got.len()
    );
    if late.ends_with(": Ok") {
        assert_eq!(
            indices(&got),
            (0..=i).collect::<Vec<_>>(),
            "`{late}` returned Ok after the handler returned, but message {i} never arrived"
        );
    } else {
        assert_eq!(indices(&got), (0..i).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_after_the_handler_returned_is_not_silently_lost() {
    bounded(20, send_after_return_while_draining(None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_after_the_handler_returned_is_not_silently_lost_on_connection_threads() {
    bounded(20, send_after_return_while_draining(Some(2))).await;
}

/// A spawned task blocked in `send` (window full) when the call ends under
/// it, by a client reset or by the deadline: the handler (joining it) is
/// dropped, and the task is woken with the call's end as its send's error
/// instead of waiting forever.
async fn spawned_task_blocked_in_send_learns_the_end(threads: Option<usize>, deadline: bool) {
    let server = HandleServer::start_on(threads).await;
    let client = server.client().await;
    let mut request = Request::new(ask("spawn", 1000, BIG));
    if deadline {
        request.set_timeout(Duration::from_millis(300));
    }
    let stream = client
        .server_stream(request)
        .await
        .expect("head")
        .into_inner();
    let probe = &server.probe;
    let stalled = sends_settle(probe, Duration::from_millis(200)).await;
    assert!(stalled < 1000);
    if !deadline {
        drop(stream);
    }
    eventually("the task's send failed", || probe.has("task done")).await;
    eventually("handler dropped", || probe.active() == 0).await;
    let want = if deadline {
        "task done: Err(DEADLINE_EXCEEDED)"
    } else {
        "task done: Err(CANCELLED)"
    };
    assert_eq!(probe.find("task done").as_deref(), Some(want));
    assert!(!probe.has("joined"), "{:?}", probe.notes());
    assert!(!probe.has("returned"), "{:?}", probe.notes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_task_blocked_in_send_is_woken_by_a_client_reset() {
    bounded(20, spawned_task_blocked_in_send_learns_the_end(None, false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_task_blocked_in_send_is_woken_by_a_client_reset_on_connection_threads() {
    bounded(
        20,
        spawned_task_blocked_in_send_learns_the_end(Some(2), false),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_task_blocked_in_send_is_woken_by_the_deadline() {
    bounded(20, spawned_task_blocked_in_send_learns_the_end(None, true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_task_blocked_in_send_is_woken_by_the_deadline_on_connection_threads() {
    bounded(
        20,
        spawned_task_blocked_in_send_learns_the_end(Some(2), true),
    )
    .await;
}

// ───────────────────────── 9. Batching ─────────────────────────

/// 1000 small messages sent in a tight loop leave in far fewer DATA frames.
#[tokio::test]
async fn small_messages_in_a_tight_loop_are_batched() {
    bounded(10, async {
        const N: usize = 1000;
        let server = HandleServer::start().await;
        let request = ask("flood", N as u32, 100);
        let mut conn = raw_call(&server, SERVER_STREAM, &[], Some(&request)).await;
        conn.wait_stream(1, Duration::from_secs(5)).await;
        let log = conn.stream(1);
        assert_eq!(log.grpc_status(), Some(0), "{log:?}");
        let (messages, leftover) = split_messages(&log.body);
        assert_eq!(leftover, 0);
        assert_eq!(messages.len(), N);
        for (i, (flag, payload)) in messages.iter().enumerate() {
            assert_eq!(*flag, 0);
            assert_eq!(EchoResponse::decode(&payload[..]).unwrap().index, i as u32);
        }
        eprintln!("batching: {N} messages in {} DATA frames", log.data_frames);
        assert!(
            log.data_frames < 100,
            "{N} messages took {} DATA frames",
            log.data_frames
        );
    })
    .await;
}
