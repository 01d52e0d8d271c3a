//! A second implementation of `h2grpc.test.Echo`, written in the handle
//! style (`sink.send(&msg).await` in loops, `send_head`, `set_trailers`,
//! `set_send_compression`, `flush`, the sink moved into a spawned task),
//! and a server fixture that runs it on `127.0.0.1:0` the way
//! `support::echo::TestServer` runs the stream-style one.
//!
//! Each handler picks what to do from its request: a server-streaming call
//! names its mode in `EchoRequest::message` (with `count` messages of
//! `response_bytes` padding each), a bidi call in the `x-mode` metadata. What
//! the handlers see (sends completed, send results, whether they returned)
//! is recorded in a [`Probe`] the test reads.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use h2grpc::compression::Encoding;
use h2grpc::server::{Builder, ResponseSink, Server};
use h2grpc::{Metadata, Request, Response, Status, Streaming};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::support::echo::pb::echo_client::EchoClient;
use crate::support::echo::pb::echo_server::{Echo, EchoServer};
use crate::support::echo::pb::{EchoRequest, EchoResponse};

/// The padding of a "big" message: 64 KiB.
pub const BIG: u32 = 64 * 1024;

/// A send not taken within this long counts as stalled on flow control.
pub const STALL: Duration = Duration::from_millis(300);

/// What the handlers of one server did, for the tests to check.
#[derive(Debug, Default)]
pub struct Probe {
    /// Handlers started.
    pub started: AtomicUsize,
    /// Handlers running: a handler's guard decrements it however it ends,
    /// including by its future being dropped.
    pub active: AtomicUsize,
    /// `sink.send` calls that returned `Ok`.
    pub sent: AtomicUsize,
    /// The test's "go on" to a handler waiting for it.
    pub gate: Notify,
    notes: Mutex<Vec<String>>,
}

impl Probe {
    pub fn note(&self, what: impl Into<String>) {
        self.notes.lock().unwrap().push(what.into());
    }

    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap().clone()
    }

    /// The first note starting with `prefix`.
    pub fn find(&self, prefix: &str) -> Option<String> {
        self.notes
            .lock()
            .unwrap()
            .iter()
            .find(|n| n.starts_with(prefix))
            .cloned()
    }

    pub fn has(&self, prefix: &str) -> bool {
        self.find(prefix).is_some()
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }
}

