//! Issue 4, proven against a foreign implementation: Python grpcio on the other end.
//!
//! - grpcio client → our `order-server`: tests/python/order_client_check.py walks every
//!   RPC and every error of the contract (including decoding the google.rpc.BadRequest in
//!   `grpc-status-details-bin`), a 3 MiB order and 100 concurrent calls.
//! - our `order-client` → grpcio server: tests/python/order_server.py implements the same
//!   contract; each subcommand's output is compared with the order-client CLI contract
//!   (one JSON line per order or shipment, `error: <CODE>: <message>` and exit 1 on error).
//!
//! The Python side installs itself on first use (tests/common/python.rs): a venv under
//! target/tmp with the pinned grpcio from tests/python/requirements.txt.

mod common;

use std::process::Command;
use std::time::Duration;

use common::python::{self, ChildGuard, RunOutput, python_env};

const ORDER_SERVER: &str = env!("CARGO_BIN_EXE_order-server");
const ORDER_CLIENT: &str = env!("CARGO_BIN_EXE_order-client");
/// 13 checks, each RPC with a 10 s deadline; this only bounds a wedged run.
const CHECK_TIMEOUT: Duration = Duration::from_secs(180);
/// One order-client invocation against a local server.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn python_grpcio_client_passes_against_our_order_server() {
    grpcio_client_checks(&[]);
}

/// The same checks with the server's connections on threads of their own.
#[test]
fn python_grpcio_client_passes_against_our_order_server_on_connection_threads() {
    grpcio_client_checks(&["--connection-threads", "2"]);
}

fn grpcio_client_checks(server_args: &[&str]) {
    let py = python_env();
    let mut server_cmd = Command::new(ORDER_SERVER);
    server_cmd.args(["--addr", "127.0.0.1:0"]).args(server_args);
    let (mut server, addr) = python::spawn_server("order-server", server_cmd);

    let mut check = py.command("order_client_check.py");
    check.args(["--addr", &addr]);
    let out = python::run("order_client_check.py", check, None, CHECK_TIMEOUT);
    if !out.status.success() {
        let (_, server_stderr) = server.kill_and_collect();
        panic!(
            "{}\n--- order-server stderr ---\n{server_stderr}",
            out.describe()
        );
    }
    assert!(
        out.stdout.lines().any(|l| l == "13 passed, 0 failed"),
        "expected all 13 checks to run and pass:\n{}",
        out.describe()
    );
}

/// tests/python/order_server.py on a free port, with the sample orders 102..106.
fn python_server() -> (ChildGuard, String) {
    let py = python_env();
    python::spawn_server("order_server.py", py.command("order_server.py"))
}

fn order_client(addr: &str, args: &[&str], stdin: Option<&str>) -> RunOutput {
    let mut cmd = Command::new(ORDER_CLIENT);
    cmd.args(["--addr", addr]).args(args);
    let name = format!("order-client {}", args.join(" "));
    python::run(&name, cmd, stdin.map(str::as_bytes), CLIENT_TIMEOUT)
}

/// Runs order-client, asserts exit 0, returns its stdout lines.
fn client_ok(addr: &str, args: &[&str], stdin: Option<&str>) -> Vec<String> {
    let out = order_client(addr, args, stdin);
    assert!(out.status.success(), "{}", out.describe());
    out.stdout.lines().map(str::to_owned).collect()
}

/// Runs order-client, asserts exit 1 with stderr `error: <code>: ...`.
fn client_err(addr: &str, args: &[&str], stdin: Option<&str>, code: &str) {
    let out = order_client(addr, args, stdin);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.starts_with(&format!("error: {code}: ")),
        "expected stderr `error: {code}: ...`\n{}",
        out.describe()
    );
}

/// An order as the CLI prints it (one JSON line, field order of the contract). `{:?}` of
/// an f32 prints the shortest round-trip form with a `.0` for whole numbers, as JSON
/// printers do; the prices used here are exact in f32.
fn order_json(
    id: &str,
    items: &[&str],
    description: &str,
    price: f32,
    destination: &str,
) -> String {
    let items: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!(
        r#"{{"id":"{id}","items":[{}],"description":"{description}","price":{price:?},"destination":"{destination}"}}"#,
        items.join(",")
    )
}

fn sample(id: &str) -> String {
    match id {
        "102" => order_json(
            "102",
            &["Google Pixel 3A", "Mac Book Pro"],
            "Mac Book Pro",
            1800.0,
            "Mountain View, CA",
        ),
        "103" => order_json(
            "103",
            &["Apple Watch S4"],
            "Apple Watch S4",
            400.0,
            "San Jose, CA",
        ),
        "104" => order_json(
            "104",
            &["Google Home Mini", "Google Nest Hub"],
            "Google Home Mini",
            400.0,
            "Mountain View, CA",
        ),
        "105" => order_json("105", &["Amazon Echo"], "Amazon Echo", 30.0, "San Jose, CA"),
        "106" => order_json(
            "106",
            &["Amazon Echo", "Apple iPhone XS"],
            "Amazon Echo",
            300.0,
            "Mountain View, CA",
        ),
        other => panic!("no sample order {other}"),
    }
}

