//! order-server's interceptors, driven by a foreign client (grpcio):
//! `--token` (bearer-token check: `UNAUTHENTICATED` without it), `--metrics`
//! (Prometheus text counting those very calls by method and code) and
//! `--log-calls` (a span and an end line per call on stderr).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::python::{self, ChildGuard, python_env};

const ORDER_SERVER: &str = env!("CARGO_BIN_EXE_order-server");
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// The `metrics on ADDR` line order-server prints after its first line.
fn metrics_addr(server: &ChildGuard) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if let Some(addr) = server
            .stdout()
            .lines()
            .find_map(|l| l.strip_prefix("metrics on "))
        {
            return addr.trim().to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no `metrics on` line; stdout: {}", server.stdout());
}

/// One HTTP/1.1 GET, the way Prometheus scrapes.
fn scrape(addr: &str, path: &str) -> String {
    let mut socket = TcpStream::connect(addr).expect("connect to the metrics port");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(socket, "GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    socket
        .read_to_string(&mut response)
        .expect("read the scrape");
    response
}

/// The value of the sample whose line starts with `name{` and holds every label.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn grpcio_client_meets_token_metrics_and_call_logs() {
    let py = python_env();
    let mut cmd = Command::new(ORDER_SERVER);
    cmd.args(["--addr", "127.0.0.1:0", "--token", "t0ken"])
        .args(["--metrics", "127.0.0.1:0", "--log-calls"]);
    let (mut server, addr) = python::spawn_server("order-server", cmd);
    let metrics = metrics_addr(&server);

    let mut probe = py.command("token_probe.py");
    probe.args(["--addr", &addr, "--token", "t0ken"]);
    let out = python::run("token_probe.py", probe, None, PROBE_TIMEOUT);
    if !out.status.success() {
        let (_, stderr) = server.kill_and_collect();
        panic!("{}\n--- order-server stderr ---\n{stderr}", out.describe());
    }
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "none UNAUTHENTICATED",
            "wrong UNAUTHENTICATED",
            "right OK",
            "stream OK 2"
        ],
        "{}",
        out.describe()
    );

    let scraped = scrape(&metrics, "/metrics");
    assert!(scraped.starts_with("HTTP/1.1 200 OK\r\n"), "{scraped}");
    let method = "grpc_method=\"getOrder\"";
    let service = "grpc_service=\"ecommerce.OrderManagement\"";
    let handled = "grpc_server_handled_total";
    assert_eq!(
        sample(
            &scraped,
            handled,
            &[method, service, "grpc_code=\"UNAUTHENTICATED\""]
        ),
        Some(2.0),
        "{scraped}"
    );
    assert_eq!(
        sample(&scraped, handled, &[method, "grpc_code=\"OK\""]),
        Some(1.0),
        "{scraped}"
    );
    let search = "grpc_method=\"searchOrders\"";
    assert_eq!(
        sample(&scraped, handled, &[search, "grpc_code=\"OK\""]),
        Some(1.0),
        "{scraped}"
    );
    assert_eq!(
        sample(&scraped, "grpc_server_started_total", &[method]),
        Some(3.0),
        "{scraped}"
    );
    assert!(
        scraped.contains("grpc_server_handling_seconds"),
        "{scraped}"
    );
    assert!(scrape(&metrics, "/other").starts_with("HTTP/1.1 404"));

    // --log-calls: one end line per call, inside the call's span.
    let stderr = server.stderr();
    let ends: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("call finished"))
        .collect();
    assert_eq!(ends.len(), 4, "{stderr}");
    assert!(
        ends.iter()
            .any(|l| l.contains("method=\"getOrder\"") || l.contains("method=getOrder")),
        "{stderr}"
    );
    assert!(
        ends.iter()
            .any(|l| l.contains("code=\"UNAUTHENTICATED\"") || l.contains("code=UNAUTHENTICATED")),
        "{stderr}"
    );
    assert!(
        ends.iter().all(|l| l.contains("peer=127.0.0.1:")),
        "{stderr}"
    );
}

#[test]
fn order_server_logs_no_call_by_default() {
    let py = python_env();
    let mut cmd = Command::new(ORDER_SERVER);
    cmd.args(["--addr", "127.0.0.1:0", "--token", "t0ken"]);
    let (server, addr) = python::spawn_server("order-server", cmd);
    let mut probe = py.command("token_probe.py");
    probe.args(["--addr", &addr, "--token", "t0ken"]);
    let out = python::run("token_probe.py", probe, None, PROBE_TIMEOUT);
    assert!(out.status.success(), "{}", out.describe());
    assert!(
        !server.stderr().contains("call finished"),
        "{}",
        server.stderr()
    );
}
