//! Emits the server side of one service: a `<service>_server` module holding
//! the handler trait users implement and the adapter that plugs it into
//! `h2grpc::server::Service`.
//!
//! Layer: code generation (runs in the user's `build.rs`); the emitted code
//! targets the runtime contract in `h2grpc::server` (`Service`, `Call`).
//!
//! Shape of the output for `service OrderManagement` in `package ecommerce`:
//!
//! ```text
//! pub mod order_management_server {
//!     pub trait OrderManagement: Send + Sync + 'static {
//!         fn add_order(&self, request: Request<In>) -> impl Future<Output = Result<Response<Out>, Status>> + Send;
//!         // streaming responses: the handler sends on a sink and returns the status
//!         fn search_orders(&self, request: Request<In>, sink: ResponseSink<Out>)
//!             -> impl Future<Output = Result<(), Status>> + Send;
//!     }
//!     pub const SERVICE_NAME: &str = "ecommerce.OrderManagement";
//!     pub struct OrderManagementServer<T> { inner: Arc<T> }
//!     impl<T: OrderManagement> Service for OrderManagementServer<T> {
//!         fn call(&self, method: &str, call: Call) {
//!             match method { "addOrder" => call.unary(ProstCodec::<Out, In>::default(), ..),
//!                            "searchOrders" => call.server_streaming_sink(..), .., _ => call.unimplemented() }
//!         }
//!     }
//! }
//! ```
//!
//! The server codec is `ProstCodec<Encode = response, Decode = request>`.

use prost_build::{Method, Service};

use crate::emit::{self, Code};

/// Appends the `<service>_server` module for `service` to `code`.
pub(crate) fn generate(service: &Service, code: &mut Code) {
    let full_name = emit::service_full_name(service);
    let trait_name = &service.name;
    let server_name = format!("{}Server", service.name);

    code.doc(&format!(
        "Server side of `{full_name}`: implement `{trait_name}` and register \
         `{server_name}`\nwith the h2grpc server builder."
    ));
    code.open(&format!(
        "pub mod {} {{",
        emit::module_name(service, "server")
    ));

    handler_trait(service, &full_name, code);
    code.line("");

    code.doc("Fully qualified name of the service, as carried in the request `:path`.");
    code.line(&format!("pub const SERVICE_NAME: &str = \"{full_name}\";"));
    code.line("");

    adapter(trait_name, &server_name, code);
    code.line("");

    dispatch(service, trait_name, &server_name, code);
    code.close("}");
}

/// The trait users implement: one method per rpc. A server-streaming or
/// bidi handler gets a `ResponseSink` to send on (the seed's `stream.Send`);
/// a handler holding a ready stream hands it over with `sink.send_all`.
fn handler_trait(service: &Service, full_name: &str, code: &mut Code) {
    code.comments(
        &service.comments,
        &format!("Handlers for the `{full_name}` service."),
    );
    code.open(&format!(
        "pub trait {}: Send + Sync + 'static {{",
        service.name
    ));
    for (i, method) in service.methods.iter().enumerate() {
        if i > 0 {
            code.line("");
        }
        trait_method(method, code);
    }
    code.close("}");
}

fn trait_method(method: &Method, code: &mut Code) {
    let input = emit::message_type(&method.input_type);
    let output = emit::message_type(&method.output_type);
    let request = if method.client_streaming {
        format!("::h2grpc::Request<::h2grpc::Streaming<{input}>>")
    } else {
        format!("::h2grpc::Request<{input}>")
    };

    code.comments(
        &method.comments,
        &format!(
            "Handles the {} `{}` rpc.",
            emit::pattern_name(method),
            method.proto_name
        ),
    );
    code.open(&format!("fn {}(", method.name));
    code.line("&self,");
    code.line(&format!("request: {request},"));
    if method.server_streaming {
        code.line(&format!("sink: ::h2grpc::server::ResponseSink<{output}>,"));
        code.close(
            ") -> impl ::h2grpc::codegen::Future<Output = Result<(), ::h2grpc::Status>> + Send;",
        );
    } else {
        code.close(") -> impl ::h2grpc::codegen::Future<");
        code.line(&format!(
            "    Output = Result<::h2grpc::Response<{output}>, ::h2grpc::Status>,"
        ));
        code.line("> + Send;");
    }
}

