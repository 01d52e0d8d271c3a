//! Hand-built HTTP/2 requests against our server: heads and bodies that no
//! well-behaved gRPC client sends, each answered precisely, with the server
//! still serving afterwards.

mod support;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderMap, Method, Request, StatusCode};
use prost::Message;
use support::echo::TestServer;
use support::echo::pb::echo_client::EchoClient;
use support::echo::pb::{EchoRequest, EchoResponse};

async fn raw_client(server: &TestServer) -> SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

fn grpc_request(path: &str) -> http::request::Builder {
    Request::builder()
        .method(Method::POST)
        .uri(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
}

fn frame(flag: u8, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u8(flag);
    b.put_u32(payload.len() as u32);
    b.put_slice(payload);
    b.freeze()
}

fn echo_payload(message: &str) -> Vec<u8> {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// What came back: HTTP status, headers, body bytes, trailers.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    trailers: Option<HeaderMap>,
}

impl Answer {
    /// grpc-status from the trailers, or from the head for Trailers-Only.
    fn grpc_status(&self) -> Option<String> {
        let from = |h: &HeaderMap| h.get("grpc-status").map(|v| v.to_str().unwrap().to_owned());
        self.trailers
            .as_ref()
            .and_then(from)
            .or_else(|| from(&self.headers))
    }
}

async fn call(send: &mut SendRequest<Bytes>, request: Request<()>, chunks: Vec<Bytes>) -> Answer {
    let mut ready = send.clone().ready().await.unwrap();
    let (response, mut body) = ready.send_request(request, chunks.is_empty()).unwrap();
    let n = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        body.send_data(chunk, i + 1 == n).unwrap();
    }
    let response = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("answer in time")
        .unwrap();
    let (parts, mut recv) = response.into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    let trailers = recv.trailers().await.unwrap();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: bytes,
        trailers,
    }
}

/// A normal call on a fresh connection still succeeds.
async fn still_serving(server: &TestServer) {
    let client = EchoClient::connect(&server.uri()).await.unwrap();
    let reply = client
        .unary(EchoRequest {
            message: "alive".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "alive");
}

#[tokio::test]
async fn well_formed_raw_call_works() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let answer = call(
        &mut send,
        grpc_request("/h2grpc.test.Echo/Unary").body(()).unwrap(),
        vec![frame(0, &echo_payload("hi"))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers.get("content-type").unwrap(),
        "application/grpc"
    );
    assert_eq!(answer.grpc_status().as_deref(), Some("0"));
    // One framed EchoResponse{message:"hi"}: flag 0, length 4, field 1 "hi".
    assert_eq!(answer.body, [0, 0, 0, 0, 4, 0x0a, 2, b'h', b'i']);
}

#[tokio::test]
async fn non_post_is_405() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let request = grpc_request("/h2grpc.test.Echo/Unary")
        .method(Method::GET)
        .body(())
        .unwrap();
    let answer = call(&mut send, request, vec![]).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    still_serving(&server).await;
}

#[tokio::test]
async fn bad_content_type_is_415() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let request = Request::builder()
        .method(Method::POST)
        .uri("http://localhost/h2grpc.test.Echo/Unary")
        .header("content-type", "application/json")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let answer = call(&mut send, request, vec![Bytes::from_static(b"{}")]).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    still_serving(&server).await;
}

#[tokio::test]
async fn missing_te_is_internal() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let request = Request::builder()
        .method(Method::POST)
        .uri("http://localhost/h2grpc.test.Echo/Unary")
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let answer = call(&mut send, request, vec![frame(0, &echo_payload("x"))]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.grpc_status().as_deref(), Some("13"));
    assert!(
        answer.trailers.is_none(),
        "Trailers-Only: status in the head"
    );
    still_serving(&server).await;
}

#[tokio::test]
async fn truncated_message_is_internal() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    // Prefix says 100 bytes, 3 follow, then END_STREAM.
    let chunk = Bytes::from_static(&[0, 0, 0, 0, 100, 1, 2, 3]);
    let answer = call(
        &mut send,
        grpc_request("/h2grpc.test.Echo/Unary").body(()).unwrap(),
        vec![chunk],
    )
    .await;
    assert_eq!(answer.grpc_status().as_deref(), Some("13"));
    still_serving(&server).await;
}

