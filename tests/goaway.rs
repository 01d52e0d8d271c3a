//! The client and a server's GOAWAY (PROTOCOL-HTTP2.md "Connection Management",
//! RFC 9113 §6.8, gRFC A6 "transparent retry"): a call the server never saw is
//! sent again on a new connection instead of failing.
//!
//! Found running against grpc-go with `MaxConnectionAge` (a GOAWAY every
//! 200 ms): about 15 unary calls in 65,000 failed with `INTERNAL: GOAWAY from
//! peer: NO_ERROR`, either opened on a connection that had just received
//! GOAWAY, or sent above its last stream id.
//!
//! The server here is a raw socket that refuses the first connection with
//! GOAWAY (last stream id 0, NO_ERROR) and hands every later one to a real
//! test server.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use h2grpc::client::Channel;
use support::echo::TestServer;
use support::echo::pb::EchoRequest;
use support::echo::pb::echo_client::EchoClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the refusing connection's GOAWAY leaves open.
#[derive(Clone, Copy)]
enum Refuse {
    /// Last stream id 0: the first call's stream (1) is refused.
    FirstStream,
    /// Last stream id 1: the first call is kept (and never answered), so the
    /// connection stays up with the GOAWAY received; later calls must not use it.
    LaterStreams,
}

/// Listens on 127.0.0.1:0; the first connection is refused, the rest are
/// piped to `server`. Returns the address and the count of connections.
async fn refusing_proxy(server: &TestServer, refuse: Refuse) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let target = server.addr;
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::spawn(async move { refuse_one(&mut socket, refuse).await });
            } else {
                tokio::spawn(async move {
                    let mut upstream = TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
                });
            }
        }
    });
    (format!("http://{addr}"), accepted)
}

/// Reads the preface and frames up to the first HEADERS, sends SETTINGS and
/// GOAWAY(NO_ERROR), then keeps the socket open, reading and never answering.
async fn refuse_one(socket: &mut TcpStream, refuse: Refuse) {
    let mut preface = [0u8; PREFACE.len()];
    socket.read_exact(&mut preface).await.unwrap();
    assert_eq!(preface, PREFACE);
    loop {
        // length (24 bits), type, flags, stream id; then the payload.
        let mut head = [0u8; 9];
        socket.read_exact(&mut head).await.unwrap();
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        socket.read_exact(&mut payload).await.unwrap();
        if head[3] == 0x1 {
            break; // HEADERS
        }
        if head[3] == 0x6 && head[4] & 0x1 == 0 {
            // PING: a peer must answer with an ACK of the same payload (RFC
            // 9113 §6.7); our client waits for one before it sends a call.
            let mut ack = vec![0, 0, 8, 0x6, 0x1, 0, 0, 0, 0];
            ack.extend_from_slice(&payload);
            socket.write_all(&ack).await.unwrap();
        }
    }
    let last_stream: u8 = match refuse {
        Refuse::FirstStream => 0,
        Refuse::LaterStreams => 1,
    };
    let mut out = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0]; // empty SETTINGS
    out.extend([0, 0, 8, 0x7, 0, 0, 0, 0, 0]); // GOAWAY, 8 bytes, stream 0
    out.extend([0, 0, 0, last_stream]); // last stream id
    out.extend([0, 0, 0, 0]); // NO_ERROR
    socket.write_all(&out).await.unwrap();
    let mut sink = [0u8; 4096];
    while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
}

fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn unary_refused_by_goaway_is_sent_again() {
    let server = TestServer::start().await;
    let (uri, connections) = refusing_proxy(&server, Refuse::FirstStream).await;
    let client = EchoClient::new(Channel::connect_lazy(&uri).unwrap());
    let reply = tokio::time::timeout(Duration::from_secs(5), client.unary(req("again")))
        .await
        .expect("no hang")
        .expect("the call goes to the second connection");
    assert_eq!(reply.get_ref().message, "again");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn server_streaming_refused_by_goaway_is_sent_again() {
    let server = TestServer::start().await;
    let (uri, connections) = refusing_proxy(&server, Refuse::FirstStream).await;
    let client = EchoClient::new(Channel::connect_lazy(&uri).unwrap());
    let request = EchoRequest {
        count: 3,
        ..req("s")
    };
    let response = tokio::time::timeout(Duration::from_secs(5), client.server_stream(request))
        .await
        .expect("no hang")
        .expect("the call goes to the second connection");
    let replies: Vec<_> = response.into_inner().collect().await;
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(replies.iter().all(Result::is_ok), "{replies:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn call_after_goaway_opens_a_new_connection() {
    let server = TestServer::start().await;
    let (uri, connections) = refusing_proxy(&server, Refuse::LaterStreams).await;
    let client = EchoClient::new(Channel::connect_lazy(&uri).unwrap());
    // The first call's stream is kept open (the server never answers it), so the
    // connection lives on, draining, with the GOAWAY received.
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.unary(req("kept")).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reply = tokio::time::timeout(Duration::from_secs(5), client.unary(req("fresh")))
        .await
        .expect("no hang")
        .expect("the call goes to a new connection");
    assert_eq!(reply.get_ref().message, "fresh");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    assert!(
        !pending.is_finished(),
        "the first call still waits on the old connection"
    );
    pending.abort();
}
