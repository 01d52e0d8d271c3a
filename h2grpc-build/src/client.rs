//! Emits the client side of one service: a `<service>_client` module holding a
//! typed client over `h2grpc::client::Channel`, one async method per rpc.
//!
//! Layer: code generation (runs in the user's `build.rs`); the emitted code
//! targets the runtime contract in `h2grpc::client` (`Channel::unary`,
//! `server_streaming`, `client_streaming`, `streaming`).
//!
//! Each method passes the full `:path` (PROTOCOL-HTTP2.md, "Path") as a
//! `&'static str`, and a `ProstCodec<Encode = request, Decode = response>`.
//!
//! Beside the client, a trait of the same calls, so application code can be
//! tested against a mock instead of a server:
//!
//! ```text
//! pub mod order_management_client {
//!     pub struct OrderManagementClient { channel }          // inherent methods: handles, any Stream
//!     pub trait OrderManagementApi: Send + Sync {            // implement with async fn in a mock
//!         fn add_order(&self, Request<Order>) -> impl Future<Output = Result<Response<String>, Status>> + Send;
//!         fn search_orders(&self, Request<String>) -> .. Response<Streaming<Order>> ..;
//!         fn update_orders_stream(&self, Request<RequestStream<Order>>) -> .. Response<String> ..;
//!         fn process_orders_stream(&self, Request<RequestStream<String>>) -> .. Response<Streaming<CombinedShipment>> ..;
//!     }
//!     impl OrderManagementApi for OrderManagementClient { .. }
//!     pub trait DynOrderManagementApi { .. BoxFuture .. }    // the same, as a trait object
//!     impl<T: OrderManagementApi> DynOrderManagementApi for T { .. }
//! }
//! ```

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
    code.line("");

    api_trait(service, &full_name, code);
    code.line("");
    api_impl(service, &client_name, code);
    code.line("");
    dyn_api_trait(service, code);
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

/// The trait application code takes instead of the concrete client, so a
/// test can hand it a mock: one method per rpc, in the form a mock can build
/// (a `RequestStream` in for a streaming request, a `Streaming` out for a
/// streaming response; the call handles need a real call).
fn api_trait(service: &Service, full_name: &str, code: &mut Code) {
    let trait_name = api_name(service);
    let client_name = format!("{}Client", service.name);
    code.doc(&format!(
        "The calls of `{full_name}`, as a caller makes them: implemented by\n\
         [`{client_name}`], and by a mock in a test (with `async fn`s).\n\n\
         Application code takes `&impl {trait_name}` (or is generic over it); for a\n\
         trait object use [`Dyn{trait_name}`], which every `{trait_name}` is.\n\
         On the client itself the inherent methods of the same names take more\n\
         argument types (a bare message, any `Stream`)."
    ));
    code.open(&format!("pub trait {trait_name}: Send + Sync {{"));
    for (i, method) in service.methods.iter().enumerate() {
        if i > 0 {
            code.line("");
        }
        let sig = ApiSignature::of(service, method);
        code.comments(&method.comments, &sig.doc);
        code.open(&format!("fn {}(", sig.name));
        code.line("&self,");
        code.line(&format!("request: {},", sig.request));
        code.close(&format!(
            ") -> impl ::h2grpc::codegen::Future<Output = {}> + Send;",
            sig.output
        ));
    }
    code.close("}");
}

/// The generated client implements its trait by calling its own inherent
/// methods (a `Type::method` path picks the inherent one over the trait's).
fn api_impl(service: &Service, client_name: &str, code: &mut Code) {
    let trait_name = api_name(service);
    code.open(&format!("impl {trait_name} for {client_name} {{"));
    for (i, method) in service.methods.iter().enumerate() {
        if i > 0 {
            code.line("");
        }
        let sig = ApiSignature::of(service, method);
        code.open(&format!("fn {}(", sig.name));
        code.line("&self,");
        code.line(&format!("request: {},", sig.request));
        code.reopen(&format!(
            ") -> impl ::h2grpc::codegen::Future<Output = {}> + Send {{",
            sig.output
        ));
        code.line(&format!("{client_name}::{}(self, request)", sig.name));
        code.close("}");
    }
    code.close("}");
}

/// `Dyn<Service>Api`: the same methods returning boxed futures, so that
/// `Box<dyn ..>` / `Arc<dyn ..>` work; implemented for every `<Service>Api`,
/// so users never implement it (or box a future) themselves.
fn dyn_api_trait(service: &Service, code: &mut Code) {
    let trait_name = api_name(service);
    let dyn_name = format!("Dyn{trait_name}");
    code.doc(&format!(
        "[`{trait_name}`] as a trait object (`&dyn {dyn_name}`, `Box<dyn {dyn_name}>`):\n\
         the same methods, returning boxed futures. Every `{trait_name}` is one;\n\
         import one of the two traits where you call, not both (their methods\n\
         share names)."
    ));
    code.open(&format!("pub trait {dyn_name}: Send + Sync {{"));
    for (i, method) in service.methods.iter().enumerate() {
        if i > 0 {
            code.line("");
        }
        let sig = ApiSignature::of(service, method);
        code.comments(&method.comments, &sig.doc);
        code.open(&format!("fn {}<'a>(", sig.name));
        code.line("&'a self,");
        code.line(&format!("request: {},", sig.request));
        code.close(&format!(
            ") -> ::h2grpc::codegen::BoxFuture<'a, {}>;",
            sig.output
        ));
    }
    code.close("}");
    code.line("");

    code.open(&format!("impl<T: {trait_name}> {dyn_name} for T {{"));
    for (i, method) in service.methods.iter().enumerate() {
        if i > 0 {
            code.line("");
        }
        let sig = ApiSignature::of(service, method);
        code.open(&format!("fn {}<'a>(", sig.name));
        code.line("&'a self,");
        code.line(&format!("request: {},", sig.request));
        code.reopen(&format!(
            ") -> ::h2grpc::codegen::BoxFuture<'a, {}> {{",
            sig.output
        ));
        code.line(&format!(
            "::std::boxed::Box::pin({trait_name}::{}(self, request))",
            sig.name
        ));
        code.close("}");
    }
    code.close("}");
}

