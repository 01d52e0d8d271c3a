//! Testing a service without a network (issue 17): the three ways a user
//! tests gRPC code with h2grpc, each on the `h2grpc.test.Echo` service.
//!
//! - A handler called directly, its request built with `Streaming::from_vec`
//!   / `from_stream` and `Request::with_metadata`, its `Response` read back.
//! - The generated client calling the real server through
//!   `Channel::in_memory` (no socket), every call pattern.
//! - Application code written against the generated client trait
//!   (`EchoApi`, or `DynEchoApi` as a trait object), run against a mock and
//!   against the real client, with the same results.
//!
//! The generated code comes in through `h2grpc::include_proto!`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use h2grpc::client::Channel;
use h2grpc::server::{ResponseSink, Server};
use h2grpc::transport::{Peer, PeerAddr};
use h2grpc::{Code, Metadata, Request, RequestStream, Response, Status, Streaming};

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
mod pb {
    h2grpc::include_proto!("h2grpc.test");
}

use pb::echo_client::{DynEchoApi, EchoApi, EchoClient};
use pb::echo_server::{Echo, EchoServer};
use pb::{EchoRequest, EchoResponse};

/// Every call in these tests ends well within this.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..Default::default()
    }
}

fn reply(message: impl Into<String>, index: u32) -> EchoResponse {
    EchoResponse {
        message: message.into(),
        index,
        ..Default::default()
    }
}

fn metadata(key: &str, value: &str) -> Metadata {
    let mut md = Metadata::new();
    md.insert(key, value).expect("a valid ASCII entry");
    md
}

/// The service under test: echoes, and says what it saw of the call.
#[derive(Debug, Default)]
struct EchoService;

impl EchoService {
    /// Fails the call if the request asks for it.
    fn check(request: &EchoRequest) -> Result<(), Status> {
        if request.fail_code == 0 {
            Ok(())
        } else {
            let code = Code::from_i32(request.fail_code);
            Err(Status::new(code, request.fail_message.clone()))
        }
    }
}

/// Who called, as the handler tells the client (`x-peer`).
fn peer_name<T>(request: &Request<T>) -> String {
    request
        .peer()
        .map_or_else(|| "none".to_owned(), ToString::to_string)
}

impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Self::check(request.get_ref())?;
        let tenant = request.metadata().get("x-tenant").unwrap_or("anonymous");
        let message = format!("{} for {tenant}", request.get_ref().message);
        let peer = peer_name(&request);
        let has_deadline = request.deadline().is_some().to_string();
        Ok(Response::new(reply(message, 0))
            .with_metadata(metadata("x-peer", &peer))
            .with_trailers(metadata("x-deadline", &has_deadline)))
    }

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
        mut sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let request = request.into_inner();
        for i in 0..request.count {
            sink.send(&reply(format!("{} {i}", request.message), i))
                .await?;
        }
        sink.set_trailers(metadata("x-sent", &request.count.to_string()));
        Self::check(&request)
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let separator = request
            .metadata()
            .get("x-separator")
            .unwrap_or("+")
            .to_owned();
        let mut messages = request.into_inner();
        let mut words = Vec::new();
        while let Some(message) = messages.recv().await? {
            Self::check(&message)?;
            words.push(message.message);
        }
        let count = u32::try_from(words.len()).unwrap_or(u32::MAX);
        Ok(Response::new(reply(words.join(&separator), count))
            .with_trailers(metadata("x-received", &count.to_string())))
    }

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
        mut sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let mut messages = request.into_inner();
        let mut index = 0;
        while let Some(message) = messages.recv().await? {
            Self::check(&message)?;
            sink.send(&reply(message.message.to_uppercase(), index))
                .await?;
            index += 1;
        }
        Ok(())
    }
}

/// Bounds a future by [`CALL_TIMEOUT`].
async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(CALL_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {CALL_TIMEOUT:?}"))
}

