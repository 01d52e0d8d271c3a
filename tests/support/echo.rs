//! The `h2grpc.test.Echo` service used by the end-to-end tests, and a server
//! fixture that runs it on `127.0.0.1:0`.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use h2grpc::server::ResponseSink;
use h2grpc::server::{Builder, Server};
use h2grpc::{BoxStream, Code, Request, Response, Status, Streaming};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/h2grpc.test.rs"));
}

use pb::echo_server::{Echo, EchoServer};
use pb::{EchoRequest, EchoResponse};

/// Counts handlers that are running, so tests can see cancellation happen.
#[derive(Clone, Default)]
pub struct EchoService {
    pub active: Arc<AtomicUsize>,
    pub finished: Arc<AtomicUsize>,
    /// Names of the threads handlers started on.
    pub threads: Arc<Mutex<BTreeSet<String>>>,
}

/// Decrements `active` when a handler ends for any reason, including being dropped.
struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EchoService {
    fn enter(&self) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::SeqCst);
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        self.threads.lock().unwrap().insert(thread);
        ActiveGuard(self.active.clone())
    }
}

async fn behave(req: &EchoRequest) -> Result<(), Status> {
    if req.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(u64::from(req.delay_ms))).await;
    }
    if req.panic {
        panic!("handler asked to panic");
    }
    if req.fail_code != 0 {
        return Err(Status::new(
            Code::from_i32(req.fail_code),
            req.fail_message.clone(),
        ));
    }
    Ok(())
}

fn reply(req: &EchoRequest, index: u32) -> EchoResponse {
    EchoResponse {
        message: req.message.clone(),
        index,
        padding: vec![0xab; req.response_bytes as usize],
    }
}

impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let _guard = self.enter();
        let echo_header = request.metadata().get("x-echo").map(str::to_owned);
        let echo_bin = request
            .metadata()
            .get_bin("x-echo-bin")
            .and_then(Result::ok);
        let want_gzip = request.metadata().get("x-want-gzip").is_some();
        // Who called, as the handler sees it (tests/transport.rs, tests/tls.rs).
        let peer = request.peer().map(ToString::to_string).unwrap_or_default();
        let peer_cert = request
            .peer_certs()
            .and_then(|certs| certs.first())
            .map(|leaf| leaf.as_ref().to_vec());
        let flag = if request.message_compressed() {
            "true"
        } else {
            "false"
        };
        let req = request.into_inner();
        behave(&req).await?;
        let mut response = Response::new(reply(&req, 0));
        if want_gzip {
            response.set_send_compression(h2grpc::compression::Encoding::Gzip);
        }
        response
            .metadata_mut()
            .insert("x-peer", &peer)
            .map_err(|e| Status::internal(e.to_string()))?;
        if let Some(der) = peer_cert {
            response
                .metadata_mut()
                .insert_bin("x-peer-cert-bin", der)
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        response
            .metadata_mut()
            .insert("x-request-compressed", flag)
            .map_err(|e| Status::internal(e.to_string()))?;
        if let Some(v) = echo_header {
            response
                .metadata_mut()
                .insert("x-echo", &v)
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        if let Some(v) = echo_bin {
            response
                .trailers_mut()
                .insert_bin("x-echo-bin", v)
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(response)
    }

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
        mut sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let response: Result<Response<BoxStream<EchoResponse>>, Status> = async {
            let guard = self.enter();
            let req = request.into_inner();
            let finished = self.finished.clone();
            let stream = async_stream(req, guard, finished);
            Ok(Response::new(stream))
        }
        .await;
        sink.send_response(response?).await
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let _guard = self.enter();
        let mut input = request.into_inner();
        let mut joined = Vec::new();
        let mut count = 0;
        while let Some(req) = input.message().await? {
            behave(&req).await?;
            // "stop" makes the handler answer before the client has finished sending.
            if req.message == "stop" {
                break;
            }
            joined.push(req.message);
            count += 1;
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(EchoResponse {
            message: joined.join(","),
            index: count,
            padding: Vec::new(),
        }))
    }

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
        mut sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let response: Result<Response<BoxStream<EchoResponse>>, Status> = async {
            let guard = self.enter();
            let input = request.into_inner();
            let finished = self.finished.clone();
            let stream = futures::stream::unfold(
                (input, 0u32, Some(guard), finished),
                |(mut input, i, guard, finished)| async move {
                    let guard = guard?;
                    match input.message().await {
                        Ok(Some(req)) => {
                            if let Err(status) = behave(&req).await {
                                return Some((Err(status), (input, i + 1, None, finished)));
                            }
                            // "stop" ends the response stream while the client may still send.
                            if req.message == "stop" {
                                finished.fetch_add(1, Ordering::SeqCst);
                                return None;
                            }
                            Some((Ok(reply(&req, i)), (input, i + 1, Some(guard), finished)))
                        }
                        Ok(None) => {
                            finished.fetch_add(1, Ordering::SeqCst);
                            drop(guard);
                            None
                        }
                        Err(status) => Some((Err(status), (input, i + 1, None, finished))),
                    }
                },
            );
            Ok(Response::new(Box::pin(stream) as BoxStream<EchoResponse>))
        }
        .await;
        sink.send_response(response?).await
    }
}

fn async_stream(
    req: EchoRequest,
    guard: ActiveGuard,
    finished: Arc<AtomicUsize>,
) -> BoxStream<EchoResponse> {
    let stream = futures::stream::unfold((0u32, Some(guard)), move |(i, guard)| {
        let req = req.clone();
        let finished = finished.clone();
        async move {
            let guard = guard?;
            if i == req.count {
                finished.fetch_add(1, Ordering::SeqCst);
                drop(guard);
                if req.fail_code != 0 {
                    let status =
                        Status::new(Code::from_i32(req.fail_code), req.fail_message.clone());
                    return Some((Err(status), (i + 1, None)));
                }
                return None;
            }
            if req.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(u64::from(req.delay_ms))).await;
            }
            // After the handler has returned: the response stream itself panics.
            if req.panic && i == 1 {
                panic!("response stream asked to panic");
            }
            Some((Ok(reply(&req, i)), (i + 1, Some(guard))))
        }
    });
    stream.boxed()
}

/// A running server; dropping it shuts the server down.
pub struct TestServer {
    pub addr: SocketAddr,
    pub service: EchoService,
    stop: Option<oneshot::Sender<()>>,
    pub handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|b| b).await
    }

    pub async fn start_with(configure: impl FnOnce(Builder) -> Builder) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let service = EchoService::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let builder = configure(Server::builder().add_service(EchoServer::new(service.clone())));
        let handle = tokio::spawn(builder.serve_with_listener(listener, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            service,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Begins graceful shutdown and returns the serve task.
    pub fn shutdown(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.handle.take().expect("server already shut down")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Polls `cond` every 10 ms for up to 5 s.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}
