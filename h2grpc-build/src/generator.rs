//! The `prost_build::ServiceGenerator` that turns each proto `service` into a
//! `<service>_server` and a `<service>_client` module beside the messages.
//!
//! Layer: code generation (runs in the user's `build.rs`). prost-build calls
//! [`ServiceGenerator::generate`](prost_build::ServiceGenerator::generate)
//! once per service, with names already converted: `Method::name` is the
//! snake_case Rust identifier, `Method::proto_name` the name on the wire.

use prost_build::Service;

use crate::emit::Code;
use crate::{client, server};

/// Generates h2grpc server and client code for every service prost-build sees.
///
/// [`Builder`](crate::Builder) installs one for you; it is public so that a
/// build script driving its own [`prost_build::Config`] can plug it in:
///
/// ```no_run
/// let mut config = prost_build::Config::new();
/// config.service_generator(Box::new(h2grpc_build::ServiceGenerator::new()));
/// ```
#[derive(Debug, Clone)]
pub struct ServiceGenerator {
    /// Emit the `<service>_server` module (handler trait and adapter).
    build_server: bool,
    /// Emit the `<service>_client` module (typed client).
    build_client: bool,
}

impl ServiceGenerator {
    /// A generator that emits both the server and the client side.
    pub fn new() -> Self {
        Self {
            build_server: true,
            build_client: true,
        }
    }

    /// Whether to emit the server side (default `true`).
    pub fn build_server(mut self, enable: bool) -> Self {
        self.build_server = enable;
        self
    }

    /// Whether to emit the client side (default `true`).
    pub fn build_client(mut self, enable: bool) -> Self {
        self.build_client = enable;
        self
    }
}

impl Default for ServiceGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl prost_build::ServiceGenerator for ServiceGenerator {
    fn generate(&mut self, service: Service, buf: &mut String) {
        let mut code = Code::default();
        if self.build_server {
            code.line("");
            server::generate(&service, &mut code);
        }
        if self.build_client {
            code.line("");
            client::generate(&service, &mut code);
        }
        buf.push_str(&code.finish());
    }
}
