//! End-to-end tests of the generator: real `.proto` files under
//! `tests/protos/` go through protox and prost-build into a temporary
//! directory, and the generated text is checked for the shapes the h2grpc
//! runtime contract expects (trait methods, stream types, `:path`s, match
//! arms on proto method names, codec type order).
//!
//! prost-build formats its output, so most checks compare with all
//! whitespace removed; one test turns formatting off and checks our own
//! layout line by line.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use prost::Message;

const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/protos");

/// A fresh directory per call: tests run in parallel in one process.
fn temp_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "h2grpc-build-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn proto(name: &str) -> PathBuf {
    Path::new(PROTOS).join(name)
}

/// Compiles `file` with default settings and returns the generated `out` file.
fn generate(file: &str, out: &str) -> String {
    let dir = temp_dir("gen");
    h2grpc_build::configure()
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .compile(&[proto(file)], &[PROTOS])
        .unwrap();
    fs::read_to_string(dir.join(out)).unwrap()
}

/// Drops whitespace and the trailing commas the formatter adds when it
/// breaks a list over lines, so checks do not depend on line width.
fn squash(text: &str) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    for close in [")", ">", "}", "]"] {
        out = out.replace(&format!(",{close}"), close);
    }
    out
}

/// Whitespace-insensitive `contains`, printing the whole file on failure.
#[track_caller]
fn assert_has(code: &str, needle: &str) {
    assert!(
        squash(code).contains(&squash(needle)),
        "generated code lacks\n  {needle}\n--- generated ---\n{code}"
    );
}

#[track_caller]
fn assert_lacks(code: &str, needle: &str) {
    assert!(
        !squash(code).contains(&squash(needle)),
        "generated code should not contain\n  {needle}\n--- generated ---\n{code}"
    );
}

const STRING: &str = "::prost::alloc::string::String";

#[test]
fn server_trait_has_one_method_per_rpc_and_sinks_for_streamed_responses() {
    let code = generate("order_management.proto", "ecommerce.rs");

    assert_has(&code, "pub mod order_management_server {");
    assert_has(&code, "pub trait OrderManagement: Send + Sync + 'static {");
    // Unary; the proto comment becomes the doc.
    assert_has(
        &code,
        &format!(
            "/// Adds an order and returns its id.
             fn add_order(&self, request: ::h2grpc::Request<super::Order>)
                 -> impl ::h2grpc::codegen::Future<
                     Output = Result<::h2grpc::Response<{STRING}>, ::h2grpc::Status>,
                 > + Send;"
        ),
    );
    // No proto comment: a generated doc keeps missing_docs quiet.
    assert_has(
        &code,
        "/// Handles the unary `getOrder` rpc.\nfn get_order(",
    );
    // Server streaming: the handler sends on a sink and returns the status.
    assert_has(
        &code,
        &format!(
            "fn search_orders(&self, request: ::h2grpc::Request<{STRING}>,
                 sink: ::h2grpc::server::ResponseSink<super::Order>)
                 -> impl ::h2grpc::codegen::Future<Output = Result<(), ::h2grpc::Status>> + Send;"
        ),
    );
    // Client streaming: Streaming input, plain output, no stream type.
    assert_has(
        &code,
        &format!(
            "fn update_orders(&self, request: ::h2grpc::Request<::h2grpc::Streaming<super::Order>>)
                 -> impl ::h2grpc::codegen::Future<
                     Output = Result<::h2grpc::Response<{STRING}>, ::h2grpc::Status>,
                 > + Send;"
        ),
    );
    // No associated stream types: a handler with a ready stream uses `sink.send_all`.
    assert_lacks(&code, "Stream:");
    // Bidi: Streaming input, and a sink.
    assert_has(
        &code,
        &format!(
            "fn process_orders(&self, request: ::h2grpc::Request<::h2grpc::Streaming<{STRING}>>,
                 sink: ::h2grpc::server::ResponseSink<super::CombinedShipment>)
                 -> impl ::h2grpc::codegen::Future<Output = Result<(), ::h2grpc::Status>> + Send;"
        ),
    );
    assert_has(
        &code,
        "pub const SERVICE_NAME: &str = \"ecommerce.OrderManagement\";",
    );
}

