//! End to end over loopback: our client against our server, every pattern,
//! deadlines, cancellation, limits, metadata, trailers, shutdown.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use h2grpc::client::Channel;
use h2grpc::codec::ProstCodec;
use h2grpc::{Code, Request};
use support::echo::pb::echo_client::EchoClient;
use support::echo::pb::{EchoRequest, EchoResponse};
use support::echo::{TestServer, eventually};

fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
}

async fn client(server: &TestServer) -> EchoClient {
    EchoClient::connect(&server.uri()).await.expect("connect")
}

const SPECIAL: &str = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

#[tokio::test]
async fn unary_round_trip_with_metadata_both_ways() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let mut request = Request::new(req("hello"));
    request
        .metadata_mut()
        .insert("x-echo", "ascii value")
        .unwrap();
    request
        .metadata_mut()
        .insert_bin("x-echo-bin", b"\x00\x01\xfe\xff")
        .unwrap();
    let response = client.unary(request).await.expect("unary");
    assert_eq!(response.get_ref().message, "hello");
    assert_eq!(response.metadata().get("x-echo"), Some("ascii value"));
    let bin = response
        .trailers()
        .get_bin("x-echo-bin")
        .expect("trailer")
        .expect("base64");
    assert_eq!(&bin[..], b"\x00\x01\xfe\xff");
}

#[tokio::test]
async fn unary_error_status_and_special_message() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let request = EchoRequest {
        fail_code: Code::FailedPrecondition as i32,
        fail_message: SPECIAL.into(),
        ..req("x")
    };
    let status = client.unary(request).await.expect_err("must fail");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), SPECIAL);
}

/// Asks for `count` streamed replies and checks they arrive, all of them, in order.
async fn server_stream_in_order(client: &EchoClient, count: u32) {
    let mut stream = client
        .server_stream(EchoRequest { count, ..req("s") })
        .await
        .unwrap()
        .into_inner();
    let mut seen = 0;
    while let Some(item) = stream.message().await.unwrap() {
        assert_eq!(item.index, seen);
        seen += 1;
    }
    assert_eq!(seen, count);
}

#[tokio::test]
async fn server_streaming_in_order_then_status() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    server_stream_in_order(&client, 100).await;

    // Messages, then a non-OK status in the trailers.
    let request = EchoRequest {
        count: 3,
        fail_code: Code::Aborted as i32,
        fail_message: "late".into(),
        ..req("s")
    };
    let mut stream = client.server_stream(request).await.unwrap().into_inner();
    for i in 0..3 {
        assert_eq!(stream.message().await.unwrap().unwrap().index, i);
    }
    let status = stream.message().await.expect_err("status after messages");
    assert_eq!((status.code(), status.message()), (Code::Aborted, "late"));
    assert!(
        stream.message().await.unwrap().is_none(),
        "stream is over after its status"
    );
}

#[tokio::test]
async fn server_streaming_empty_is_ok() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let mut stream = client
        .server_stream(EchoRequest {
            count: 0,
            ..req("s")
        })
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_none());
}

#[tokio::test]
async fn client_streaming_collects_all() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let input = futures::stream::iter((0..10).map(|i| req(&i.to_string())));
    let response = client
        .client_stream_stream(input)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.message, "0,1,2,3,4,5,6,7,8,9");
    assert_eq!(response.index, 10);
}

#[tokio::test]
async fn client_streaming_many_batches_arrive_whole_and_in_order() {
    // ~330 KiB of requests: the pump sends 32 KiB batches cut at frame
    // boundaries, so most messages straddle two DATA frames or two batches.
    let server = TestServer::start().await;
    let client = client(&server).await;
    let n = 3000;
    let input = futures::stream::iter((0..n).map(|i| req(&format!("{i:0100}"))));
    let response = client
        .client_stream_stream(input)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.index, n);
    let expected: Vec<String> = (0..n).map(|i| format!("{i:0100}")).collect();
    assert_eq!(response.message, expected.join(","));
}

#[tokio::test]
async fn client_streaming_empty_input() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let response = client
        .client_stream_stream(futures::stream::empty())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.message.as_str(), response.index), ("", 0));
}