// ── A handler called directly ────────────────────────────────────────────

#[tokio::test]
async fn a_client_streaming_handler_reads_a_streaming_built_from_a_vec() {
    let request = Request::new(Streaming::from_vec(vec![req("a"), req("b"), req("c")]))
        .with_metadata(metadata("x-separator", "/"));
    let response = EchoService.client_stream(request).await.unwrap();
    assert_eq!(response.get_ref().message, "a/b/c");
    assert_eq!(response.get_ref().index, 3);
    assert_eq!(response.trailers().get("x-received"), Some("3"));

    // An empty stream is a clean end at once.
    let response = EchoService
        .client_stream(Request::new(Streaming::from_vec(Vec::new())))
        .await
        .unwrap();
    assert_eq!(response.get_ref().message, "");
    assert_eq!(response.trailers().get("x-received"), Some("0"));
}

#[tokio::test]
async fn a_stream_that_fails_fails_the_handler_with_its_status() {
    let items = vec![
        Ok(req("a")),
        Err(Status::cancelled("client went away")),
        Ok(req("never read")),
    ];
    let request = Request::new(Streaming::from_stream(futures::stream::iter(items)));
    let status = EchoService.client_stream(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Cancelled);
    assert_eq!(status.message(), "client went away");

    // A message the handler refuses: its own status.
    let mut bad = req("b");
    bad.fail_code = Code::InvalidArgument as i32;
    bad.fail_message = "no b".into();
    let request = Request::new(Streaming::from_vec(vec![req("a"), bad]));
    let status = EchoService.client_stream(request).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::InvalidArgument, "no b")
    );
}

#[tokio::test]
async fn a_unary_handler_sees_the_metadata_peer_and_deadline_a_test_sets() {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let request = Request::new(req("hello"))
        .with_metadata(metadata("x-tenant", "acme"))
        .with_peer(Peer::new(PeerAddr::Other("test harness".into())))
        .with_deadline(deadline);
    let response = EchoService.unary(request).await.unwrap();
    assert_eq!(response.get_ref().message, "hello for acme");
    assert_eq!(response.metadata().get("x-peer"), Some("test harness"));
    assert_eq!(response.trailers().get("x-deadline"), Some("true"));

    let plain = EchoService.unary(Request::new(req("hi"))).await.unwrap();
    assert_eq!(plain.get_ref().message, "hi for anonymous");
    assert_eq!(plain.metadata().get("x-peer"), Some("none"));
    assert_eq!(plain.trailers().get("x-deadline"), Some("false"));
}

// ── The generated client, served in memory ───────────────────────────────

fn in_memory_client() -> EchoClient {
    let server = Server::builder().add_service(EchoServer::new(EchoService));
    EchoClient::new(Channel::in_memory(server))
}

#[tokio::test]
async fn the_generated_client_calls_the_server_in_memory() {
    let client = in_memory_client();

    let mut request = Request::new(req("unary")).with_metadata(metadata("x-tenant", "acme"));
    request.set_timeout(CALL_TIMEOUT);
    let response = bounded("unary", client.unary(request)).await.unwrap();
    assert_eq!(response.get_ref().message, "unary for acme");
    // The handler saw an in-memory peer and the deadline from grpc-timeout.
    assert_eq!(response.metadata().get("x-peer"), Some("memory"));
    assert_eq!(response.trailers().get("x-deadline"), Some("true"));

    let mut ask = req("tick");
    ask.count = 3;
    let response = bounded("server_stream", client.server_stream(ask))
        .await
        .unwrap();
    let mut stream = response.into_inner();
    let mut got = Vec::new();
    while let Some(message) = bounded("recv", stream.recv()).await.unwrap() {
        got.push(message.message);
    }
    assert_eq!(got, ["tick 0", "tick 1", "tick 2"]);
    assert_eq!(stream.trailers().unwrap().get("x-sent"), Some("3"));

    let words = futures::stream::iter(vec![req("x"), req("y")]);
    let response = bounded("client_stream", client.client_stream_stream(words))
        .await
        .unwrap();
    assert_eq!(response.get_ref().message, "x+y");
    assert_eq!(response.trailers().get("x-received"), Some("2"));

    let words = futures::stream::iter(vec![req("up"), req("down")]);
    let response = bounded("bidi", client.bidi_stream(words)).await.unwrap();
    let shouted: Vec<String> = bounded("bidi recv", response.into_inner().collect::<Vec<_>>())
        .await
        .into_iter()
        .map(|m| m.unwrap().message)
        .collect();
    assert_eq!(shouted, ["UP", "DOWN"]);

    // A failing call fails the same way as over TCP.
    let mut bad = req("x");
    bad.fail_code = Code::NotFound as i32;
    bad.fail_message = "nothing here".into();
    let status = bounded("failing unary", client.unary(bad))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::NotFound, "nothing here")
    );
}