#[test]
fn server_dispatch_matches_proto_names_with_response_first_codec() {
    let code = generate("order_management.proto", "ecommerce.rs");

    assert_has(
        &code,
        "impl<T: OrderManagement> ::h2grpc::server::Service for OrderManagementServer<T> {
             fn name(&self) -> &'static str { SERVICE_NAME }",
    );
    // ProstCodec<Encode = response, Decode = request> on the server.
    let arms = [
        (
            "addOrder",
            "unary",
            STRING,
            "super::Order",
            "add_order",
            false,
        ),
        (
            "getOrder",
            "unary",
            "super::Order",
            STRING,
            "get_order",
            false,
        ),
        (
            "searchOrders",
            "server_streaming_sink",
            "super::Order",
            STRING,
            "search_orders",
            false,
        ),
        (
            "updateOrders",
            "client_streaming",
            STRING,
            "super::Order",
            "update_orders",
            true,
        ),
        (
            "processOrders",
            "streaming_sink",
            "super::CombinedShipment",
            STRING,
            "process_orders",
            true,
        ),
    ];
    for (proto_name, call_fn, encode, decode, rust_name, streaming_in) in arms {
        let request = if streaming_in {
            format!("::h2grpc::Request<::h2grpc::Streaming<{decode}>>")
        } else {
            format!("::h2grpc::Request<{decode}>")
        };
        // A streamed response: the handler also gets the sink.
        let (params, args) = if call_fn.ends_with("_sink") {
            (
                format!("request: {request}, sink: ::h2grpc::server::ResponseSink<{encode}>"),
                "request, sink",
            )
        } else {
            (format!("request: {request}"), "request")
        };
        assert_has(
            &code,
            &format!(
                "\"{proto_name}\" => {{
                     let inner = ::h2grpc::codegen::Arc::clone(&self.inner);
                     call.{call_fn}(
                         ::h2grpc::codec::ProstCodec::<{encode}, {decode}>::default(),
                         move |{params}| async move {{ inner.{rust_name}({args}).await }},
                     );
                 }}"
            ),
        );
    }
    assert_has(&code, "_ => call.unimplemented()");
    // Clone and Debug do not require T: Clone / T: Debug.
    assert_has(&code, "impl<T> Clone for OrderManagementServer<T> {");
    assert_has(
        &code,
        "impl<T> ::core::fmt::Debug for OrderManagementServer<T> {",
    );
    assert_has(
        &code,
        "#[must_use] pub const fn from_arc(inner: ::h2grpc::codegen::Arc<T>) -> Self",
    );
}