#[tokio::test]
async fn client_streaming_server_replies_before_input_ends() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    // Two messages, then the client keeps the stream open forever.
    let input =
        futures::stream::iter(vec![req("a"), req("stop")]).chain(futures::stream::pending());
    let response = tokio::time::timeout(Duration::from_secs(5), client.client_stream_stream(input))
        .await
        .expect("the early reply must end the call")
        .unwrap();
    assert_eq!(response.get_ref().message, "a");
}

#[tokio::test]
async fn bidi_ping_pong_interleaves() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let (tx, rx) = futures::channel::mpsc::unbounded();
    tx.unbounded_send(req("ping-0")).unwrap();
    let mut responses = client.bidi_stream(rx).await.unwrap().into_inner();
    for i in 0..20u32 {
        let got = responses
            .message()
            .await
            .unwrap()
            .expect("a reply per request");
        assert_eq!((got.message.clone(), got.index), (format!("ping-{i}"), i));
        if i < 19 {
            tx.unbounded_send(req(&format!("ping-{}", i + 1))).unwrap();
        }
    }
    drop(tx); // half-close
    assert!(responses.message().await.unwrap().is_none());
}

#[tokio::test]
async fn bidi_server_finishes_before_client_half_closes() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let (tx, rx) = futures::channel::mpsc::unbounded();
    tx.unbounded_send(req("one")).unwrap();
    tx.unbounded_send(req("stop")).unwrap();
    let mut responses = client.bidi_stream(rx).await.unwrap().into_inner();
    assert_eq!(responses.message().await.unwrap().unwrap().message, "one");
    // The server ended its half with OK while ours is still open.
    let end = tokio::time::timeout(Duration::from_secs(5), responses.message())
        .await
        .expect("ends");
    assert!(end.unwrap().is_none());
    drop(tx);
}

#[tokio::test]
async fn deadline_exceeded_locally_and_handler_cancelled() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let mut request = Request::new(EchoRequest {
        delay_ms: 10_000,
        ..req("slow")
    });
    request.set_timeout(Duration::from_millis(100));
    let started = std::time::Instant::now();
    let status = client.unary(request).await.expect_err("deadline");
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(5));
    let active = server.service.active.clone();
    eventually("slow handler cancelled", || {
        active.load(Ordering::SeqCst) == 0
    })
    .await;
}

#[tokio::test]
async fn deadline_on_streams() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let mut request = Request::new(EchoRequest {
        count: 1000,
        delay_ms: 50,
        ..req("slow")
    });
    request.set_timeout(Duration::from_millis(300));
    let mut stream = client.server_stream(request).await.unwrap().into_inner();
    let mut got = 0;
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => got += 1,
            Ok(None) => panic!("stream should not finish"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(got < 1000);
    let active = server.service.active.clone();
    eventually("stream handler cancelled", || {
        active.load(Ordering::SeqCst) == 0
    })
    .await;
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_handler() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let mut stream = client
        .server_stream(EchoRequest {
            count: 1_000_000,
            delay_ms: 5,
            ..req("x")
        })
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    assert_eq!(server.service.active.load(Ordering::SeqCst), 1);
    drop(stream);
    let active = server.service.active.clone();
    eventually("handler dropped after RST_STREAM", || {
        active.load(Ordering::SeqCst) == 0
    })
    .await;

    // Same for a bidi call whose client goes away mid-stream.
    let (tx, rx) = futures::channel::mpsc::unbounded();
    tx.unbounded_send(req("a")).unwrap();
    let mut responses = client.bidi_stream(rx).await.unwrap().into_inner();
    responses.message().await.unwrap().unwrap();
    drop(responses);
    eventually("bidi handler dropped", || {
        active.load(Ordering::SeqCst) == 0
    })
    .await;
    drop(tx);
}

