//! Transports (issue 16): the same service over TCP, a Unix domain socket and
//! an in-memory pipe, through the generated client; the client's connect and
//! default call timeouts.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use h2grpc::client::Channel;
use h2grpc::server::{Builder, Server};
use h2grpc::transport::{self, Listener};
use h2grpc::{Code, Request};
use support::echo::EchoService;
use support::echo::pb::EchoRequest;
use support::echo::pb::echo_client::EchoClient;
use support::echo::pb::echo_server::EchoServer;
use tokio::sync::oneshot;

fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
}

/// Serves the echo service on `listener` until the returned sender is dropped.
fn serve<L: Listener>(
    listener: L,
    configure: impl FnOnce(Builder) -> Builder,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let builder = configure(Server::builder().add_service(EchoServer::new(EchoService::default())));
    let handle = tokio::spawn(builder.serve_on(listener, async {
        let _ = stopped.await;
    }));
    (stop, handle)
}

/// All four patterns on `client`; returns the peer the unary handler saw.
async fn every_pattern(client: &EchoClient) -> String {
    let response = client.unary(req("hello")).await.expect("unary");
    let peer = response.metadata().get("x-peer").unwrap_or("").to_owned();
    assert_eq!(response.get_ref().message, "hello");

    let mut stream = client
        .server_stream(EchoRequest {
            message: "s".into(),
            count: 3,
            response_bytes: 3,
            ..Default::default()
        })
        .await
        .expect("server stream")
        .into_inner();
    let mut n = 0;
    while let Some(reply) = stream.message().await.expect("server stream message") {
        assert_eq!(reply.message, "s");
        n += 1;
    }
    assert_eq!(n, 3, "three replies");

    let mut call = client.client_stream(()).await.expect("client stream");
    for word in ["a", "b", "c"] {
        call.send(&req(word)).await.expect("send");
    }
    let joined = call.close_and_recv().await.expect("close_and_recv");
    assert_eq!(joined.get_ref().message, "a,b,c");

    let mut call = client.bidi(()).await.expect("bidi");
    for i in 0..3 {
        call.send(&req(&format!("ping {i}"))).await.expect("send");
        let reply = call.recv().await.expect("recv").expect("a reply");
        assert_eq!(reply.message, format!("ping {i}"));
        assert_eq!(reply.index, i);
    }
    call.close_send().await.expect("close_send");
    assert!(call.recv().await.expect("end").is_none());
    peer
}

#[tokio::test]
async fn every_pattern_over_an_in_memory_connection() {
    let (listener, connector) = transport::memory();
    let (_stop, _server) = serve(listener, |b| b);
    let channel = Channel::builder("http://in-memory:1")
        .connector(connector)
        .connect()
        .await
        .expect("connect in memory");
    let peer = every_pattern(&EchoClient::new(channel)).await;
    assert_eq!(peer, "memory");
}

#[tokio::test]
async fn in_memory_with_connection_threads_and_many_channels() {
    let (listener, connector) = transport::memory();
    let (_stop, _server) = serve(listener, |b| b.connection_threads(2));
    let mut calls = futures::stream::FuturesUnordered::new();
    for i in 0..8 {
        let connector = connector.clone();
        calls.push(async move {
            let channel = Channel::builder("http://in-memory:1")
                .connector(connector)
                .connect()
                .await
                .expect("connect");
            let client = EchoClient::new(channel);
            let reply = client.unary(req(&format!("c{i}"))).await.expect("unary");
            assert_eq!(reply.get_ref().message, format!("c{i}"));
        });
    }
    while calls.next().await.is_some() {}
}

