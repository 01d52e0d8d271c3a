//! order-server's durable default store (SQLite in `--data-dir`), tested on the real
//! process: what it acknowledged is there after a restart, after SIGTERM and after
//! `kill -9`, with one writer or many; a data directory it cannot use is a clear error
//! and a non-zero exit.
//!
//! The restart test writes and reads with Python grpcio (tests/python/store_client.py);
//! the load tests use our own client to drive many calls at once. Each test has its own
//! data directory under target/tmp/store/, removed before and after.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::python::{self, ChildGuard, python_env};

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/ecommerce.rs"));
}
use pb::Order;
use pb::order_management_client::OrderManagementClient;

const ORDER_SERVER: &str = env!("CARGO_BIN_EXE_order-server");
/// One store_client.py run: at most a few hundred RPCs on loopback.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERMed order-server may take to drain and exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// A bound on each load phase, so a wedged server fails the test instead of hanging it.
const LOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh, empty data directory for one test.
struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> DataDir {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("store")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        DataDir(dir)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("target/tmp paths are UTF-8")
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// order-server on a free port over `dir`; the guard and `http://ADDR`.
fn start(dir: &DataDir) -> (ChildGuard, String) {
    let mut cmd = Command::new(ORDER_SERVER);
    cmd.args(["--addr", "127.0.0.1:0", "--data-dir", dir.arg()])
        .env("RUST_LOG", "warn");
    let (guard, addr) = python::spawn_server("order-server", cmd);
    (guard, addr)
}

/// SIGTERM, then waits until the process is gone (or a zombie: exited, not yet reaped).
fn terminate(server: ChildGuard) {
    let pid = server.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {pid} failed");
    let started = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state is the field after the parenthesised command name.
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        if matches!(state, None | Some("Z")) {
            break;
        }
        assert!(
            started.elapsed() < EXIT_TIMEOUT,
            "order-server {pid} still running {EXIT_TIMEOUT:?} after SIGTERM:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Dropping reaps it.
}

fn store_client(addr: &str, mode: &str, prefix: &str, count: usize) -> String {
    let mut cmd = python_env().command("store_client.py");
    cmd.args(["--addr", addr, mode, "--prefix", prefix])
        .args(["--count", &count.to_string()]);
    let out = python::run("store_client.py", cmd, None, CLIENT_TIMEOUT);
    assert!(out.status.success(), "{}", out.describe());
    out.stdout
}

#[test]
fn grpcio_writes_survive_sigterm_and_kill_9_restarts() {
    let dir = DataDir::new("restart");
    let (server, addr) = start(&dir);
    let wrote = store_client(&addr, "write", "r", 40);
    assert_eq!(wrote.trim(), "wrote 40 orders, 21 updates");
    store_client(&addr, "verify", "r", 40);
    terminate(server);

    // Restart after a graceful stop: everything is there, and the sample orders were not
    // loaded again over the updated 102 (verify checks 102's description).
    let (mut server, addr) = start(&dir);
    let verified = store_client(&addr, "verify", "r", 40);
    assert_eq!(verified.trim(), "verified 40 orders");
    // More writes, then kill -9 with no chance to clean up.
    store_client(&addr, "write", "k", 30);
    server.kill_and_collect();

    let (_server, addr) = start(&dir);
    assert_eq!(
        store_client(&addr, "verify", "k", 30).trim(),
        "verified 30 orders"
    );
    // The first batch is still there too, beside the second; 102 now says "updated by k".
    let runtime = runtime();
    let ids = runtime.block_on(search_ids(&addr, "item r"));
    assert_eq!(ids.len(), 40, "{ids:?}");
    let samples = runtime.block_on(search_ids(&addr, "Amazon Echo"));
    assert_eq!(samples, ["105", "106"]);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn client(addr: &str) -> OrderManagementClient {
    OrderManagementClient::connect(&format!("http://{addr}"))
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e:?}"))
}

async fn search_ids(addr: &str, query: &str) -> Vec<String> {
    let client = client(addr).await;
    let mut found = client
        .search_orders(query.to_string())
        .await
        .expect("searchOrders")
        .into_inner();
    let mut ids = Vec::new();
    while let Some(order) = found.message().await.expect("searchOrders stream") {
        ids.push(order.id);
    }
    ids
}

fn order(id: &str, description: &str) -> Order {
    Order {
        id: id.into(),
        items: vec!["load".into()],
        description: description.into(),
        price: 1.5,
        destination: "Disk".into(),
    }
}

async fn update(client: &OrderManagementClient, order: Order) -> Result<(), h2grpc::Status> {
    let stream = futures::stream::iter([order]);
    client.update_orders_stream(stream).await.map(drop)
}

/// What the load writers had acknowledged when the server died.
#[derive(Default)]
struct Acked {
    /// Orders whose addOrder answered OK.
    added: Vec<String>,
    /// Orders whose updateOrders (to description "v1") answered OK.
    updated: Vec<String>,
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_write() {
    const WRITERS: usize = 16;
    /// Acknowledged writes before the kill: enough that many are in flight at once.
    const KILL_AFTER: usize = 300;
    /// Per writer: bounds the loop even if the kill never lands.
    const MAX_ORDERS: usize = 1000;

    let dir = DataDir::new("kill9");
    let (mut server, addr) = start(&dir);
    let runtime = runtime();
    let acked = Arc::new(Mutex::new(Acked::default()));
    runtime.block_on(async {
        let client = client(&addr).await;
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let (client, acked) = (client.clone(), acked.clone());
            // Each writer adds an order, then updates it: at most one write in flight.
            writers.push(tokio::spawn(async move {
                for k in 0..MAX_ORDERS {
                    let id = format!("w{w:02}-{k:04}");
                    if client.add_order(order(&id, "v0")).await.is_err() {
                        return;
                    }
                    acked.lock().unwrap().added.push(id.clone());
                    if update(&client, order(&id, "v1")).await.is_err() {
                        return;
                    }
                    acked.lock().unwrap().updated.push(id);
                }
            }));
        }
        let started = Instant::now();
        loop {
            let n = {
                let a = acked.lock().unwrap();
                a.added.len() + a.updated.len()
            };
            if n >= KILL_AFTER {
                break;
            }
            assert!(
                started.elapsed() < LOAD_TIMEOUT,
                "only {n} writes acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill_and_collect();
        for writer in writers {
            tokio::time::timeout(LOAD_TIMEOUT, writer)
                .await
                .expect("writers stop once the server is gone")
                .expect("writer task");
        }
    });

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.added.len() + acked.updated.len() >= KILL_AFTER);
    let (_server, addr) = start(&dir);
    runtime.block_on(async {
        let client = client(&addr).await;
        for id in &acked.added {
            let stored = client
                .get_order(id.clone())
                .await
                .unwrap_or_else(|e| panic!("acknowledged order {id} lost: {e:?}"))
                .into_inner();
            assert_eq!(stored.items, ["load"], "{stored:?}");
        }
        for id in &acked.updated {
            let stored = client.get_order(id.clone()).await.expect("getOrder");
            assert_eq!(
                stored.get_ref().description,
                "v1",
                "acknowledged update of {id} lost"
            );
        }
    });
    println!(
        "after kill -9: {} acknowledged adds and {} updates all present",
        acked.added.len(),
        acked.updated.len()
    );
}

#[test]
fn concurrent_writers_agree_in_memory_and_on_disk() {
    const WRITERS: usize = 8;
    const EACH: usize = 25;

    let dir = DataDir::new("concurrent");
    let (server, addr) = start(&dir);
    let runtime = runtime();
    let before = runtime.block_on(async {
        let client = client(&addr).await;
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let client = client.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..EACH {
                    // Everyone replaces sample order 103, and adds orders of its own.
                    let mut o = order("103", &format!("writer {w} update {i}"));
                    o.items = vec!["Apple Watch S4".into()];
                    update(&client, o).await.expect("updateOrders 103");
                    let id = format!("c{w}-{i:02}");
                    client.add_order(order(&id, "v0")).await.expect("addOrder");
                }
            }));
        }
        for writer in writers {
            tokio::time::timeout(LOAD_TIMEOUT, writer)
                .await
                .expect("writers finish")
                .expect("writer task");
        }
        let winner = client.get_order("103".to_string()).await.expect("get 103");
        (winner.into_inner(), search_ids(&addr, "load").await)
    });
    let (winner, added) = before;
    assert!(
        winner.description.starts_with("writer ") && winner.description.ends_with(" update 24"),
        "103 holds {:?}: the last update of some writer",
        winner.description
    );
    assert_eq!(added.len(), WRITERS * EACH);
    terminate(server);

    let (_server, addr) = start(&dir);
    runtime.block_on(async {
        let client = client(&addr).await;
        let after = client.get_order("103".to_string()).await.expect("get 103");
        assert_eq!(
            after.into_inner(),
            winner,
            "disk and memory disagree on 103"
        );
        assert_eq!(search_ids(&addr, "load").await, added);
    });
}