#[tokio::test]
async fn unknown_method_and_service_are_unimplemented() {
    let server = TestServer::start().await;
    let channel = Channel::connect(&server.uri()).await.unwrap();
    let codec = ProstCodec::<EchoRequest, EchoResponse>::default();
    let status = channel
        .unary("/h2grpc.test.Echo/Nope", Request::new(req("x")), codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    let codec = ProstCodec::<EchoRequest, EchoResponse>::default();
    let status = channel
        .unary("/no.Such/Unary", Request::new(req("x")), codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    // Streaming calls see the same status.
    let codec = ProstCodec::<EchoRequest, EchoResponse>::default();
    let status = channel
        .server_streaming("/no.Such/Stream", Request::new(req("x")), codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
}

#[tokio::test]
async fn oversized_messages_are_resource_exhausted() {
    let server = TestServer::start_with(|b| b.max_recv_message_size(1024)).await;
    let client = client(&server).await;
    let status = client.unary(req(&"x".repeat(2000))).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    // The server keeps serving.
    assert_eq!(
        client.unary(req("small")).await.unwrap().get_ref().message,
        "small"
    );

    // Client-side receive limit.
    let channel = Channel::builder(&server.uri())
        .max_recv_message_size(1000)
        .connect()
        .await
        .unwrap();
    let client = EchoClient::new(channel);
    let status = client
        .unary(EchoRequest {
            response_bytes: 5000,
            ..req("big")
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
}

#[tokio::test]
async fn large_messages_cross_many_windows() {
    let server = TestServer::start_with(|b| b.max_recv_message_size(16 << 20)).await;
    let channel = Channel::builder(&server.uri())
        .max_recv_message_size(16 << 20)
        .connect()
        .await
        .unwrap();
    let client = EchoClient::new(channel);
    let big = "y".repeat(6 << 20);
    let response = client
        .unary(EchoRequest {
            response_bytes: 6 << 20,
            ..req(&big)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.message.len(), 6 << 20);
    assert_eq!(response.padding.len(), 6 << 20);
}

#[tokio::test]
async fn panicking_handler_is_unknown_and_server_survives() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let status = client
        .unary(EchoRequest {
            panic: true,
            ..req("boom")
        })
        .await
        .unwrap_err();
    // statuscodes.md: an application that throws instead of returning a status → UNKNOWN.
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert_eq!(
        client.unary(req("after")).await.unwrap().get_ref().message,
        "after"
    );
}

/// A response stream that panics after its first message: the call ends
/// with UNKNOWN (the message already sent stays delivered), and the
/// connection goes on serving, on the default runtime and on connection
/// threads (where the call's first poll runs on the connection's own task).
#[tokio::test]
async fn panicking_response_stream_is_unknown_and_connection_survives() {
    for threads in [None, Some(1)] {
        let server = TestServer::start_with(|b| match threads {
            Some(n) => b.connection_threads(n),
            None => b,
        })
        .await;
        let client = client(&server).await;
        let mut stream = client
            .server_stream(EchoRequest {
                count: 5,
                panic: true,
                ..req("boom")
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stream.message().await.unwrap().unwrap().index, 0);
        let status = stream.message().await.unwrap_err();
        assert_eq!(status.code(), Code::Unknown, "{threads:?}: {status:?}");
        assert_eq!(
            client.unary(req("after")).await.unwrap().get_ref().message,
            "after",
            "{threads:?}"
        );
        let active = server.service.active.clone();
        eventually("stream handler dropped", || {
            active.load(Ordering::SeqCst) == 0
        })
        .await;
    }
}

#[tokio::test]
async fn thousand_concurrent_calls_on_one_channel() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let calls = (0..1000).map(|i| {
        let client = client.clone();
        async move {
            client
                .unary(EchoRequest {
                    delay_ms: 20,
                    ..req(&i.to_string())
                })
                .await
        }
    });
    let results = futures::future::join_all(calls).await;
    for (i, result) in results.into_iter().enumerate() {
        assert_eq!(result.expect("call").get_ref().message, i.to_string());
    }
}

/// Starts a 300 ms call, shuts the server down while it runs, and checks
/// that the call completes and the server then stops.
async fn shut_down_during_a_call(server: &mut TestServer, client: &EchoClient) {
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .unary(EchoRequest {
                    delay_ms: 300,
                    ..req("late")
                })
                .await
        })
    };
    let active = server.service.active.clone();
    eventually("call started", || active.load(Ordering::SeqCst) == 1).await;
    let serve = server.shutdown();
    let response = in_flight.await.unwrap().expect("in-flight call completes");
    assert_eq!(response.get_ref().message, "late");
    tokio::time::timeout(Duration::from_secs(5), serve)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_calls() {
    let mut server = TestServer::start().await;
    let client = client(&server).await;
    shut_down_during_a_call(&mut server, &client).await;
    // Nothing listens any more: a new call fails with UNAVAILABLE.
    let status = client.unary(req("after")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status}");
}

#[tokio::test]
async fn channel_reconnects_after_connection_loss() {
    let mut server = TestServer::start().await;
    let addr = server.addr;
    let client = client(&server).await;
    client.unary(req("first")).await.unwrap();
    let serve = server.shutdown();
    serve.await.unwrap().unwrap();
    let status = client.unary(req("while down")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);

    // A new server on the same address: the same channel dials again.
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let service = support::echo::EchoService::default();
    let task = tokio::spawn(
        h2grpc::server::Server::builder()
            .add_service(support::echo::pb::echo_server::EchoServer::new(service))
            .serve_with_listener(listener, std::future::pending()),
    );
    assert_eq!(
        client.unary(req("again")).await.unwrap().get_ref().message,
        "again"
    );
    task.abort();
}

#[tokio::test]
async fn connect_to_nothing_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let status = Channel::connect(&format!("http://{addr}"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let lazy = Channel::connect_lazy(&format!("http://{addr}")).unwrap();
    let status = EchoClient::new(lazy).unary(req("x")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn gzip_both_ways_and_per_message_toggle() {
    use h2grpc::compression::Encoding;
    let server = TestServer::start().await;
    let client = client(&server).await;

    // Compressed request; the server reports it saw flag 1, and answers gzip when asked.
    let mut request = Request::new(req(&"compress me ".repeat(100)));
    request.set_send_compression(Encoding::Gzip);
    request.metadata_mut().insert("x-want-gzip", "1").unwrap();
    let response = client.unary(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-request-compressed"),
        Some("true")
    );
    assert!(response.message_compressed());
    assert_eq!(response.get_ref().message, "compress me ".repeat(100));

    // Same call with the toggle off: grpc-encoding is gzip but the message goes plain.
    let mut request = Request::new(req("plain"));
    request.set_send_compression(Encoding::Gzip);
    request.compression_toggle().set(false);
    let response = client.unary(request).await.unwrap();
    assert_eq!(
        response.metadata().get("x-request-compressed"),
        Some("false")
    );
    assert!(!response.message_compressed());

    // Client streaming with gzip: every message compressed, server decodes them all.
    let mut request = Request::new(futures::stream::iter((0..5).map(|i| req(&i.to_string()))));
    request.set_send_compression(Encoding::Gzip);
    let response = client.client_stream_stream(request).await.unwrap();
    assert_eq!(response.get_ref().message, "0,1,2,3,4");
}

#[tokio::test]
async fn server_default_gzip_only_when_client_accepts() {
    use h2grpc::compression::Encoding;
    let server = TestServer::start_with(|b| b.send_compression(Encoding::Gzip)).await;
    let client = client(&server).await;
    let response = client.unary(req("x")).await.unwrap();
    // Our client advertises grpc-accept-encoding: gzip, so the server compresses.
    assert!(response.message_compressed());
    let mut stream = client
        .server_stream(EchoRequest {
            count: 3,
            ..req("s")
        })
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {
        assert!(stream.last_message_compressed());
    }
}

#[tokio::test]
async fn decompressed_size_limit_applies() {
    use h2grpc::compression::Encoding;
    let server = TestServer::start_with(|b| b.max_recv_message_size(64 * 1024)).await;
    let client = client(&server).await;
    // ~1 MiB of one letter compresses to ~1 KiB: under the limit on the wire, over it inflated.
    let mut request = Request::new(req(&"z".repeat(1 << 20)));
    request.set_send_compression(Encoding::Gzip);
    let status = client.unary(request).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
}

#[tokio::test]
async fn client_going_away_cancels_unary_and_client_streaming_handlers() {
    let server = TestServer::start().await;
    let client = client(&server).await;
    let active = server.service.active.clone();

    // Unary: the call future is dropped while the handler sleeps.
    let call = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .unary(EchoRequest {
                    delay_ms: 60_000,
                    ..req("x")
                })
                .await
        })
    };
    eventually("unary handler running", || {
        active.load(Ordering::SeqCst) == 1
    })
    .await;
    call.abort();
    eventually("unary handler cancelled", || {
        active.load(Ordering::SeqCst) == 0
    })
    .await;

    // Client streaming: one message sent, then the client disappears mid-stream.
    let input = futures::stream::iter(vec![req("a")]).chain(futures::stream::pending());
    let call = {
        let client = client.clone();
        tokio::spawn(async move { client.client_stream_stream(input).await })
    };
    eventually("client-stream handler running", || {
        active.load(Ordering::SeqCst) == 1
    })
    .await;
    call.abort();
    eventually("client-stream handler cancelled", || {
        active.load(Ordering::SeqCst) == 0
    })
    .await;

    // And the server still serves the same channel.
    assert_eq!(
        client.unary(req("after")).await.unwrap().get_ref().message,
        "after"
    );
}

#[tokio::test]
async fn many_cancelled_calls_do_not_kill_the_channel() {
    // Regression (found by tests/soak.rs): every cancelled stream whose late
    // frames h2 had forgotten counted towards h2's lifetime limit of 1024
    // "local error resets", after which it closed the whole connection with
    // GOAWAY ENHANCE_YOUR_CALM, failing every call on it.
    let server = TestServer::start().await;
    let client = client(&server).await;
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let (client, failures) = (client.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let request = EchoRequest {
                    count: 3_000,
                    ..req(&format!("{worker}-{i}"))
                };
                match client.server_stream(request).await {
                    // Read one message, then drop the stream: the server is still sending.
                    Ok(response) => {
                        let mut stream = response.into_inner();
                        if stream.message().await.is_err() {
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(_) => {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    assert_eq!(
        client
            .unary(req("still here"))
            .await
            .unwrap()
            .get_ref()
            .message,
        "still here"
    );
}

/// Threads of this process whose name starts with `prefix` (Linux: /proc/self/task).
fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[tokio::test]
async fn connection_threads_serve_every_pattern_and_stop_with_the_server() {
    let mut server = TestServer::start_with(|b| b.connection_threads(2)).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(client(&server).await);
    }
    for (n, client) in clients.iter().enumerate() {
        let got = client.unary(req(&format!("u{n}"))).await.unwrap();
        assert_eq!(got.get_ref().message, format!("u{n}"));

        server_stream_in_order(client, 50).await;

        let input = futures::stream::iter((0..5).map(|i| req(&i.to_string())));
        let collected = client
            .client_stream_stream(input)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(collected.message, "0,1,2,3,4");

        let (tx, rx) = futures::channel::mpsc::unbounded();
        tx.unbounded_send(req("ping")).unwrap();
        let mut responses = client.bidi_stream(rx).await.unwrap().into_inner();
        assert_eq!(responses.message().await.unwrap().unwrap().message, "ping");
        drop(tx);
        assert!(responses.message().await.unwrap().is_none());
    }
    // Four connections, handed out round-robin: handlers ran on both threads
    // and on nothing else (not the test's own runtime).
    let threads = server.service.threads.lock().unwrap().clone();
    let expected: std::collections::BTreeSet<String> =
        ["h2grpc-conn-0", "h2grpc-conn-1"].map(String::from).into();
    assert_eq!(threads, expected);
    assert_eq!(threads_named("h2grpc-conn-"), 2);

    // Graceful shutdown still lets an in-flight call on those threads finish.
    shut_down_during_a_call(&mut server, &clients[1]).await;
    // The threads end with the server.
    eventually("connection threads gone", || {
        threads_named("h2grpc-conn-") == 0
    })
    .await;
}