/// Counts a handler as running until it ends for any reason (like echo.rs's `ActiveGuard`).
struct Active(Arc<Probe>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The handle-style `Echo` service.
#[derive(Clone, Debug, Default)]
pub struct HandleEcho {
    pub probe: Arc<Probe>,
}

impl HandleEcho {
    fn enter(&self) -> Active {
        self.probe.started.fetch_add(1, Ordering::SeqCst);
        self.probe.active.fetch_add(1, Ordering::SeqCst);
        Active(self.probe.clone())
    }
}

/// Response `index` with `bytes` of padding.
pub fn reply(index: u32, bytes: u32) -> EchoResponse {
    EchoResponse {
        message: String::new(),
        index,
        padding: vec![0xab; bytes as usize],
    }
}

/// Metadata with one ASCII entry.
pub fn md(key: &str, value: &str) -> Metadata {
    let mut metadata = Metadata::new();
    metadata.insert(key, value).expect("valid metadata");
    metadata
}

/// `Ok` or `Err(CODE)`, for the notes.
pub fn outcome(result: &Result<(), Status>) -> String {
    match result {
        Ok(()) => "Ok".to_owned(),
        Err(status) => format!("Err({})", status.code().as_str()),
    }
}

/// Sends messages `from..to` (padding `bytes`), counting each one taken.
async fn flood(
    probe: &Probe,
    sink: &mut ResponseSink<EchoResponse>,
    from: u32,
    to: u32,
    bytes: u32,
) -> Result<(), Status> {
    for i in from..to {
        if let Err(status) = sink.send(&reply(i, bytes)).await {
            probe.note(format!("send {i} failed: {}", status.code().as_str()));
            return Err(status);
        }
        probe.sent.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

/// Sends [`BIG`] messages until one is not taken within [`STALL`] (the
/// client is not reading): returns that message's index; it was not sent.
async fn send_until_stalled(
    probe: &Probe,
    sink: &mut ResponseSink<EchoResponse>,
) -> Result<u32, Status> {
    for i in 0..10_000 {
        match tokio::time::timeout(STALL, sink.send(&reply(i, BIG))).await {
            Ok(Ok(())) => {
                probe.sent.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Err(status)) => return Err(status),
            Err(_) => return Ok(i),
        }
    }
    Err(Status::internal("the sink never stalled"))
}

impl HandleEcho {
    async fn server_stream_mode(
        &self,
        req: EchoRequest,
        mut sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let probe = self.probe.clone();
        let (count, bytes) = (req.count, req.response_bytes);
        match req.message.as_str() {
            // `count` messages in a tight loop.
            "flood" => flood(&probe, &mut sink, 0, count, bytes).await,
            // One message, then waits on something other than the sink, forever.
            "pend" => {
                sink.send(&reply(0, bytes)).await?;
                sink.flush().await?;
                probe.note("waiting");
                std::future::pending::<()>().await;
                Ok(())
            }
            // Three small messages, then one over the server's send limit
            // (`bytes`), then one more small one; the errors are ignored.
            "oversize" => {
                flood(&probe, &mut sink, 0, 3, 8).await?;
                let over = sink.send(&reply(3, bytes)).await;
                probe.note(format!("oversize: {}", outcome(&over)));
                let after = sink.send(&reply(4, 8)).await;
                probe.note(format!("after: {}", outcome(&after)));
                Ok(())
            }
            // The head with metadata before any message; then, once the test
            // says so, `count` messages, trailers, and `fail_code` if set.
            "head" => {
                sink.send_head(md("x-head", "early"))?;
                let again = sink.send_head(md("x-head", "again"));
                probe.note(format!("second send_head: {}", outcome(&again)));
                probe.note("head sent");
                probe.gate.notified().await;
                flood(&probe, &mut sink, 0, count, bytes).await?;
                sink.set_trailers(md("x-trailer", "late"));
                if req.fail_code != 0 {
                    return Err(Status::new(
                        h2grpc::Code::from_i32(req.fail_code),
                        req.fail_message,
                    ));
                }
                Ok(())
            }
            // Fails at once, before sending or waiting (with trailers set).
            "fail-now" => {
                sink.set_trailers(md("x-trailer", "only"));
                Err(Status::new(
                    h2grpc::Code::from_i32(req.fail_code),
                    req.fail_message,
                ))
            }
            // gzip if the client accepts it; the second message plain.
            "gzip" => {
                sink.set_send_compression(Encoding::Gzip);
                let toggle = sink.compression_toggle();
                sink.send(&reply(0, bytes)).await?;
                toggle.set(false);
                sink.send(&reply(1, bytes)).await?;
                toggle.set(true);
                sink.send(&reply(2, bytes)).await?;
                Ok(())
            }
            // The sink moves to a spawned task, which sends; the handler joins it.
            "spawn" => {
                let p = probe.clone();
                let task = tokio::spawn(async move {
                    let result = flood(&p, &mut sink, 0, count, bytes).await;
                    p.note(format!("task done: {}", outcome(&result)));
                    result
                });
                let result = task.await.map_err(|e| Status::internal(e.to_string()))?;
                probe.note("joined");
                result
            }
            // A spawned task keeps the sink after the handler returned, and
            // sends once more when the test says so.
            "orphan" => {
                let (done, sent) = oneshot::channel();
                let p = probe.clone();
                tokio::spawn(async move {
                    let _ = done.send(flood(&p, &mut sink, 0, count, bytes).await);
                    p.gate.notified().await;
                    let late = sink.send(&reply(count, bytes)).await;
                    p.note(format!("late send: {}", outcome(&late)));
                    let flushed = sink.flush().await;
                    p.note(format!("late flush: {}", outcome(&flushed)));
                    let head = sink.send_head(md("x-head", "late"));
                    p.note(format!("late send_head: {}", outcome(&head)));
                });
                sent.await
                    .map_err(|_| Status::internal("sending task died"))?
            }
            // A spawned task fills the client's window until its send stalls;
            // the handler returns then, and its call is left draining the
            // batch into the full window. Then the task sends once more.
            "orphan-drain" => {
                let (stalled_tx, stalled_rx) = oneshot::channel();
                let p = probe.clone();
                tokio::spawn(async move {
                    let i = match send_until_stalled(&p, &mut sink).await {
                        Ok(i) => i,
                        Err(status) => {
                            let _ = stalled_tx.send(Err(status));
                            return;
                        }
                    };
                    p.note(format!("stalled at {i}"));
                    let _ = stalled_tx.send(Ok(()));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let late = sink.send(&reply(i, BIG)).await;
                    p.note(format!("late send {i}: {}", outcome(&late)));
                });
                stalled_rx
                    .await
                    .map_err(|_| Status::internal("sending task died"))?
            }
            // Fills the window until a send stalls, then flushes: the flush
            // must wait for the window; then the rest, up to `count`.
            "flush-full" => {
                let i = send_until_stalled(&probe, &mut sink).await?;
                probe.note(format!("stalled at {i}"));
                match tokio::time::timeout(STALL, sink.flush()).await {
                    Err(_) => probe.note("flush blocked"),
                    Ok(r) => probe.note(format!("flush returned early: {}", outcome(&r))),
                }
                sink.flush().await?;
                probe.note("flushed");
                flood(&probe, &mut sink, i, count, BIG).await
            }
            // A few messages, flushed, while the handler then waits for the test.
            "flush" => {
                flood(&probe, &mut sink, 0, count, bytes).await?;
                sink.flush().await?;
                probe.note("flushed");
                probe.gate.notified().await;
                Ok(())
            }
            other => Err(Status::invalid_argument(format!("unknown mode {other:?}"))),
        }
    }

    async fn bidi_mode(
        &self,
        mode: &str,
        fail: bool,
        mut input: Streaming<EchoRequest>,
        mut sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let probe = self.probe.clone();
        match mode {
            // Reads first, answers each request.
            "echo" => echo(&mut input, &mut sink).await,
            // Fails before reading anything.
            "fail-before-read" => {
                sink.set_trailers(md("x-trailer", "only"));
                Err(Status::permission_denied("refused before reading"))
            }
            // The head with metadata before reading; once the test says so,
            // echoes, then sets trailers (and fails if `x-fail` was sent).
            "head" => {
                sink.send_head(md("x-head", "early"))?;
                probe.note("head sent");
                probe.gate.notified().await;
                echo(&mut input, &mut sink).await?;
                sink.set_trailers(md("x-trailer", "late"));
                if fail {
                    return Err(Status::aborted("failed after setting trailers"));
                }
                Ok(())
            }
            // The handler reads, a spawned task owning the sink answers.
            "spawn" => {
                let (tx, mut rx) = mpsc::unbounded_channel::<EchoRequest>();
                let task = tokio::spawn(async move {
                    let mut i = 0;
                    while let Some(req) = rx.recv().await {
                        sink.send(&answer(&req, i)).await?;
                        i += 1;
                    }
                    Ok::<(), Status>(())
                });
                while let Some(req) = input.recv().await? {
                    let _ = tx.send(req);
                }
                drop(tx);
                let result = task.await.map_err(|e| Status::internal(e.to_string()))?;
                probe.note("joined");
                result
            }
            other => Err(Status::invalid_argument(format!("unknown mode {other:?}"))),
        }
    }
}

fn answer(req: &EchoRequest, index: u32) -> EchoResponse {
    EchoResponse {
        message: req.message.clone(),
        index,
        padding: vec![0xcd; req.response_bytes as usize],
    }
}

/// Answers every request with its message and index, until the client half-closes.
async fn echo(
    input: &mut Streaming<EchoRequest>,
    sink: &mut ResponseSink<EchoResponse>,
) -> Result<(), Status> {
    let mut i = 0;
    while let Some(req) = input.recv().await? {
        sink.send(&answer(&req, i)).await?;
        i += 1;
    }
    Ok(())
}

impl Echo for HandleEcho {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let _active = self.enter();
        Ok(Response::new(answer(request.get_ref(), 0)))
    }

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
        sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let _active = self.enter();
        let result = self.server_stream_mode(request.into_inner(), sink).await;
        self.probe.note(format!("returned: {}", outcome(&result)));
        result
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let _active = self.enter();
        let mut input = request.into_inner();
        let mut count = 0;
        while input.recv().await?.is_some() {
            count += 1;
        }
        Ok(Response::new(reply(count, 0)))
    }

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
        sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let _active = self.enter();
        let mode = request
            .metadata()
            .get("x-mode")
            .unwrap_or("echo")
            .to_owned();
        let fail = request.metadata().get("x-fail").is_some();
        let result = self
            .bidi_mode(&mode, fail, request.into_inner(), sink)
            .await;
        self.probe.note(format!("returned: {}", outcome(&result)));
        result
    }
}

/// A running handle-style server; dropping it shuts the server down.
pub struct HandleServer {
    pub addr: SocketAddr,
    pub probe: Arc<Probe>,
    stop: Option<oneshot::Sender<()>>,
}

impl HandleServer {
    pub async fn start() -> HandleServer {
        HandleServer::start_with(|b| b).await
    }

    /// On the caller's runtime (`None`) or on `n` connection threads.
    pub async fn start_on(threads: Option<usize>) -> HandleServer {
        HandleServer::start_with(|b| match threads {
            Some(n) => b.connection_threads(n),
            None => b,
        })
        .await
    }

    pub async fn start_with(configure: impl FnOnce(Builder) -> Builder) -> HandleServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let service = HandleEcho::default();
        let probe = service.probe.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let builder = configure(Server::builder().add_service(EchoServer::new(service)));
        tokio::spawn(builder.serve_with_listener(listener, async {
            let _ = stopped.await;
        }));
        HandleServer {
            addr,
            probe,
            stop: Some(stop),
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn client(&self) -> EchoClient {
        EchoClient::connect(&self.uri()).await.expect("connect")
    }
}

impl Drop for HandleServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