/// Counts the handler's clones alive: the server holds one while it runs.
#[derive(Debug, Clone)]
struct Tracked {
    _alive: Arc<()>,
}

impl Echo for Tracked {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        EchoService.unary(request).await
    }
    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
        sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        EchoService.server_stream(request, sink).await
    }
    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        EchoService.client_stream(request).await
    }
    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
        sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        EchoService.bidi(request, sink).await
    }
}

#[tokio::test]
async fn the_in_memory_server_stops_when_its_last_channel_is_dropped() {
    let alive = Arc::new(());
    let server = Server::builder().add_service(EchoServer::new(Tracked {
        _alive: alive.clone(),
    }));
    let channel = Channel::in_memory(server);
    let clone = channel.clone();
    let response = bounded("unary", EchoClient::new(clone).unary(req("a")))
        .await
        .unwrap();
    assert_eq!(response.get_ref().message, "a for anonymous");
    assert_eq!(Arc::strong_count(&alive), 2, "the server holds the handler");

    drop(channel);
    // Every clone is gone now: the server shuts down and drops the handler.
    let deadline = tokio::time::Instant::now() + CALL_TIMEOUT;
    while Arc::strong_count(&alive) > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the in-memory server still runs {CALL_TIMEOUT:?} after its channel was dropped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ── Application code against the client trait ────────────────────────────

/// Application code under test: it only knows the `EchoApi` trait.
async fn greet_all(api: &impl EchoApi, names: &[&str]) -> Result<Vec<String>, Status> {
    let mut lines = Vec::new();
    let first = names.first().copied().unwrap_or("nobody");
    let hello = api
        .unary(Request::new(req(first)).with_metadata(metadata("x-tenant", "app")))
        .await?;
    lines.push(hello.into_inner().message);

    let mut ask = req("round");
    ask.count = 2;
    let mut rounds = api.server_stream(Request::new(ask)).await?.into_inner();
    while let Some(round) = rounds.recv().await? {
        lines.push(round.message);
    }
    let sent = rounds
        .trailers()
        .and_then(|t| t.get("x-sent"))
        .unwrap_or("?");
    lines.push(format!("{sent} rounds"));

    let all: Vec<EchoRequest> = names.iter().map(|n| req(n)).collect();
    let stream: RequestStream<EchoRequest> = futures::stream::iter(all.clone()).boxed();
    let joined = api.client_stream_stream(Request::new(stream)).await?;
    lines.push(joined.into_inner().message);

    let stream: RequestStream<EchoRequest> = futures::stream::iter(all).boxed();
    let mut shouted = api.bidi_stream(Request::new(stream)).await?.into_inner();
    while let Some(shout) = shouted.recv().await? {
        lines.push(shout.message);
    }
    Ok(lines)
}

/// The same application code, taking a trait object.
async fn greet_first(api: &dyn DynEchoApi, name: &str) -> Result<String, Status> {
    let hello = api.unary(Request::new(req(name))).await?;
    Ok(hello.into_inner().message)
}

/// A mock of the client trait: canned answers shaped like the server's, and
/// a record of what the application sent.
#[derive(Debug, Default)]
struct MockEcho {
    /// Every request message the application sent, in order.
    seen: Mutex<Vec<String>>,
    /// Fail the server-streaming call after its first message.
    cut_rounds: bool,
}

impl MockEcho {
    fn saw(&self, message: &str) {
        self.seen.lock().unwrap().push(message.to_owned());
    }
}

impl EchoApi for MockEcho {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        self.saw(&request.get_ref().message);
        let tenant = request.metadata().get("x-tenant").unwrap_or("anonymous");
        Ok(Response::new(reply(
            format!("{} for {tenant}", request.get_ref().message),
            0,
        )))
    }

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<Streaming<EchoResponse>>, Status> {
        let request = request.into_inner();
        self.saw(&request.message);
        let stream = if self.cut_rounds {
            let items = vec![
                Ok(reply(format!("{} 0", request.message), 0)),
                Err(Status::unavailable("connection lost")),
            ];
            Streaming::from_stream(futures::stream::iter(items))
        } else {
            (0..request.count)
                .map(|i| reply(format!("{} {i}", request.message), i))
                .collect::<Streaming<_>>()
                .with_trailers(metadata("x-sent", &request.count.to_string()))
        };
        Ok(Response::new(stream))
    }

    async fn client_stream_stream(
        &self,
        request: Request<RequestStream<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let words: Vec<String> = request.into_inner().map(|m| m.message).collect().await;
        for word in &words {
            self.saw(word);
        }
        let count = u32::try_from(words.len()).unwrap_or(u32::MAX);
        Ok(Response::new(reply(words.join("+"), count)))
    }

    async fn bidi_stream(
        &self,
        request: Request<RequestStream<EchoRequest>>,
    ) -> Result<Response<Streaming<EchoResponse>>, Status> {
        let words: Vec<EchoRequest> = request.into_inner().collect().await;
        let replies: Vec<EchoResponse> = (0..)
            .zip(&words)
            .map(|(i, m)| reply(m.message.to_uppercase(), i))
            .collect();
        Ok(Response::new(Streaming::from_vec(replies)))
    }
}

