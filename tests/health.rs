//! The health service (`h2grpc::health`, issue 17) against foreign peers and ourselves.
//!
//! | client                                 | server                                  |
//! |----------------------------------------|-----------------------------------------|
//! | grpcio-health-checking's HealthStub    | ours (in process), and `order-server`   |
//! | grpc-js with grpc-health-check's proto | ours (in process)                       |
//! | our generated `HealthClient`           | ours (in process)                       |
//! | our generated `HealthClient`           | grpcio-health-checking's HealthServicer |
//!
//! What is proven: Check (serving, not serving, unknown → `NOT_FOUND`), List, Watch
//! (the status at once, one message per change and none for a repeated value, an
//! unknown name → `SERVICE_UNKNOWN` and later its real status, a reader too slow for the
//! changes still ending on the latest), and shutdown through `not_serving_on`: every
//! watcher gets `NOT_SERVING` before its call ends, and open watches do not hold the
//! drain for the grace period. The peers are tests/python/health_probe.py and
//! tests/node/health_probe.js, which print the same client lines; their stdout is read
//! line by line as the test changes statuses, so every step waits for the previous one
//! to be seen, with no sleeps.
//!
//! Servers bind 127.0.0.1 port 0; every wait has a deadline; children are killed on drop.

mod common;
#[path = "health/harness.rs"]
mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use h2grpc::Code;
use h2grpc::health::pb::HealthListRequest;
use h2grpc::health::pb::health_check_response::ServingStatus as Wire;
use h2grpc::health::pb::health_client::HealthClient;
use h2grpc::health::{MAX_LIST_SERVICES, ServingStatus};

use harness::{LINE_TIMEOUT, Probe, TestServer, check, next_status, watch};

const ORDER_SERVER: &str = env!("CARGO_BIN_EXE_order-server");
/// A shutdown that took longer than this was held up (order-server's grace is 10 s).
const PROMPT_SHUTDOWN: Duration = Duration::from_secs(5);