#[tokio::test]
async fn two_messages_on_unary_is_unimplemented() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let chunks = vec![frame(0, &echo_payload("a")), frame(0, &echo_payload("b"))];
    let answer = call(
        &mut send,
        grpc_request("/h2grpc.test.Echo/Unary").body(()).unwrap(),
        chunks,
    )
    .await;
    assert_eq!(answer.grpc_status().as_deref(), Some("12"));
    let answer = call(
        &mut send,
        grpc_request("/h2grpc.test.Echo/Unary").body(()).unwrap(),
        vec![Bytes::new()],
    )
    .await;
    assert_eq!(answer.grpc_status().as_deref(), Some("12"), "zero messages");
    still_serving(&server).await;
}

#[tokio::test]
async fn invalid_grpc_timeout_is_internal() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    for bad in ["", "S", "1x", "123456789S", "-1S", "1.5S"] {
        let request = grpc_request("/h2grpc.test.Echo/Unary")
            .header("grpc-timeout", bad)
            .body(())
            .unwrap();
        let answer = call(&mut send, request, vec![frame(0, &echo_payload("x"))]).await;
        assert_eq!(
            answer.grpc_status().as_deref(),
            Some("13"),
            "grpc-timeout {bad:?}"
        );
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn server_enforces_grpc_timeout() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let slow = EchoRequest {
        delay_ms: 10_000,
        ..Default::default()
    }
    .encode_to_vec();
    let request = grpc_request("/h2grpc.test.Echo/Unary")
        .header("grpc-timeout", "100m")
        .body(())
        .unwrap();
    let answer = call(&mut send, request, vec![frame(0, &slow)]).await;
    assert_eq!(answer.grpc_status().as_deref(), Some("4"));
    still_serving(&server).await;
}

#[tokio::test]
async fn compressed_flag_without_encoding_is_internal() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let answer = call(
        &mut send,
        grpc_request("/h2grpc.test.Echo/Unary").body(()).unwrap(),
        vec![frame(1, &echo_payload("x"))],
    )
    .await;
    assert_eq!(answer.grpc_status().as_deref(), Some("13"));
    let answer = call(
        &mut send,
        grpc_request("/h2grpc.test.Echo/Unary").body(()).unwrap(),
        vec![frame(7, &echo_payload("x"))],
    )
    .await;
    assert_eq!(answer.grpc_status().as_deref(), Some("13"));
    still_serving(&server).await;
}

#[tokio::test]
async fn oversized_prefix_is_resource_exhausted_before_the_body_arrives() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    // Declares 1 GiB and sends only the prefix, without END_STREAM: the server
    // must answer from the prefix alone.
    let mut ready = send.clone().ready().await.unwrap();
    let (response, mut body) = ready
        .send_request(
            grpc_request("/h2grpc.test.Echo/Unary").body(()).unwrap(),
            false,
        )
        .unwrap();
    body.send_data(Bytes::from_static(&[0, 0x40, 0, 0, 0]), false)
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .unwrap()
        .unwrap();
    let status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(status.as_deref(), Some("8"));
    let _ = &mut send;
    still_serving(&server).await;
}

#[tokio::test]
async fn invalid_protobuf_is_internal() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let answer = call(
        &mut send,
        grpc_request("/h2grpc.test.Echo/Unary").body(()).unwrap(),
        vec![frame(0, &[0x0a, 0x05, b'x'])],
    )
    .await;
    assert_eq!(answer.grpc_status().as_deref(), Some("13"));
    still_serving(&server).await;
}

#[tokio::test]
async fn unknown_paths_are_unimplemented_trailers_only() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    for path in [
        "/h2grpc.test.Echo/Nope",
        "/no.Such/Method",
        "/malformed",
        "/a/b/c",
    ] {
        let answer = call(
            &mut send,
            grpc_request(path).body(()).unwrap(),
            vec![frame(0, &[])],
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.grpc_status().as_deref(), Some("12"), "{path}");
        assert!(answer.trailers.is_none(), "{path}: Trailers-Only");
    }
    still_serving(&server).await;
}

#[tokio::test]
async fn response_decodes_as_echo() {
    // The bytes our server sends decode with plain prost, independent of our client.
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let answer = call(
        &mut send,
        grpc_request("/h2grpc.test.Echo/ServerStream")
            .body(())
            .unwrap(),
        vec![frame(
            0,
            &EchoRequest {
                message: "m".into(),
                count: 3,
                ..Default::default()
            }
            .encode_to_vec(),
        )],
    )
    .await;
    let mut body = &answer.body[..];
    let mut indexes = Vec::new();
    while !body.is_empty() {
        assert_eq!(body[0], 0);
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let msg = EchoResponse::decode(&body[5..5 + len]).unwrap();
        indexes.push(msg.index);
        body = &body[5 + len..];
    }
    assert_eq!(indexes, [0, 1, 2]);
    assert_eq!(answer.grpc_status().as_deref(), Some("0"));
}