/// What `greet_all(["ann", "bob"])` says, from the real server or the mock.
const GREETINGS: &[&str] = &[
    "ann for app",
    "round 0",
    "round 1",
    "2 rounds",
    "ann+bob",
    "ANN",
    "BOB",
];

#[tokio::test]
async fn application_code_runs_against_a_mock_of_the_client_trait() {
    let mock = MockEcho::default();
    let lines = greet_all(&mock, &["ann", "bob"]).await.unwrap();
    assert_eq!(lines, GREETINGS);
    assert_eq!(*mock.seen.lock().unwrap(), ["ann", "round", "ann", "bob"]);

    // The mock makes the failure the application must handle.
    let cut = MockEcho {
        cut_rounds: true,
        ..Default::default()
    };
    let status = greet_all(&cut, &["ann"]).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unavailable, "connection lost")
    );
}

#[tokio::test]
async fn the_same_application_code_runs_against_the_real_client() {
    let client = in_memory_client();
    let lines = bounded("greet_all", greet_all(&client, &["ann", "bob"]))
        .await
        .unwrap();
    assert_eq!(lines, GREETINGS);
}

#[tokio::test]
async fn a_trait_object_holds_the_mock_or_the_real_client() {
    let apis: Vec<Box<dyn DynEchoApi>> =
        vec![Box::new(MockEcho::default()), Box::new(in_memory_client())];
    for api in &apis {
        let hello = bounded("greet_first", greet_first(api.as_ref(), "cy"))
            .await
            .unwrap();
        assert_eq!(hello, "cy for anonymous");
    }
}