#[test]
fn client_calls_full_paths_with_request_first_codec() {
    let code = generate("order_management.proto", "ecommerce.rs");

    assert_has(&code, "pub mod order_management_client {");
    assert_has(
        &code,
        "pub struct OrderManagementClient { channel: ::h2grpc::client::Channel, }",
    );
    assert_has(
        &code,
        "pub async fn connect(uri: &str) -> Result<Self, ::h2grpc::Status> {
             let channel = ::h2grpc::client::Channel::connect(uri).await?;",
    );
    assert_has(
        &code,
        "#[must_use] pub const fn channel(&self) -> &::h2grpc::client::Channel",
    );
    // ProstCodec<Encode = request, Decode = response> on the client.
    assert_has(
        &code,
        &format!(
            "/// Adds an order and returns its id.
             pub async fn add_order(&self, request: impl ::h2grpc::IntoRequest<super::Order>)
                 -> Result<::h2grpc::Response<{STRING}>, ::h2grpc::Status> {{
                 self.channel.unary(
                     \"/ecommerce.OrderManagement/addOrder\",
                     ::h2grpc::IntoRequest::into_request(request),
                     ::h2grpc::codec::ProstCodec::<super::Order, {STRING}>::default(),
                 ).await
             }}"
        ),
    );
    assert_has(
        &code,
        &format!(
            "pub async fn search_orders(&self, request: impl ::h2grpc::IntoRequest<{STRING}>)
                 -> Result<::h2grpc::Response<::h2grpc::Streaming<super::Order>>, ::h2grpc::Status> {{
                 self.channel.server_streaming(
                     \"/ecommerce.OrderManagement/searchOrders\",
                     ::h2grpc::IntoRequest::into_request(request),
                     ::h2grpc::codec::ProstCodec::<{STRING}, super::Order>::default(),
                 ).await"
        ),
    );
    // Client streaming and bidi: a call handle under the rpc's name (the
    // seed's model), the whole-stream form under `<name>_stream`.
    assert_has(
        &code,
        &format!(
            "pub async fn update_orders(&self, request: impl ::h2grpc::IntoRequest<()>)
                 -> Result<::h2grpc::client::ClientStreamingCall<super::Order, {STRING}>, ::h2grpc::Status> {{
                 self.channel.client_streaming_call(
                     \"/ecommerce.OrderManagement/updateOrders\",
                     ::h2grpc::IntoRequest::into_request(request),
                     ::h2grpc::codec::ProstCodec::<super::Order, {STRING}>::default(),
                 ).await"
        ),
    );
    assert_has(
        &code,
        &format!(
            "pub async fn process_orders(&self, request: impl ::h2grpc::IntoRequest<()>)
                 -> Result<::h2grpc::client::StreamingCall<{STRING}, super::CombinedShipment>, ::h2grpc::Status> {{
                 self.channel.streaming_call(
                     \"/ecommerce.OrderManagement/processOrders\",
                     ::h2grpc::IntoRequest::into_request(request),
                     ::h2grpc::codec::ProstCodec::<{STRING}, super::CombinedShipment>::default(),
                 ).await"
        ),
    );
    assert_has(
        &code,
        &format!(
            "pub async fn update_orders_stream(
                 &self,
                 request: impl ::h2grpc::IntoStreamingRequest<Message = super::Order>,
             ) -> Result<::h2grpc::Response<{STRING}>, ::h2grpc::Status> {{
                 self.channel.client_streaming(
                     \"/ecommerce.OrderManagement/updateOrders\",
                     ::h2grpc::IntoStreamingRequest::into_streaming_request(request),
                     ::h2grpc::codec::ProstCodec::<super::Order, {STRING}>::default(),
                 ).await"
        ),
    );
    assert_has(
        &code,
        &format!(
            "pub async fn process_orders_stream(
                 &self,
                 request: impl ::h2grpc::IntoStreamingRequest<Message = {STRING}>,
             ) -> Result<::h2grpc::Response<::h2grpc::Streaming<super::CombinedShipment>>, ::h2grpc::Status> {{
                 self.channel.streaming(
                     \"/ecommerce.OrderManagement/processOrders\",
                     ::h2grpc::IntoStreamingRequest::into_streaming_request(request),
                     ::h2grpc::codec::ProstCodec::<{STRING}, super::CombinedShipment>::default(),
                 ).await"
        ),
    );
    assert_has(
        &code,
        "/// Calls the unary `getOrder` rpc (`/ecommerce.OrderManagement/getOrder`).",
    );
}

#[test]
fn service_without_package_uses_bare_name() {
    // prost-build puts package-less files in `_.rs`.
    let code = generate("greeter.proto", "_.rs");

    assert_has(&code, "pub const SERVICE_NAME: &str = \"Greeter\";");
    assert_has(&code, "pub trait Greeter: Send + Sync + 'static");
    assert_has(&code, "\"SayHello\" => {");
    assert_has(
        &code,
        "fn say_hello(&self, request: ::h2grpc::Request<super::HelloRequest>)",
    );
    assert_has(&code, "\"/Greeter/SayHello\",");
    assert_has(&code, "pub struct GreeterClient");
}

#[test]
fn well_known_and_sibling_package_types_resolve() {
    let dir = temp_dir("wkt");
    h2grpc_build::configure()
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .compile(&[proto("inventory.proto")], &[PROTOS])
        .unwrap();
    let code = fs::read_to_string(dir.join("shop.inventory.rs")).unwrap();

    // google.protobuf.Empty is (), UInt64Value is u64: neither gets `super::`.
    assert_has(&code, "::h2grpc::codec::ProstCodec::<(), ()>::default()");
    assert_has(&code, "fn ping(&self, request: ::h2grpc::Request<()>)");
    assert_has(
        &code,
        &format!("::h2grpc::codec::ProstCodec::<u64, {STRING}>::default()"),
    );
    assert_has(
        &code,
        &format!("::h2grpc::codec::ProstCodec::<{STRING}, u64>::default()"),
    );
    // A message of package shop.common, seen from shop.inventory's nested modules.
    assert_has(
        &code,
        "fn reserve(&self, request: ::h2grpc::Request<super::super::common::OrderId>)",
    );
    // The client must not redefine its `connect` constructor; the rpc keeps its wire name.
    assert_has(&code, "pub async fn connect_rpc(");
    assert_has(&code, "\"/shop.inventory.Inventory/Connect\",");
    assert_has(
        &code,
        "fn connect(&self, request: ::h2grpc::Request<()>,
             sink: ::h2grpc::server::ResponseSink<super::Reservation>)",
    );
    assert_lacks(&code, "type ConnectStream:");
    // An empty service dispatches straight to UNIMPLEMENTED.
    assert_has(
        &code,
        "fn call(&self, method: &str, call: ::h2grpc::server::Call) {
             let _ = method;
             call.unimplemented();
         }",
    );
    assert_has(&code, "pub trait Idle: Send + Sync + 'static {}");

    // Messages of the imported package are generated too; the built-in
    // google/protobuf files map to prost types and produce no file.
    assert!(dir.join("shop.common.rs").exists());
    let files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !files.iter().any(|f| f.starts_with("google")),
        "unexpected files: {files:?}"
    );
}

#[test]
fn sides_can_be_switched_off() {
    let dir = temp_dir("sides");
    h2grpc_build::configure()
        .build_client(false)
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .compile(&[proto("order_management.proto")], &[PROTOS])
        .unwrap();
    let code = fs::read_to_string(dir.join("ecommerce.rs")).unwrap();
    assert_has(&code, "pub mod order_management_server");
    assert_lacks(&code, "order_management_client");

    let dir = temp_dir("sides");
    h2grpc_build::configure()
        .build_server(false)
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .compile(&[proto("order_management.proto")], &[PROTOS])
        .unwrap();
    let code = fs::read_to_string(dir.join("ecommerce.rs")).unwrap();
    assert_lacks(&code, "order_management_server");
    assert_has(&code, "pub mod order_management_client");
}

#[test]
fn prost_hook_and_descriptor_set() {
    let dir = temp_dir("fds");
    let fds_path = dir.join("descriptor.bin");
    h2grpc_build::configure()
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .file_descriptor_set_path(&fds_path)
        .prost_config(|config| {
            config.type_attribute(".ecommerce.Order", "#[doc(alias = \"purchase\")]");
        })
        .compile(&[proto("order_management.proto")], &[PROTOS])
        .unwrap();
    let code = fs::read_to_string(dir.join("ecommerce.rs")).unwrap();
    assert_has(&code, "#[doc(alias = \"purchase\")]");

    let fds = prost_types::FileDescriptorSet::decode(&*fs::read(&fds_path).unwrap()).unwrap();
    let names: Vec<_> = fds.file.iter().map(|f| f.name()).collect();
    // Imports first, with their own descriptors, as reflection needs them.
    assert_eq!(
        names,
        ["google/protobuf/wrappers.proto", "order_management.proto"]
    );
    let ours = &fds.file[1];
    assert_eq!(ours.service[0].name(), "OrderManagement");
    assert_eq!(ours.service[0].method[0].name(), "addOrder");
    assert!(ours.source_code_info.is_some(), "source info kept");
}

/// Our own layout, before prost-build's formatter touches it.
#[test]
fn unformatted_output_is_tidy() {
    let dir = temp_dir("raw");
    h2grpc_build::configure()
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .prost_config(|config| {
            config.format(false);
        })
        .compile(&[proto("order_management.proto")], &[PROTOS])
        .unwrap();
    let code = fs::read_to_string(dir.join("ecommerce.rs")).unwrap();
    let expected = r#"
        /// Adds an order and returns its id.
        fn add_order(
            &self,
            request: ::h2grpc::Request<super::Order>,
        ) -> impl ::h2grpc::codegen::Future<
            Output = Result<::h2grpc::Response<::prost::alloc::string::String>, ::h2grpc::Status>,
        > + Send;

        /// Handles the unary `getOrder` rpc.
"#;
    assert!(code.contains(expected), "{code}");
    let expected = r#"
                "processOrders" => {
                    let inner = ::h2grpc::codegen::Arc::clone(&self.inner);
                    call.streaming_sink(
                        ::h2grpc::codec::ProstCodec::<super::CombinedShipment, ::prost::alloc::string::String>::default(),
                        move |request: ::h2grpc::Request<::h2grpc::Streaming<::prost::alloc::string::String>>, sink: ::h2grpc::server::ResponseSink<super::CombinedShipment>| async move {
                            inner.process_orders(request, sink).await
                        },
                    );
                }
                _ => call.unimplemented(),
"#;
    assert!(code.contains(expected), "{code}");
    // No tabs, no trailing spaces.
    for line in code.lines() {
        assert!(
            !line.ends_with(' ') && !line.contains('\t'),
            "untidy line: {line:?}"
        );
    }
}

#[test]
fn syntax_error_is_an_error_with_location() {
    let dir = temp_dir("broken");
    fs::write(
        dir.join("broken.proto"),
        "syntax = \"proto3\";\n\nservice Broken {\n    rpc Oops(Req) returns Resp;\n}\n",
    )
    .unwrap();
    let err = h2grpc_build::configure()
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .compile(&[dir.join("broken.proto")], &[&dir])
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let message = err.to_string();
    // file:line:col, then what the parser wanted.
    assert!(message.contains("broken.proto:4:"), "{message}");
    assert!(message.contains("expected"), "{message}");
    // Nothing was generated.
    assert!(!dir.join("_.rs").exists());
}

#[test]
fn unknown_type_and_missing_file_are_errors() {
    let dir = temp_dir("unknown");
    fs::write(
        dir.join("unknown.proto"),
        "syntax = \"proto3\";\nservice S {\n    rpc M(Nope) returns (Nope);\n}\n",
    )
    .unwrap();
    let err = h2grpc_build::configure()
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .compile(&[dir.join("unknown.proto")], &[&dir])
        .unwrap_err();
    assert!(err.to_string().contains("Nope"), "{err}");

    let err = h2grpc_build::configure()
        .out_dir(&dir)
        .emit_rerun_if_changed(false)
        .compile(&["missing.proto"], &[&dir])
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("missing.proto"), "{err}");
}
