//! Connection limits and liveness: handshake and idle timeouts, the
//! connection cap, keepalive pings (a dead peer is found) and keepalive
//! enforcement (a client that pings too often gets GOAWAY ENHANCE_YOUR_CALM,
//! doc/keepalive.md).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use h2grpc::Code;
use h2grpc::client::Channel;
use support::echo::TestServer;
use support::echo::pb::EchoRequest;
use support::echo::pb::echo_client::EchoClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn silent_connection_is_closed_after_the_handshake_timeout() {
    let server = TestServer::start_with(|b| b.handshake_timeout(Duration::from_millis(200))).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    // Send nothing; the server must give up and close.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // its SETTINGS frame
            }
        }
    })
    .await;
    assert!(read.is_ok(), "server kept a silent connection open");
    let client = EchoClient::connect(&server.uri()).await.unwrap();
    assert_eq!(
        client.unary(req("ok")).await.unwrap().get_ref().message,
        "ok"
    );
}

#[tokio::test]
async fn idle_connection_gets_goaway() {
    let server = TestServer::start_with(|b| b.idle_timeout(Duration::from_millis(200))).await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    // The connection future ends once the server has sent GOAWAY and closed.
    let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
    assert!(ended.is_ok(), "idle connection was not closed");
    drop(send);
}

#[tokio::test]
async fn busy_connection_is_not_idle() {
    let server = TestServer::start_with(|b| b.idle_timeout(Duration::from_millis(100))).await;
    let client = EchoClient::connect(&server.uri()).await.unwrap();
    // One call longer than the idle timeout: it must complete.
    let reply = client
        .unary(EchoRequest {
            delay_ms: 400,
            ..req("slow")
        })
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "slow");
}

#[tokio::test]
async fn connections_over_the_limit_wait_for_a_slot() {
    let server = TestServer::start_with(|b| b.max_connections(1)).await;
    let first = Channel::connect(&server.uri()).await.unwrap();
    EchoClient::new(first.clone())
        .unary(req("a"))
        .await
        .unwrap();
    // A second connection waits in the listen backlog: its call is not served.
    // (Lazy: `connect` itself waits for the server's HTTP/2 answer, which a
    // connection in the backlog never gets.)
    let second = EchoClient::new(Channel::connect_lazy(&server.uri()).unwrap());
    let mut waiting = h2grpc::Request::new(req("b"));
    waiting.set_timeout(Duration::from_millis(300));
    let status = second.unary(waiting).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
    // Once the first connection closes, the waiting one is accepted and served.
    drop(first);
    let mut served = h2grpc::Request::new(req("c"));
    served.set_timeout(Duration::from_secs(5));
    assert_eq!(second.unary(served).await.unwrap().get_ref().message, "c");
}

