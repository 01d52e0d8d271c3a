//! Emits the client side of one service: a `<service>_client` module holding a
//! typed client over `h2grpc::client::Channel`, one async method per rpc.
//!
//! Layer: code generation (runs in the user's `build.rs`); the emitted code
//! targets the runtime contract in `h2grpc::client` (`Channel::unary`,
//! `server_streaming`, `client_streaming`, `streaming`).
//!
//! Each method passes the full `:path` (PROTOCOL-HTTP2.md, "Path") as a
//! `&'static str`, and a `ProstCodec<Encode = request, Decode = response>`.

use prost_build::{Method, Service};

use crate::emit::{self, Code};

/// Inherent methods every generated client already has; an rpc whose Rust
/// name collides with one of them gets an `_rpc` suffix instead.
const RESERVED_METHODS: &[&str] = &["new", "connect", "channel"];

/// Appends the `<service>_client` module for `service` to `code`.
pub(crate) fn generate(service: &Service, code: &mut Code) {
    let full_name = emit::service_full_name(service);
    let client_name = format!("{}Client", service.name);

    code.doc(&format!("Client side of `{full_name}`."));
    code.open(&format!(
        "pub mod {} {{",
        emit::module_name(service, "client")
    ));

    code.comments(
        &service.comments,
        &format!("Typed client for the `{full_name}` service."),
    );
    code.line("#[derive(Clone)]");
    code.open(&format!("pub struct {client_name} {{"));
    code.line("channel: ::h2grpc::client::Channel,");
    code.close("}");
    code.line("");

    // Written out so the client is Debug whatever the channel implements.
    code.open(&format!("impl ::core::fmt::Debug for {client_name} {{"));
    code.open("fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {");
    code.line(&format!(
        "f.debug_struct(\"{client_name}\").finish_non_exhaustive()"
    ));
    code.close("}");
    code.close("}");
    code.line("");

    code.open(&format!("impl {client_name} {{"));
    constructors(code);
    for method in &service.methods {
        code.line("");
        client_method(service, method, code);
    }
    code.close("}");
    code.close("}");
}

fn constructors(code: &mut Code) {
    code.doc("Makes calls over an existing channel.");
    code.line("#[must_use]");
    code.open("pub const fn new(channel: ::h2grpc::client::Channel) -> Self {");
    code.line("Self { channel }");
    code.close("}");
    code.line("");
    code.doc("Connects a new channel to `uri` (for example `http://127.0.0.1:50051`).");
    code.open("pub async fn connect(uri: &str) -> Result<Self, ::h2grpc::Status> {");
    code.line("let channel = ::h2grpc::client::Channel::connect(uri).await?;");
    code.line("Ok(Self::new(channel))");
    code.close("}");
    code.line("");
    code.doc("The channel this client calls over.");
    code.line("#[must_use]");
    code.open("pub const fn channel(&self) -> &::h2grpc::client::Channel {");
    code.line("&self.channel");
    code.close("}");
}

/// Rust name of the client method for `method`, avoiding the constructors.
pub(crate) fn method_ident(method: &Method) -> String {
    if RESERVED_METHODS.contains(&method.name.as_str()) {
        format!("{}_rpc", method.name)
    } else {
        method.name.clone()
    }
}

fn client_method(service: &Service, method: &Method, code: &mut Code) {
    if method.client_streaming {
        handle_method(service, method, code);
        code.line("");
    }
    stream_method(service, method, code);
}

/// A client-streaming or bidi rpc as a call handle (the seed's model): the
/// method returns once the request head is sent; the caller sends on it.
fn handle_method(service: &Service, method: &Method, code: &mut Code) {
    let input = emit::message_type(&method.input_type);
    let output = emit::message_type(&method.output_type);
    let path = emit::method_path(service, method);
    let (channel_fn, handle) = if method.server_streaming {
        ("streaming_call", "StreamingCall")
    } else {
        ("client_streaming_call", "ClientStreamingCall")
    };
    code.comments(
        &method.comments,
        &format!(
            "Starts the {} `{}` rpc (`{path}`) and returns its handle: `send`, then {}.\n\n\
             `request` carries the call's metadata and timeout (`()` for none).",
            emit::pattern_name(method),
            method.proto_name,
            if method.server_streaming {
                "`recv` in any order, and `close_send`"
            } else {
                "`close_and_recv`"
            }
        ),
    );
    code.open(&format!("pub async fn {}(", method_ident(method)));
    code.line("&self,");
    code.line("request: impl ::h2grpc::IntoRequest<()>,");
    code.reopen(&format!(
        ") -> Result<::h2grpc::client::{handle}<{input}, {output}>, ::h2grpc::Status> {{"
    ));
    code.line("self.channel");
    code.indent();
    code.open(&format!(".{channel_fn}("));
    code.line(&format!("\"{path}\","));
    code.line("::h2grpc::IntoRequest::into_request(request),");
    code.line(&format!(
        "::h2grpc::codec::ProstCodec::<{input}, {output}>::default(),"
    ));
    code.close(")");
    code.line(".await");
    code.dedent();
    code.close("}");
}

/// The rpc with whole values: a message (or a `Stream` of them for a
/// client-streaming or bidi rpc, under `<name>_stream`) in, a response out.
fn stream_method(service: &Service, method: &Method, code: &mut Code) {
    let input = emit::message_type(&method.input_type);
    let output = emit::message_type(&method.output_type);
    let path = emit::method_path(service, method);

    let (channel_fn, param, into) = if method.client_streaming {
        (
            if method.server_streaming {
                "streaming"
            } else {
                "client_streaming"
            },
            format!("impl ::h2grpc::IntoStreamingRequest<Message = {input}>"),
            "::h2grpc::IntoStreamingRequest::into_streaming_request(request)",
        )
    } else {
        (
            if method.server_streaming {
                "server_streaming"
            } else {
                "unary"
            },
            format!("impl ::h2grpc::IntoRequest<{input}>"),
            "::h2grpc::IntoRequest::into_request(request)",
        )
    };
    let response_body = if method.server_streaming {
        format!("::h2grpc::Streaming<{output}>")
    } else {
        output.clone()
    };

    code.comments(
        &method.comments,
        &format!(
            "Calls the {} `{}` rpc (`{path}`).",
            emit::pattern_name(method),
            method.proto_name
        ),
    );
    let name = if method.client_streaming {
        format!("{}_stream", method_ident(method))
    } else {
        method_ident(method)
    };
    code.open(&format!("pub async fn {name}("));
    code.line("&self,");
    code.line(&format!("request: {param},"));
    code.reopen(&format!(
        ") -> Result<::h2grpc::Response<{response_body}>, ::h2grpc::Status> {{"
    ));
    code.line("self.channel");
    code.indent();
    code.open(&format!(".{channel_fn}("));
    code.line(&format!("\"{path}\","));
    code.line(&format!("{into},"));
    code.line(&format!(
        "::h2grpc::codec::ProstCodec::<{input}, {output}>::default(),"
    ));
    code.close(")");
    code.line(".await");
    code.dedent();
    code.close("}");
}