/// `OrderManagement` → `OrderManagementApi`: not the server trait's name, so
/// both can be imported side by side.
pub(crate) fn api_name(service: &Service) -> String {
    format!("{}Api", service.name)
}

/// One rpc as the client traits spell it.
struct ApiSignature {
    /// The method name: the client's, `<rpc>_stream` for a streaming request.
    name: String,
    /// `Request<In>`, or `Request<RequestStream<In>>`.
    request: String,
    /// `Result<Response<Out>, Status>`, or with `Streaming<Out>`.
    output: String,
    /// The doc used when the proto has no comment.
    doc: String,
}

impl ApiSignature {
    fn of(service: &Service, method: &Method) -> ApiSignature {
        let input = emit::message_type(&method.input_type);
        let output = emit::message_type(&method.output_type);
        let (name, request) = if method.client_streaming {
            (
                format!("{}_stream", method_ident(method)),
                format!("::h2grpc::Request<::h2grpc::RequestStream<{input}>>"),
            )
        } else {
            (method_ident(method), format!("::h2grpc::Request<{input}>"))
        };
        let response = if method.server_streaming {
            format!("::h2grpc::Streaming<{output}>")
        } else {
            output
        };
        ApiSignature {
            name,
            request,
            output: format!("Result<::h2grpc::Response<{response}>, ::h2grpc::Status>"),
            doc: format!(
                "Calls the {} `{}` rpc (`{}`).",
                emit::pattern_name(method),
                method.proto_name,
                emit::method_path(service, method)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost_build::Comments;

    use super::*;

    fn method(proto_name: &str, client_streaming: bool, server_streaming: bool) -> Method {
        Method {
            name: heck::ToSnakeCase::to_snake_case(proto_name),
            proto_name: proto_name.to_owned(),
            comments: Comments::default(),
            input_type: "Order".to_owned(),
            output_type: "Shipment".to_owned(),
            input_proto_type: ".shop.Order".to_owned(),
            output_proto_type: ".shop.Shipment".to_owned(),
            options: Default::default(),
            client_streaming,
            server_streaming,
        }
    }

    fn service() -> Service {
        Service {
            name: "Shop".to_owned(),
            proto_name: "Shop".to_owned(),
            package: "shop".to_owned(),
            comments: Comments::default(),
            methods: vec![
                method("Get", false, false),
                method("Search", false, true),
                method("Upload", true, false),
                method("Chat", true, true),
                method("new", false, false),
            ],
            options: Default::default(),
        }
    }

    /// The generated text with all whitespace removed.
    fn squashed() -> String {
        let mut code = Code::default();
        generate(&service(), &mut code);
        code.finish().split_whitespace().collect()
    }

    #[test]
    fn streaming_requests_take_a_request_stream_and_get_the_stream_suffix() {
        let svc = service();
        let sigs: Vec<ApiSignature> = svc
            .methods
            .iter()
            .map(|m| ApiSignature::of(&svc, m))
            .collect();
        let names: Vec<&str> = sigs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["get", "search", "upload_stream", "chat_stream", "new_rpc"]
        );
        assert_eq!(sigs[0].request, "::h2grpc::Request<super::Order>");
        assert_eq!(
            sigs[2].request,
            "::h2grpc::Request<::h2grpc::RequestStream<super::Order>>"
        );
        assert_eq!(
            sigs[0].output,
            "Result<::h2grpc::Response<super::Shipment>, ::h2grpc::Status>"
        );
        assert_eq!(
            sigs[3].output,
            "Result<::h2grpc::Response<::h2grpc::Streaming<super::Shipment>>, ::h2grpc::Status>"
        );
        assert_eq!(
            sigs[1].doc,
            "Calls the server-streaming `Search` rpc (`/shop.Shop/Search`)."
        );
    }

    #[test]
    fn the_client_implements_its_trait_and_every_trait_is_a_dyn_trait() {
        let code = squashed();
        for needle in [
            "pubtraitShopApi:Send+Sync{",
            "fnupload_stream(&self,request:::h2grpc::Request<::h2grpc::RequestStream<super::Order>>,)->impl::h2grpc::codegen::Future<Output=",
            "implShopApiforShopClient{",
            // Delegation to the inherent method, not to itself.
            "ShopClient::chat_stream(self,request)",
            "ShopClient::new_rpc(self,request)",
            "pubtraitDynShopApi:Send+Sync{",
            "fnsearch<'a>(&'aself,request:::h2grpc::Request<super::Order>,)->::h2grpc::codegen::BoxFuture<'a,",
            "impl<T:ShopApi>DynShopApiforT{",
            "::std::boxed::Box::pin(ShopApi::get(self,request))",
        ] {
            assert!(code.contains(needle), "missing {needle} in\n{code}");
        }
    }
}