#[test]
fn grpcio_client_checks_and_lists_our_server() {
    let server = TestServer::start();
    server.reporter.set_serving("svc.Up");
    server.reporter.set_not_serving("svc.Down");
    let mut probe = Probe::health_probe(&[
        "client",
        &server.addr,
        "check",
        "",
        "svc.Up",
        "svc.Down",
        "no.Such",
    ]);
    probe.expect(r#"check "" SERVING"#);
    probe.expect(r#"check "svc.Up" SERVING"#);
    probe.expect(r#"check "svc.Down" NOT_SERVING"#);
    probe.expect(r#"check "no.Such" error NOT_FOUND"#);
    probe.expect(r#"list {"": "SERVING", "svc.Down": "NOT_SERVING", "svc.Up": "SERVING"}"#);
    assert!(probe.wait_exit(LINE_TIMEOUT).success());
}

#[test]
fn grpcio_watch_follows_changes_and_shutdown_on_our_server() {
    let mut server = TestServer::start();
    let reporter = server.reporter.clone();
    reporter.set_serving("svc.A");
    let mut a = Probe::health_probe(&["client", &server.addr, "watch", "svc.A"]);
    let mut later = Probe::health_probe(&["client", &server.addr, "watch", "svc.Later"]);
    a.expect(r#"watch "svc.A" SERVING"#);
    later.expect(r#"watch "svc.Later" SERVICE_UNKNOWN"#);

    // The same value again sends nothing: the next line is the change after it.
    reporter.set_serving("svc.A");
    reporter.set_not_serving("svc.A");
    a.expect(r#"watch "svc.A" NOT_SERVING"#);
    reporter.set_serving("svc.A");
    a.expect(r#"watch "svc.A" SERVING"#);

    // Unknown at first; registered later, cleared, registered again.
    reporter.set_serving("svc.Later");
    later.expect(r#"watch "svc.Later" SERVING"#);
    reporter.clear("svc.Later");
    later.expect(r#"watch "svc.Later" SERVICE_UNKNOWN"#);
    reporter.set_not_serving("svc.Later");
    later.expect(r#"watch "svc.Later" NOT_SERVING"#);

    let took = server.shut_down();
    a.expect(r#"watch "svc.A" NOT_SERVING"#);
    a.expect(r#"watch "svc.A" end UNAVAILABLE"#);
    // Already NOT_SERVING: nothing new to say before the end.
    later.expect(r#"watch "svc.Later" end UNAVAILABLE"#);
    assert!(
        took < PROMPT_SHUTDOWN,
        "open watches held the drain: {took:?}"
    );
    assert!(a.wait_exit(LINE_TIMEOUT).success());
    assert!(later.wait_exit(LINE_TIMEOUT).success());
}

/// The same client lines from grpc-js, with the service definition npm's grpc-health-check
/// exports.
#[test]
fn grpc_js_client_checks_and_watches_our_server() {
    let mut server = TestServer::start();
    let reporter = server.reporter.clone();
    reporter.set_serving("svc.Up");
    reporter.set_not_serving("svc.Down");
    let mut probe =
        Probe::node_health_probe(&["client", &server.addr, "check", "", "svc.Down", "no.Such"]);
    probe.expect(r#"check "" SERVING"#);
    probe.expect(r#"check "svc.Down" NOT_SERVING"#);
    probe.expect(r#"check "no.Such" error NOT_FOUND"#);
    probe.expect(r#"list {"": "SERVING", "svc.Down": "NOT_SERVING", "svc.Up": "SERVING"}"#);
    assert!(probe.wait_exit(LINE_TIMEOUT).success());

    let mut up = Probe::node_health_probe(&["client", &server.addr, "watch", "svc.Up"]);
    let mut later = Probe::node_health_probe(&["client", &server.addr, "watch", "svc.Later"]);
    up.expect(r#"watch "svc.Up" SERVING"#);
    later.expect(r#"watch "svc.Later" SERVICE_UNKNOWN"#);
    reporter.set_serving("svc.Up"); // no change: no message
    reporter.set_not_serving("svc.Up");
    up.expect(r#"watch "svc.Up" NOT_SERVING"#);
    reporter.set_serving("svc.Later");
    later.expect(r#"watch "svc.Later" SERVING"#);

    let took = server.shut_down();
    later.expect(r#"watch "svc.Later" NOT_SERVING"#);
    later.expect(r#"watch "svc.Later" end UNAVAILABLE"#);
    up.expect(r#"watch "svc.Up" end UNAVAILABLE"#);
    assert!(
        took < PROMPT_SHUTDOWN,
        "open watches held the drain: {took:?}"
    );
    assert!(up.wait_exit(LINE_TIMEOUT).success());
    assert!(later.wait_exit(LINE_TIMEOUT).success());
}

/// `order-server` serves health by default, and SIGTERM turns it NOT_SERVING first.
#[test]
fn order_server_reports_health_and_not_serving_on_sigterm() {
    let mut cmd = Command::new(ORDER_SERVER);
    // A store of its own (the default is a data directory shared by the user's runs).
    cmd.args(["--addr", "127.0.0.1:0", "--store", "memory"]);
    let mut server = Probe::spawn("order-server", cmd);
    let addr = server.listening_addr();
    let mut probe = Probe::health_probe(&[
        "client",
        &addr,
        "check",
        "",
        "ecommerce.OrderManagement",
        "no.Such",
    ]);
    probe.expect(r#"check "" SERVING"#);
    probe.expect(r#"check "ecommerce.OrderManagement" SERVING"#);
    probe.expect(r#"check "no.Such" error NOT_FOUND"#);
    probe.expect(r#"list {"": "SERVING", "ecommerce.OrderManagement": "SERVING"}"#);

    let mut whole = Probe::health_probe(&["client", &addr, "watch", ""]);
    let mut order = Probe::health_probe(&["client", &addr, "watch", "ecommerce.OrderManagement"]);
    whole.expect(r#"watch "" SERVING"#);
    order.expect(r#"watch "ecommerce.OrderManagement" SERVING"#);

    let started = Instant::now();
    let pid = server.pid().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(kill.success(), "kill -TERM {pid}");
    whole.expect(r#"watch "" NOT_SERVING"#);
    whole.expect(r#"watch "" end UNAVAILABLE"#);
    order.expect(r#"watch "ecommerce.OrderManagement" NOT_SERVING"#);
    order.expect(r#"watch "ecommerce.OrderManagement" end UNAVAILABLE"#);
    let status = server.wait_exit(PROMPT_SHUTDOWN * 2);
    assert!(status.success(), "order-server exited with {status}");
    let took = started.elapsed();
    assert!(
        took < PROMPT_SHUTDOWN,
        "order-server took {took:?} to stop with watchers open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_our_server() {
    let mut server = TestServer::start();
    let reporter = server.reporter.clone();
    reporter.set_serving("svc.Up");
    reporter.set_not_serving("svc.Down");
    let client = server.client().await;

    assert_eq!(check(&client, "").await, Ok(Wire::Serving));
    assert_eq!(check(&client, "svc.Up").await, Ok(Wire::Serving));
    assert_eq!(check(&client, "svc.Down").await, Ok(Wire::NotServing));
    assert_eq!(check(&client, "no.Such").await, Err(Code::NotFound));
    let list = client.list(HealthListRequest {}).await.expect("List");
    let mut listed: Vec<(String, Wire)> = list
        .into_inner()
        .statuses
        .into_iter()
        .map(|(name, r)| (name, r.status()))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            (String::new(), Wire::Serving),
            ("svc.Down".to_owned(), Wire::NotServing),
            ("svc.Up".to_owned(), Wire::Serving),
        ]
    );

    let mut up = watch(&client, "svc.Up").await;
    assert_eq!(next_status(&mut up).await, Ok(Some(Wire::Serving)));
    let mut later = watch(&client, "svc.Later").await;
    assert_eq!(
        next_status(&mut later).await,
        Ok(Some(Wire::ServiceUnknown))
    );
    reporter.set_serving("svc.Later");
    assert_eq!(next_status(&mut later).await, Ok(Some(Wire::Serving)));

    reporter.set_not_serving("svc.Up");
    assert_eq!(next_status(&mut up).await, Ok(Some(Wire::NotServing)));

    let took = server.shut_down();
    // svc.Up is NOT_SERVING already: no repeat of it, just the end.
    assert_eq!(next_status(&mut up).await, Err(Code::Unavailable));
    assert_eq!(next_status(&mut later).await, Ok(Some(Wire::NotServing)));
    assert_eq!(next_status(&mut later).await, Err(Code::Unavailable));
    assert!(
        took < PROMPT_SHUTDOWN,
        "open watches held the drain: {took:?}"
    );
    assert_eq!(reporter.status("svc.Up"), Some(ServingStatus::NotServing));
    reporter.set_serving("svc.Up");
    assert_eq!(
        reporter.status("svc.Up"),
        Some(ServingStatus::NotServing),
        "changes after shutdown are ignored"
    );
}

/// A watcher that cannot keep up: the status changes 20 000 times in a tight loop while
/// the client does not read (and has a 1 KiB stream window). The reporter never waits
/// for the watcher; the watcher skips what changed while it was busy instead of queueing
/// it, never sends the same status twice in a row, and ends on the latest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watcher_skips_to_the_latest_status() {
    const CHANGES: usize = 20_000;
    let server = TestServer::start();
    let reporter = server.reporter.clone();
    reporter.set_serving("svc.A");
    let channel = h2grpc::client::Channel::builder(&format!("http://{}", server.addr))
        .initial_stream_window_size(1024)
        .connect()
        .await
        .expect("connect");
    let client = HealthClient::new(channel);
    let mut a = watch(&client, "svc.A").await;
    assert_eq!(next_status(&mut a).await, Ok(Some(Wire::Serving)));

    let started = Instant::now();
    for i in 0..CHANGES {
        if i % 2 == 0 {
            reporter.set_not_serving("svc.A");
        } else {
            reporter.set_serving("svc.A");
        }
    }
    let took = started.elapsed();
    reporter.set_status("svc.A", ServingStatus::Unknown); // the last change: a sentinel
    let mut seen = vec![Wire::Serving];
    while seen.last() != Some(&Wire::Unknown) {
        let status = next_status(&mut a).await.expect("watching").expect("open");
        assert_ne!(
            seen.last(),
            Some(&status),
            "the same status twice, after {} messages",
            seen.len()
        );
        seen.push(status);
        assert!(seen.len() <= CHANGES + 2, "more messages than changes");
    }
    // The sentinel may overwrite the last toggle before the watcher looks: the only
    // sure thing is that it ends on the latest status, the sentinel.
    eprintln!("{} messages for {CHANGES} changes", seen.len());
    assert!(
        seen.len() < CHANGES / 2,
        "{} messages for {CHANGES} changes: the watcher queued instead of skipping",
        seen.len()
    );
    assert!(took < PROMPT_SHUTDOWN, "{CHANGES} changes took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_beyond_the_limit_is_resource_exhausted() {
    let server = TestServer::start();
    let client = server.client().await;
    // "" and MAX_LIST_SERVICES more.
    for i in 0..MAX_LIST_SERVICES {
        server.reporter.set_serving(&format!("svc.S{i}"));
    }
    let err = client
        .list(HealthListRequest {})
        .await
        .expect_err("over the limit");
    assert_eq!(err.code(), Code::ResourceExhausted);
    server.reporter.clear("svc.S0");
    let list = client
        .list(HealthListRequest {})
        .await
        .expect("at the limit");
    assert_eq!(list.into_inner().statuses.len(), MAX_LIST_SERVICES);
}

/// Our client against grpcio-health-checking's HealthServicer, driven on its stdin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_grpcio_health_servicer() {
    let mut server = Probe::health_probe(&["server"]);
    let addr = server.listening_addr();
    server.command("set svc.X NOT_SERVING");
    let client = HealthClient::connect(&format!("http://{addr}"))
        .await
        .expect("connect to grpcio");

    assert_eq!(
        check(&client, "").await,
        Ok(Wire::Serving),
        "grpcio starts \"\" SERVING"
    );
    assert_eq!(check(&client, "svc.X").await, Ok(Wire::NotServing));
    assert_eq!(check(&client, "no.Such").await, Err(Code::NotFound));
    let list = client.list(HealthListRequest {}).await;
    assert_eq!(
        list.map(|_| ()).map_err(|s| s.code()),
        Err(Code::Unimplemented),
        "grpcio's HealthServicer has no List"
    );

    let mut x = watch(&client, "svc.X").await;
    assert_eq!(next_status(&mut x).await, Ok(Some(Wire::NotServing)));
    server.command("set svc.X SERVING");
    assert_eq!(next_status(&mut x).await, Ok(Some(Wire::Serving)));
    let mut new = watch(&client, "svc.New").await;
    assert_eq!(next_status(&mut new).await, Ok(Some(Wire::ServiceUnknown)));
    server.command("set svc.New SERVING");
    assert_eq!(next_status(&mut new).await, Ok(Some(Wire::Serving)));

    server.command("shutdown");
    assert_eq!(next_status(&mut x).await, Ok(Some(Wire::NotServing)));
    assert_eq!(next_status(&mut new).await, Ok(Some(Wire::NotServing)));
    server.command("set svc.X SERVING");
    assert_eq!(
        check(&client, "svc.X").await,
        Ok(Wire::NotServing),
        "ignored after shutdown"
    );

    server.send_line("quit");
    server.expect("stopped");
    // grpcio keeps watches open until the server stops; then they end, with an error.
    assert!(
        next_status(&mut x).await.is_err(),
        "the watch ends when grpcio stops"
    );
    assert!(server.wait_exit(LINE_TIMEOUT).success());
}