#[tokio::test]
async fn an_in_memory_server_that_is_gone_is_unavailable() {
    let (listener, connector) = transport::memory();
    drop(listener);
    let status = Channel::builder("http://in-memory:1")
        .connector(connector)
        .connect()
        .await
        .expect_err("nobody listens");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("in-memory server is gone"),
        "{status:?}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn every_pattern_over_a_unix_socket_both_target_forms() {
    let dir = tempdir("uds");
    let path = dir.join("echo.sock");
    let listener = transport::bind_unix(&path).expect("bind");
    let (_stop, _server) = serve(listener, |b| b.connection_threads(2));
    let relative_or_absolute = format!("unix:{}", path.display());
    let three_slashes = format!("unix://{}", path.display());
    for uri in [relative_or_absolute, three_slashes] {
        let client = EchoClient::connect(&uri).await.expect("connect");
        let peer = every_pattern(&client).await;
        // A client's socket is unnamed: the handler sees a Unix peer, no path.
        assert_eq!(peer, "unix:(unnamed)", "{uri}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_stale_socket_file_is_replaced_and_a_live_one_is_not() {
    let dir = tempdir("uds-stale");
    let path = dir.join("s.sock");
    // A server that went away without removing its socket file.
    let first = transport::bind_unix(&path).expect("bind");
    drop(first);
    assert!(path.exists(), "the socket file stays behind");
    let second = transport::bind_unix(&path).expect("a stale socket file is replaced");
    // While that one listens, nobody may take its path.
    let refused = transport::bind_unix(&path).expect_err("in use");
    assert_eq!(refused.kind(), std::io::ErrorKind::AddrInUse, "{refused}");
    let (_stop, _server) = serve(second, |b| b);
    let client = EchoClient::connect(&format!("unix:{}", path.display()))
        .await
        .expect("the second server serves");
    client.unary(req("x")).await.expect("unary");
    // A regular file is not a socket: it is never removed.
    let file = dir.join("plain");
    std::fs::write(&file, b"keep me").expect("write");
    assert!(transport::bind_unix(&file).is_err());
    assert_eq!(std::fs::read(&file).expect("still there"), b"keep me");
}

#[tokio::test]
async fn tcp_peer_address_reaches_the_handler() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_stop, _server) = serve(listener, |b| b);
    let client = EchoClient::connect(&format!("http://{addr}"))
        .await
        .expect("connect");
    let peer = every_pattern(&client).await;
    assert!(peer.starts_with("127.0.0.1:"), "{peer}");
}

#[tokio::test]
async fn a_server_that_never_speaks_http2_fails_within_the_connect_timeout() {
    // Accepts TCP (the kernel's backlog does) but never answers the preface.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr");
    let started = Instant::now();
    let status = Channel::builder(&format!("http://{addr}"))
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .expect_err("no HTTP/2 server there");
    let took = started.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("timeout"), "{status:?}");
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    drop(silent);
}

#[tokio::test]
async fn a_dead_address_is_unavailable_at_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let started = Instant::now();
    let status = Channel::connect(&format!("http://{addr}"))
        .await
        .expect_err("nothing listens");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_channel_timeout_applies_unless_the_call_sets_its_own() {
    let (listener, connector) = transport::memory();
    let (_stop, _server) = serve(listener, |b| b);
    let channel = Channel::builder("http://in-memory:1")
        .connector(connector)
        .timeout(Duration::from_millis(200))
        .connect()
        .await
        .expect("connect");
    let client = EchoClient::new(channel);
    let slow = || EchoRequest {
        message: "slow".into(),
        delay_ms: 600,
        ..Default::default()
    };
    let status = client
        .unary(slow())
        .await
        .expect_err("over the channel's timeout");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    // A call's own timeout overrides the channel's.
    let mut request = Request::new(slow());
    request.set_timeout(Duration::from_secs(5));
    let reply = client.unary(request).await.expect("within its own timeout");
    assert_eq!(reply.get_ref().message, "slow");
    // Handles get the default too.
    let mut call = client.bidi(()).await.expect("bidi");
    call.send(&slow()).await.expect("send");
    let status = call.recv().await.expect_err("over the channel's timeout");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

/// A fresh directory under the target dir's tmp (removed at the start of a run).
fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("transport-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create dir");
    dir
}

#[tokio::test]
async fn the_authority_can_be_set_apart_from_the_uri() {
    let (listener, connector) = transport::memory();
    let (_stop, _server) = serve(listener, |b| b);
    let channel = Channel::builder("http://in-memory:1")
        .connector(connector)
        .authority("foo.test.google.fr")
        .expect("a valid authority")
        .connect()
        .await
        .expect("connect");
    assert!(
        format!("{channel:?}").contains("authority: foo.test.google.fr"),
        "{channel:?}"
    );
    EchoClient::new(channel)
        .unary(req("x"))
        .await
        .expect("served");
    let bad = Channel::builder("http://h:1").authority("not an authority");
    assert_eq!(bad.expect_err("refused").code(), Code::InvalidArgument);
}