/// Runs order-server with `args` until it exits; its exit code and stderr.
fn run_server(args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(ORDER_SERVER);
    cmd.args(["--addr", "127.0.0.1:0"]).args(args);
    let out = python::run("order-server", cmd, None, Duration::from_secs(20));
    assert!(
        !out.stdout.contains("listening on"),
        "order-server served over a bad store:\n{}",
        out.describe()
    );
    (out.status.code(), out.stderr)
}

#[test]
fn unusable_data_dirs_are_clear_errors() {
    let dir = DataDir::new("unusable");
    std::fs::create_dir_all(&dir.0).expect("create test dir");

    // A database file that is not one.
    let corrupt = dir.0.join("corrupt");
    std::fs::create_dir_all(&corrupt).expect("create dir");
    std::fs::write(corrupt.join("orders.sqlite3"), [0x5a; 8192]).expect("write junk");
    let (code, stderr) = run_server(&["--data-dir", corrupt.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("orders.sqlite3: file is not a database"),
        "{stderr}"
    );

    // A data directory that is a file.
    let file = dir.0.join("a-file");
    std::fs::write(&file, "not a directory").expect("write file");
    let (code, stderr) = run_server(&["--data-dir", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot create data directory"), "{stderr}");

    // A directory another order-server is using.
    let shared = DataDir::new("in-use");
    let (_first, _) = start(&shared);
    let (code, stderr) = run_server(&["--data-dir", shared.arg()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("is in use by another order-server"),
        "{stderr}"
    );

    // Flags that contradict each other: a usage error.
    let (code, stderr) = run_server(&["--store", "memory", "--data-dir", shared.arg()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--store memory takes no --data-dir"),
        "{stderr}"
    );
    let (code, stderr) = run_server(&["--store", "postgres"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--store postgres needs --database-url"),
        "{stderr}"
    );
}

#[test]
fn no_sample_data_starts_empty_and_stays_empty() {
    let dir = DataDir::new("empty");
    let mut cmd = Command::new(ORDER_SERVER);
    cmd.args([
        "--addr",
        "127.0.0.1:0",
        "--no-sample-data",
        "--data-dir",
        dir.arg(),
    ]);
    let (server, addr) = python::spawn_server("order-server", cmd);
    let runtime = runtime();
    assert!(runtime.block_on(search_ids(&addr, "")).is_empty());
    terminate(server);
    // A later start with samples on finds the store empty and fills it.
    let (_server, addr) = start(&dir);
    assert_eq!(
        runtime.block_on(search_ids(&addr, "")),
        ["102", "103", "104", "105", "106"]
    );
}
