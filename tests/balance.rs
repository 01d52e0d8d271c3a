//! Many endpoints (grpc doc/naming.md, doc/load-balancing.md,
//! doc/connection-backoff.md): round_robin spreading calls over three
//! servers and skipping a dead one, pick_first failing over, `dns:///`
//! with localhost, `wait_for_ready`, and the reconnect schedule under
//! paused time.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use h2grpc::client::{Channel, LbPolicy};
use h2grpc::transport::{ConnectFuture, Connector, Target};
use h2grpc::{Code, Request};
use support::echo::TestServer;
use support::echo::pb::EchoRequest;
use support::echo::pb::echo_client::EchoClient;

fn req() -> Request<EchoRequest> {
    let mut request = Request::new(EchoRequest {
        message: "hi".into(),
        ..EchoRequest::default()
    });
    request.set_timeout(Duration::from_secs(5));
    request
}

/// Calls each server answered so far.
fn served(servers: &[&TestServer]) -> Vec<usize> {
    servers
        .iter()
        .map(|s| s.service.finished.load(Ordering::SeqCst))
        .collect()
}

/// An address nothing listens on (bound, then closed).
async fn dead_uri() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn round_robin_spreads_calls_and_skips_a_dead_server() {
    let (a, b, mut c) = (
        TestServer::start().await,
        TestServer::start().await,
        TestServer::start().await,
    );
    let channel = Channel::balance_list([a.uri(), b.uri(), c.uri()])
        .lb_policy(LbPolicy::RoundRobin)
        .connect()
        .await
        .unwrap();
    let client = EchoClient::new(channel);
    for _ in 0..30 {
        client.unary(req()).await.unwrap();
    }
    let spread = served(&[&a, &b, &c]);
    assert_eq!(spread.iter().sum::<usize>(), 30);
    // Every server takes its turn (the first calls may land on whichever
    // connected first, so not exactly 10 each).
    assert!(spread.iter().all(|&n| n >= 5), "{spread:?}");
    c.shutdown().await.unwrap().unwrap();
    let before = served(&[&a, &b]);
    for _ in 0..30 {
        client.unary(req()).await.expect("a dead server is skipped");
    }
    let after = served(&[&a, &b]);
    let gained: Vec<usize> = after.iter().zip(&before).map(|(x, y)| x - y).collect();
    assert_eq!(gained.iter().sum::<usize>(), 30, "{gained:?}");
    assert!(gained.iter().all(|&n| n >= 10), "{gained:?}");
}

#[tokio::test]
async fn pick_first_skips_an_unreachable_address_and_fails_over() {
    let (mut a, b) = (TestServer::start().await, TestServer::start().await);
    let dead = dead_uri().await;
    let client = EchoClient::new(
        Channel::balance_list([dead, a.uri(), b.uri()])
            .connect_lazy()
            .unwrap(),
    );
    for _ in 0..10 {
        client.unary(req()).await.unwrap();
    }
    assert_eq!(served(&[&a, &b]), [10, 0], "all on the first reachable one");
    a.shutdown().await.unwrap().unwrap();
    for _ in 0..10 {
        client.unary(req()).await.expect("fails over to b");
    }
    assert_eq!(served(&[&a, &b]), [10, 10]);
}

#[tokio::test]
async fn dns_names_resolve_localhost() {
    let server = TestServer::start().await;
    let uri = format!("dns:///localhost:{}", server.addr.port());
    let channel = Channel::connect(&uri).await.unwrap();
    let targets: Vec<String> = channel.endpoints().iter().map(|t| t.to_string()).collect();
    assert!(
        targets.contains(&server.addr.to_string()),
        "localhost resolved to {targets:?}"
    );
    let client = EchoClient::new(channel);
    for _ in 0..3 {
        client.unary(req()).await.unwrap();
    }
    assert_eq!(served(&[&server]), [3]);
    // ipv4: lists name addresses directly.
    let uri = format!("ipv4:{}", server.addr);
    let client = EchoClient::new(Channel::connect(&uri).await.unwrap());
    client.unary(req()).await.unwrap();
    assert_eq!(served(&[&server]), [4]);
}

#[tokio::test]
async fn wait_for_ready_waits_for_a_server_that_comes_up() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = EchoClient::new(Channel::connect_lazy(&format!("http://{addr}")).unwrap());
    let err = client.unary(req()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "fail fast by default");
    let mut waiting = req();
    waiting.set_wait_for_ready(true);
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.unary(waiting).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server = h2grpc::server::Server::builder().add_service(
        support::echo::pb::echo_server::EchoServer::new(support::echo::EchoService::default()),
    );
    tokio::spawn(server.serve_with_listener(listener, std::future::pending::<()>()));
    let reply = call.await.unwrap().expect("served once the server is up");
    assert_eq!(reply.get_ref().message, "hi");
}

/// A connector that never connects and notes when it was asked.
#[derive(Clone, Default)]
struct Refusing(Arc<Mutex<Vec<tokio::time::Instant>>>);

impl Connector for Refusing {
    fn connect<'a>(&'a self, _target: &'a Target) -> ConnectFuture<'a> {
        self.0.lock().unwrap().push(tokio::time::Instant::now());
        Box::pin(async { Err(std::io::Error::other("refused by the test")) })
    }
}

#[tokio::test(start_paused = true)]
async fn reconnects_follow_the_connection_backoff_schedule() {
    let attempts = Refusing::default();
    let channel = Channel::balance_list(["http://127.0.0.1:1"])
        .connector(attempts.clone())
        .connect_lazy()
        .unwrap();
    let client = EchoClient::new(channel);
    let mut request = req();
    request.set_timeout(Duration::from_secs(600));
    request.set_wait_for_ready(true);
    let err = client.unary(request).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    let at = attempts.0.lock().unwrap().clone();
    let gaps: Vec<f64> = at.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    // 1 s, then ×1.6 each time with ±20 % jitter, capped at 120 s (±20 %).
    assert!((gaps[0] - 1.0).abs() < 0.01, "{gaps:?}");
    let mut backoff: f64 = 1.0;
    for gap in &gaps[1..] {
        backoff = (backoff * 1.6).min(120.0);
        assert!(
            *gap >= backoff * 0.8 - 0.01 && *gap <= backoff * 1.2 + 0.01,
            "gap {gap} for backoff {backoff}: {gaps:?}"
        );
    }
    assert!(backoff == 120.0, "reached the cap: {gaps:?}");
    assert!(
        (12..=16).contains(&at.len()),
        "{} attempts: {gaps:?}",
        at.len()
    );
}