fn shipment_json(destination: &str, orders: &[&str]) -> String {
    let orders: Vec<String> = orders.iter().map(|id| sample(id)).collect();
    format!(
        r#"{{"id":"cmb - {destination}","status":"Processed!","ordersList":[{}]}}"#,
        orders.join(",")
    )
}

#[test]
fn our_client_get_against_python_server() {
    let (_server, addr) = python_server();
    assert_eq!(client_ok(&addr, &["get", "102"], None), [sample("102")]);
    client_err(&addr, &["get", "999"], None, "NOT_FOUND");
}

#[test]
fn our_client_add_against_python_server() {
    let (_server, addr) = python_server();
    let added = client_ok(
        &addr,
        &[
            "add",
            "--id",
            "201",
            "--item",
            "Rust Book",
            "--item",
            "Ferris Plush",
            "--description",
            "added by order-client",
            "--price",
            "42.5",
            "--destination",
            "Zurich, CH",
        ],
        None,
    );
    assert_eq!(added, ["added 201"]);
    let stored = order_json(
        "201",
        &["Rust Book", "Ferris Plush"],
        "added by order-client",
        42.5,
        "Zurich, CH",
    );
    assert_eq!(client_ok(&addr, &["get", "201"], None), [stored]);

    let existing = [
        "add",
        "--id",
        "102",
        "--item",
        "Duplicate",
        "--description",
        "dup",
        "--price",
        "1",
        "--destination",
        "Nowhere",
    ];
    client_err(&addr, &existing, None, "ALREADY_EXISTS");
    assert_eq!(client_ok(&addr, &["get", "102"], None), [sample("102")]);

    let empty_id = [
        "add",
        "--id",
        "",
        "--item",
        "Nothing",
        "--description",
        "no id",
        "--price",
        "1",
        "--destination",
        "Nowhere",
    ];
    client_err(&addr, &empty_id, None, "INVALID_ARGUMENT");
}

#[test]
fn our_client_search_against_python_server() {
    let (_server, addr) = python_server();
    assert_eq!(
        client_ok(&addr, &["search", "Google"], None),
        [sample("102"), sample("104")]
    );
    assert!(client_ok(&addr, &["search", "nothing-matches"], None).is_empty());
}

#[test]
fn our_client_update_against_python_server() {
    let (_server, addr) = python_server();
    let new_102 = order_json(
        "102",
        &["Google Pixel 3A", "Mac Book Pro"],
        "updated 102",
        1900.0,
        "Mountain View, CA",
    );
    let new_103 = order_json(
        "103",
        &["Apple Watch S4"],
        "updated 103",
        450.0,
        "San Jose, CA",
    );
    let stdin = format!("{new_102}\n{new_103}\n");
    assert_eq!(
        client_ok(&addr, &["update"], Some(&stdin)),
        ["updated: Updated orders: 102, 103"]
    );
    assert_eq!(client_ok(&addr, &["get", "102"], None), [new_102]);
    assert_eq!(client_ok(&addr, &["get", "103"], None), [new_103]);

    // An unknown id fails the call, but the update before it stays applied.
    let new_104 = order_json(
        "104",
        &["Google Home Mini"],
        "updated 104",
        410.0,
        "Mountain View, CA",
    );
    let ghost = order_json("no-such-order", &["Ghost"], "ghost", 1.0, "Nowhere");
    client_err(
        &addr,
        &["update"],
        Some(&format!("{new_104}\n{ghost}\n")),
        "NOT_FOUND",
    );
    assert_eq!(client_ok(&addr, &["get", "104"], None), [new_104]);
}

#[test]
fn our_client_process_against_python_server() {
    let (_server, addr) = python_server();
    // Batches of 3: {102 MV, 103 SJ, 104 MV} then {105 SJ, 106 MV}; destinations in order
    // of first appearance within each batch.
    assert_eq!(
        client_ok(&addr, &["process", "102", "103", "104", "105", "106"], None),
        [
            shipment_json("Mountain View, CA", &["102", "104"]),
            shipment_json("San Jose, CA", &["103"]),
            shipment_json("San Jose, CA", &["105"]),
            shipment_json("Mountain View, CA", &["106"]),
        ]
    );
    client_err(
        &addr,
        &["process", "102", "no-such-order"],
        None,
        "NOT_FOUND",
    );
}

#[test]
fn our_client_demo_against_python_server() {
    let (_server, addr) = python_server();
    let out = order_client(&addr, &["demo"], None);
    assert!(out.status.success(), "{}", out.describe());
    assert!(
        !out.stdout.trim().is_empty(),
        "demo printed nothing:\n{}",
        out.describe()
    );
}