/// The adapter struct, its constructors, and `Clone`/`Debug` without bounds
/// on `T` (the handler is shared through an `Arc`, never cloned or printed).
fn adapter(trait_name: &str, server_name: &str, code: &mut Code) {
    code.doc(&format!(
        "Serves a `{trait_name}` implementation: pass it to the server builder's\n\
         `add_service`."
    ));
    code.open(&format!("pub struct {server_name}<T> {{"));
    code.line("inner: ::h2grpc::codegen::Arc<T>,");
    code.close("}");
    code.line("");

    code.open(&format!("impl<T: {trait_name}> {server_name}<T> {{"));
    code.doc("Wraps a handler.");
    code.line("#[must_use]");
    code.open("pub fn new(inner: T) -> Self {");
    code.line("Self::from_arc(::h2grpc::codegen::Arc::new(inner))");
    code.close("}");
    code.line("");
    code.doc("Wraps a handler that is already shared.");
    code.line("#[must_use]");
    code.open("pub const fn from_arc(inner: ::h2grpc::codegen::Arc<T>) -> Self {");
    code.line("Self { inner }");
    code.close("}");
    code.close("}");
    code.line("");

    code.open(&format!("impl<T> Clone for {server_name}<T> {{"));
    code.open("fn clone(&self) -> Self {");
    code.open("Self {");
    code.line("inner: ::h2grpc::codegen::Arc::clone(&self.inner),");
    code.close("}");
    code.close("}");
    code.close("}");
    code.line("");

    code.open(&format!(
        "impl<T> ::core::fmt::Debug for {server_name}<T> {{"
    ));
    code.open("fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {");
    code.line(&format!(
        "f.debug_struct(\"{server_name}\").finish_non_exhaustive()"
    ));
    code.close("}");
    code.close("}");
}

/// `Service::call`: route on the method name exactly as written in the .proto.
fn dispatch(service: &Service, trait_name: &str, server_name: &str, code: &mut Code) {
    code.open(&format!(
        "impl<T: {trait_name}> ::h2grpc::server::Service for {server_name}<T> {{"
    ));
    code.open("fn name(&self) -> &'static str {");
    code.line("SERVICE_NAME");
    code.close("}");
    code.line("");
    code.open("fn call(&self, method: &str, call: ::h2grpc::server::Call) {");
    if service.methods.is_empty() {
        // A lone `_` arm would trip clippy::match_single_binding in the user's crate.
        code.line("let _ = method;");
        code.line("call.unimplemented();");
    } else {
        code.open("match method {");
        for method in &service.methods {
            match_arm(method, code);
        }
        code.line("_ => call.unimplemented(),");
        code.close("}");
    }
    code.close("}");
    code.close("}");
}

fn match_arm(method: &Method, code: &mut Code) {
    let input = emit::message_type(&method.input_type);
    let output = emit::message_type(&method.output_type);
    let (call_fn, request) = match (method.client_streaming, method.server_streaming) {
        (false, false) => ("unary", format!("::h2grpc::Request<{input}>")),
        (false, true) => (
            "server_streaming_sink",
            format!("::h2grpc::Request<{input}>"),
        ),
        (true, false) => (
            "client_streaming",
            format!("::h2grpc::Request<::h2grpc::Streaming<{input}>>"),
        ),
        (true, true) => (
            "streaming_sink",
            format!("::h2grpc::Request<::h2grpc::Streaming<{input}>>"),
        ),
    };

    code.open(&format!("\"{}\" => {{", method.proto_name));
    // The handler future must be 'static, so it owns a clone of the Arc.
    code.line("let inner = ::h2grpc::codegen::Arc::clone(&self.inner);");
    code.open(&format!("call.{call_fn}("));
    code.line(&format!(
        "::h2grpc::codec::ProstCodec::<{output}, {input}>::default(),"
    ));
    if method.server_streaming {
        code.open(&format!(
            "move |request: {request}, sink: ::h2grpc::server::ResponseSink<{output}>| async move {{"
        ));
        code.line(&format!("inner.{}(request, sink).await", method.name));
    } else {
        code.open(&format!("move |request: {request}| async move {{"));
        code.line(&format!("inner.{}(request).await", method.name));
    }
    code.close("},");
    code.close(");");
    code.close("}");
}