/// A long server stream goes out in whole DATA frames: a batch is cut at a
/// 16 KiB boundary and its tail (part of a message) opens the next batch, so
/// only the last frame may be short; the messages split across frames arrive whole.
#[tokio::test]
async fn server_stream_fills_whole_data_frames() {
    let server = TestServer::start().await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // Windows far above the reply, so no frame is cut short by flow control.
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(8 << 20)
        .initial_connection_window_size(8 << 20)
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut ready = send.ready().await.unwrap();
    let request = grpc_request("/h2grpc.test.Echo/ServerStream")
        .body(())
        .unwrap();
    let (response, mut body) = ready.send_request(request, false).unwrap();
    let ask = EchoRequest {
        message: "m".into(),
        count: 2000,
        // 2000 replies of ~110 bytes: about 7 batches of 32 KiB, none a
        // multiple of the frame size on its own.
        response_bytes: 100,
        ..Default::default()
    };
    body.send_data(frame(0, &ask.encode_to_vec()), true)
        .unwrap();
    let mut recv = response.await.unwrap().into_body();
    let (mut bytes, mut frames) = (Vec::new(), Vec::new());
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        frames.push(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    let trailers = recv.trailers().await.unwrap().unwrap();
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");
    let (last, whole) = frames.split_last().unwrap();
    assert!(whole.len() >= 12, "{frames:?}");
    assert!(whole.iter().all(|&n| n == 16 * 1024), "{frames:?}");
    assert!(*last <= 16 * 1024);
    let mut rest = &bytes[..];
    let mut index = 0;
    while !rest.is_empty() {
        // Flag 0, then the 4-byte big-endian length, then the message.
        assert_eq!(rest[0], 0);
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let reply = EchoResponse::decode(&rest[5..5 + len]).unwrap();
        assert_eq!((reply.index, reply.padding.len()), (index, 100));
        index += 1;
        rest = &rest[5 + len..];
    }
    assert_eq!(index, 2000);
}

#[tokio::test]
async fn unknown_grpc_encoding_is_unimplemented_with_accept_list() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let request = grpc_request("/h2grpc.test.Echo/Unary")
        .header("grpc-encoding", "snappy")
        .body(())
        .unwrap();
    let answer = call(&mut send, request, vec![frame(1, b"whatever")]).await;
    assert_eq!(answer.grpc_status().as_deref(), Some("12"));
    assert_eq!(answer.headers.get("grpc-accept-encoding").unwrap(), "gzip");
    still_serving(&server).await;
}

#[tokio::test]
async fn gzip_flag_with_garbage_body_is_internal() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let request = grpc_request("/h2grpc.test.Echo/Unary")
        .header("grpc-encoding", "gzip")
        .body(())
        .unwrap();
    let answer = call(&mut send, request, vec![frame(1, b"not gzip at all")]).await;
    assert_eq!(answer.grpc_status().as_deref(), Some("13"));
    still_serving(&server).await;
}

#[tokio::test]
async fn gzip_bomb_is_resource_exhausted() {
    use std::io::Write;
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    // 32 MiB of zeros in ~32 KiB of gzip: inflation must stop at the 4 MiB limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..32 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let request = grpc_request("/h2grpc.test.Echo/Unary")
        .header("grpc-encoding", "gzip")
        .body(())
        .unwrap();
    let answer = call(&mut send, request, vec![frame(1, &bomb)]).await;
    assert_eq!(answer.grpc_status().as_deref(), Some("8"));
    still_serving(&server).await;
}

#[tokio::test]
async fn zero_timeout_is_deadline_exceeded_even_for_an_instant_handler() {
    let server = TestServer::start().await;
    let mut send = raw_client(&server).await;
    let request = grpc_request("/h2grpc.test.Echo/Unary")
        .header("grpc-timeout", "0n")
        .body(())
        .unwrap();
    let answer = call(&mut send, request, vec![frame(0, &echo_payload("x"))]).await;
    assert_eq!(answer.grpc_status().as_deref(), Some("4"));
    assert_eq!(
        server
            .service
            .finished
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "handler must not run"
    );
}
