//! Interceptors around calls, on both sides: the README's "Interceptors"
//! example, compiled (and run by `cargo run --example interceptors`).
//!
//! The server checks a bearer token, then runs an interceptor of its own
//! that refuses calls without an `x-request-id` and logs how each call
//! ended; the client sends the token and a request id from interceptors of
//! its own. The service is the health service, so the example needs no
//! `.proto` of its own; any generated service works the same way.

use std::sync::atomic::{AtomicU64, Ordering};

use h2grpc::Status;
use h2grpc::client::Channel;
use h2grpc::health::health_reporter;
use h2grpc::health::pb::HealthCheckRequest;
use h2grpc::health::pb::health_client::HealthClient;
use h2grpc::intercept::{
    BearerCredentials, BearerToken, CallContext, CallEnd, ClientCallContext, ClientInterceptor,
    Interceptor,
};
use h2grpc::server::Server;
use h2grpc::transport;

/// Server side: every call must say which request it belongs to.
struct RequireRequestId;

/// What a handler reads back with `request.extensions().get::<RequestId>()`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl Interceptor for RequireRequestId {
    async fn intercept(&self, call: &mut CallContext) -> Result<(), Status> {
        let Some(id) = call.metadata().get("x-request-id") else {
            return Err(Status::invalid_argument("x-request-id is required"));
        };
        let id = RequestId(id.to_owned());
        call.extensions_mut().insert(id); // a handler reads request.extensions()
        Ok(())
    }

    fn on_end(&self, end: &CallEnd<'_>) {
        println!(
            "server: {} {} in {:?} ({} bytes sent)",
            end.method(),
            end.code.as_str(),
            end.elapsed,
            end.sent_bytes
        );
    }
}

/// Client side: numbers the channel's calls.
#[derive(Default)]
struct NumberCalls(AtomicU64);

impl ClientInterceptor for NumberCalls {
    async fn intercept(&self, call: &mut ClientCallContext) -> Result<(), Status> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        call.metadata_mut()
            .insert("x-request-id", &format!("call-{n}"))
            .map_err(|e| Status::internal(e.to_string()))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_reporter, health) = health_reporter();
    let (listener, connector) = transport::memory();
    let server = Server::builder()
        .interceptor(BearerToken::new("s3cret")) // runs first
        .interceptor(RequireRequestId) // then this
        .add_service(health);
    tokio::spawn(server.serve_on(listener, std::future::pending()));

    let check = HealthCheckRequest::default();

    // No credentials: refused before the handler runs.
    let bare = Channel::builder("http://in-memory:1")
        .connector(connector.clone())
        .connect()
        .await?;
    let refused = HealthClient::new(bare).check(check.clone()).await;
    println!(
        "client without a token: {:?}",
        refused.map_err(|s| s.code())
    );

    // The token and a request id, each from an interceptor of the client's.
    let channel = Channel::builder("http://in-memory:1")
        .connector(connector)
        .interceptor(BearerCredentials::new("s3cret"))
        .interceptor(NumberCalls::default())
        .connect()
        .await?;
    let reply = HealthClient::new(channel).check(check).await?;
    println!("client with a token: {:?}", reply.into_inner().status());
    Ok(())
}
