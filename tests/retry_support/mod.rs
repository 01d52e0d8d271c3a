//! A flaky Echo server for the retry tests (tests/retry.rs): it fails the
//! first attempts of a call on purpose and records what each attempt carried.
//!
//! The request says how to misbehave: `message` names the call (attempts are
//! counted per name), `count` is how many attempts fail, `fail_code` with
//! what; metadata `x-pushback` is sent back as `grpc-retry-pushback-ms`.
//! ServerStream sends one message and then fails: the response headers went
//! out, so the call is committed and must not be retried.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use h2grpc::server::{ResponseSink, Server};
use h2grpc::{Code, Metadata, Request, Response, Status, Streaming};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/h2grpc.test.rs"));
}

use pb::echo_server::{Echo, EchoServer};
use pb::{EchoRequest, EchoResponse};

/// One attempt as the server saw it.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// Its `grpc-previous-rpc-attempts` header.
    pub previous: Option<String>,
    pub at: Instant,
}

#[derive(Clone, Default)]
pub struct Flaky {
    pub attempts: Arc<Mutex<HashMap<String, Vec<Attempt>>>>,
}

impl Flaky {
    /// Records an attempt; returns how many came before it.
    fn record<T>(&self, request: &Request<T>, name: &str) -> usize {
        let previous = request
            .metadata()
            .get("grpc-previous-rpc-attempts")
            .map(str::to_owned);
        let mut all = self.attempts.lock().unwrap();
        let list = all.entry(name.to_owned()).or_default();
        list.push(Attempt {
            previous,
            at: Instant::now(),
        });
        list.len() - 1
    }

    pub fn seen(&self, name: &str) -> Vec<Attempt> {
        self.attempts
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}

fn failure(req: &EchoRequest, pushback: Option<String>) -> Status {
    let mut status = Status::new(Code::from_i32(req.fail_code), "failing on purpose");
    if let Some(ms) = pushback {
        let mut trailers = Metadata::new();
        trailers.insert("grpc-retry-pushback-ms", &ms).unwrap();
        status = status.with_metadata(trailers);
    }
    status
}

impl Echo for Flaky {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let name = request.get_ref().message.clone();
        let before = self.record(&request, &name);
        let pushback = request.metadata().get("x-pushback").map(str::to_owned);
        let req = request.into_inner();
        if before < req.count as usize {
            return Err(failure(&req, pushback));
        }
        Ok(Response::new(EchoResponse {
            message: name,
            index: before as u32,
            padding: Vec::new(),
        }))
    }

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
        mut sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let name = request.get_ref().message.clone();
        let before = self.record(&request, &name);
        let req = request.into_inner();
        sink.send(&EchoResponse {
            message: name,
            index: before as u32,
            padding: Vec::new(),
        })
        .await?;
        Err(failure(&req, None))
    }

    async fn client_stream(
        &self,
        _request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        Err(Status::unimplemented("not used by the retry tests"))
    }

    async fn bidi(
        &self,
        _request: Request<Streaming<EchoRequest>>,
        _sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented("not used by the retry tests"))
    }
}

/// The flaky server on 127.0.0.1:0; stops when dropped.
pub struct FlakyServer {
    pub addr: SocketAddr,
    pub service: Flaky,
    _stop: oneshot::Sender<()>,
}

impl FlakyServer {
    pub async fn start() -> FlakyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = Flaky::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let builder = Server::builder().add_service(EchoServer::new(service.clone()));
        tokio::spawn(builder.serve_with_listener(listener, async {
            let _ = stopped.await;
        }));
        FlakyServer {
            addr,
            service,
            _stop: stop,
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }
}