/// A TCP proxy whose server-to-client direction can be frozen, to play a peer
/// (or a path) that has died without closing the connection.
async fn stalling_proxy(
    target: std::net::SocketAddr,
    stalled: Arc<AtomicBool>,
) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(target).await else {
                return;
            };
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut cr, &mut sw).await;
            });
            let stalled = stalled.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let Ok(n) = sr.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    while stalled.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn keepalive_detects_a_dead_peer() {
    let server =
        TestServer::start_with(|b| b.permit_keepalive(Duration::from_millis(10), true)).await;
    let stalled = Arc::new(AtomicBool::new(false));
    let proxy = stalling_proxy(server.addr, stalled.clone()).await;
    let channel = Channel::builder(&format!("http://{proxy}"))
        .keepalive_interval(Duration::from_millis(100))
        .keepalive_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let client = EchoClient::new(channel);
    client.unary(req("before")).await.unwrap();
    stalled.store(true, Ordering::SeqCst);
    // A long call: without keepalive it would wait 30 s for its answer.
    let started = std::time::Instant::now();
    let status = client
        .unary(EchoRequest {
            delay_ms: 30_000,
            ..req("stuck")
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn too_many_pings_get_goaway_enhance_your_calm() {
    let server = TestServer::start().await; // default policy: at most one ping per 5 min
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut send, mut conn) = h2::client::handshake(tcp).await.unwrap();
    let mut ping_pong = conn.ping_pong().expect("ping_pong");
    let driver = tokio::spawn(conn);
    // Keep a call open so only the rate is at fault.
    let request = http::Request::builder()
        .method("POST")
        .uri("http://localhost/h2grpc.test.Echo/Bidi")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    send = send.ready().await.unwrap();
    let (_response, _body) = send.send_request(request, false).unwrap();
    for _ in 0..10 {
        if ping_pong.ping(h2::Ping::opaque()).await.is_err() {
            break;
        }
    }
    let ended = tokio::time::timeout(Duration::from_secs(5), driver)
        .await
        .expect("connection closed")
        .unwrap();
    let err = ended.expect_err("GOAWAY is an error for the client connection");
    assert!(err.is_go_away(), "{err:?}");
    assert_eq!(err.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM), "{err:?}");
}

/// gRFC A8: the GOAWAY carries the debug data "too_many_pings", the bytes grpc-go,
/// grpc-java and gRPC core look for before they double their keepalive time
/// (found by running grpc-go's client against us: h2 sent the GOAWAY bare).
#[tokio::test]
async fn too_many_pings_goaway_says_too_many_pings() {
    let server = TestServer::start().await; // no calls open: every PING is a strike
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend([0, 0, 0, 0x4, 0, 0, 0, 0, 0]); // empty SETTINGS
    for i in 0..4u8 {
        out.extend([0, 0, 8, 0x6, 0, 0, 0, 0, 0]); // PING, 8 bytes of opaque data
        out.extend([i; 8]);
    }
    tcp.write_all(&out).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut got))
        .await
        .expect("server closes the connection")
        .unwrap();
    // Walk the frames: length (24 bits), type, flags, stream id, payload.
    let mut goaways = Vec::new();
    let mut at = 0;
    while got.len() >= at + 9 {
        let len =
            usize::from(got[at]) << 16 | usize::from(got[at + 1]) << 8 | usize::from(got[at + 2]);
        let payload = &got[at + 9..(at + 9 + len).min(got.len())];
        if got[at + 3] == 0x7 {
            goaways.push(payload.to_vec());
        }
        at += 9 + len;
    }
    // Last-Stream-ID 0, ENHANCE_YOUR_CALM (0xb), then the debug data.
    assert_eq!(
        goaways,
        [b"\x00\x00\x00\x00\x00\x00\x00\x0btoo_many_pings".to_vec()]
    );
}

/// gRFC A8: a client refused with GOAWAY ENHANCE_YOUR_CALM for pinging too often
/// doubles its keepalive time for the channel's next connections, so it stops
/// being refused (found against grpc-go's server, which enforces 5 minutes).
#[tokio::test]
async fn client_backs_off_after_too_many_pings() {
    // Pings closer than 300 ms are strikes; the third strike is GOAWAY.
    let server =
        TestServer::start_with(|b| b.permit_keepalive(Duration::from_millis(300), false)).await;
    let channel = Channel::builder(&server.uri())
        .keepalive_interval(Duration::from_millis(100))
        .connect_lazy()
        .unwrap();
    let client = EchoClient::new(channel);
    // Every 100 ms: refused after ~400 ms. Then 200 ms: after ~800 ms.
    // Then 400 ms: permitted, so the 1.5 s calls from then on succeed.
    let mut outcomes = Vec::new();
    for i in 0..5 {
        let call = client.unary(EchoRequest {
            delay_ms: 1500,
            ..req(&format!("call {i}"))
        });
        outcomes.push(call.await.map(|_| ()).map_err(|s| s.code()));
    }
    assert_eq!(outcomes[0], Err(Code::Unavailable), "{outcomes:?}");
    assert_eq!(outcomes[3..], [Ok(()), Ok(())], "{outcomes:?}");
}

#[tokio::test]
async fn permitted_pings_are_fine() {
    let server =
        TestServer::start_with(|b| b.permit_keepalive(Duration::from_millis(50), false)).await;
    let channel = Channel::builder(&server.uri())
        .keepalive_interval(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let client = EchoClient::new(channel);
    // One second of calls with pings every 100 ms: no GOAWAY.
    let reply = client
        .unary(EchoRequest {
            delay_ms: 1000,
            ..req("long")
        })
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "long");
    client.unary(req("again")).await.unwrap();
}
