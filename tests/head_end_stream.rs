//! A response head that carries `grpc-status` but not END_STREAM, from a
//! server written directly on `h2`: it is Response-Headers, not
//! Trailers-Only (PROTOCOL-HTTP2.md: Trailers-Only is the single HEADERS
//! frame block that ends the stream; "For responses end-of-stream is
//! indicated by the presence of the END_STREAM flag on the last received
//! HEADERS frame that carries Trailers"). The call reads the message after
//! it and takes its status from the trailers, as grpc-go and C-core do; the
//! same head with END_STREAM fails the call with the head's status.

mod support;

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use h2grpc::client::Channel;
use h2grpc::{Code, Request};
use http::{HeaderMap, HeaderValue, Response};
use prost::Message;
use support::echo::pb::echo_client::EchoClient;
use support::echo::pb::{EchoRequest, EchoResponse};
use tokio::net::TcpListener;

/// How the raw server answers every call.
#[derive(Clone, Copy)]
enum Answer {
    /// HEADERS (grpc-status 13, no END_STREAM), DATA (one message), HEADERS (grpc-status 0, END_STREAM).
    StatusInHeadThenMessage,
    /// HEADERS (grpc-status 13, END_STREAM): Trailers-Only.
    StatusInHeadEndStream,
}

fn head() -> Response<()> {
    Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .header("grpc-status", "13")
        .header("grpc-message", "not the status of this call")
        .body(())
        .expect("a valid head")
}

/// Serves one connection on `127.0.0.1:0`, answering each call as `answer` says.
async fn raw_server(answer: Answer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut conn) = h2::server::handshake(tcp).await else {
            return;
        };
        while let Some(Ok((request, mut respond))) = conn.accept().await {
            tokio::spawn(async move {
                // Read the request to its end so the stream closes cleanly.
                let mut body = request.into_body();
                while let Some(Ok(chunk)) = body.data().await {
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                match answer {
                    Answer::StatusInHeadEndStream => {
                        let _ = respond.send_response(head(), true);
                    }
                    Answer::StatusInHeadThenMessage => {
                        let Ok(mut send) = respond.send_response(head(), false) else {
                            return;
                        };
                        let reply = EchoResponse {
                            message: "read on".into(),
                            ..Default::default()
                        }
                        .encode_to_vec();
                        let mut framed = BytesMut::new();
                        framed.put_u8(0);
                        framed.put_u32(reply.len() as u32);
                        framed.put_slice(&reply);
                        let _ = send.send_data(framed.freeze(), false);
                        let mut trailers = HeaderMap::new();
                        trailers.insert("grpc-status", HeaderValue::from_static("0"));
                        let _ = send.send_trailers(trailers);
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn request() -> Request<EchoRequest> {
    let mut request = Request::new(EchoRequest {
        message: "hi".into(),
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(10));
    request
}

#[tokio::test]
async fn grpc_status_in_a_head_without_end_stream_is_not_the_calls_status() {
    let uri = raw_server(Answer::StatusInHeadThenMessage).await;
    let client = EchoClient::new(Channel::connect(&uri).await.expect("connect"));
    let response = client.unary(request()).await.expect("the trailers say OK");
    assert_eq!(response.get_ref().message, "read on");
}

#[tokio::test]
async fn the_same_head_with_end_stream_is_trailers_only() {
    let uri = raw_server(Answer::StatusInHeadEndStream).await;
    let client = EchoClient::new(Channel::connect(&uri).await.expect("connect"));
    let status = client
        .unary(request())
        .await
        .expect_err("Trailers-Only INTERNAL");
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "not the status of this call");
}
