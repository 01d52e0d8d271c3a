//! The flaky server of tests/retry_streaming.rs: it fails the first attempts
//! of a client-streaming or bidi call on purpose, as the call's metadata says
//! (see that file's doc), and records what each attempt carried and read.
//! Also a proxy whose first connection refuses its first call with GOAWAY.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use h2grpc::client::Channel;
use h2grpc::server::{ResponseSink, Server};
use h2grpc::{Code, Request, Response, Status, Streaming};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

#[allow(missing_docs, unreachable_pub, dead_code, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/h2grpc.test.rs"));
}

use pb::echo_server::{Echo, EchoServer};
use pb::{EchoRequest, EchoResponse};

/// One attempt as the server saw it.
#[derive(Clone, Debug, Default)]
pub struct Attempt {
    /// Its `grpc-previous-rpc-attempts` header.
    pub previous: Option<String>,
    /// The messages it read, in order.
    pub messages: Vec<String>,
}

#[derive(Clone, Default)]
pub struct Flaky {
    attempts: Arc<Mutex<HashMap<String, Vec<Attempt>>>>,
}

/// What the metadata asks of one attempt.
struct Plan {
    name: String,
    /// This attempt's index (0 for the first).
    index: usize,
    fails: bool,
    mode: String,
}

impl Flaky {
    fn plan<T>(&self, request: &Request<T>) -> Plan {
        let md = request.metadata();
        let name = md.get("x-name").unwrap_or("unnamed").to_owned();
        let failures: usize = md.get("x-fail").and_then(|f| f.parse().ok()).unwrap_or(0);
        let previous = md.get("grpc-previous-rpc-attempts").map(str::to_owned);
        let mut all = self.attempts.lock().unwrap();
        let list = all.entry(name.clone()).or_default();
        list.push(Attempt {
            previous,
            messages: Vec::new(),
        });
        let index = list.len() - 1;
        Plan {
            name,
            index,
            fails: index < failures,
            mode: md.get("x-mode").unwrap_or("before-read").to_owned(),
        }
    }

    fn record(&self, plan: &Plan, message: &EchoRequest) {
        let mut all = self.attempts.lock().unwrap();
        all.get_mut(&plan.name).unwrap()[plan.index]
            .messages
            .push(message.message.clone());
    }

    pub fn seen(&self, name: &str) -> Vec<Attempt> {
        let all = self.attempts.lock().unwrap();
        all.get(name).cloned().unwrap_or_default()
    }
}

fn unavailable() -> Status {
    Status::new(Code::Unavailable, "failing on purpose")
}

impl Echo for Flaky {
    async fn unary(&self, _: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Err(Status::unimplemented("not used here"))
    }

    async fn server_stream(
        &self,
        _: Request<EchoRequest>,
        _: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        Err(Status::unimplemented("not used here"))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let plan = self.plan(&request);
        if plan.fails && plan.mode == "before-read" {
            return Err(unavailable());
        }
        let mut messages = request.into_inner();
        let mut read = 0;
        while let Some(message) = messages.message().await? {
            self.record(&plan, &message);
            read += 1;
            if plan.fails && read == 2 {
                return Err(unavailable());
            }
        }
        Ok(Response::new(EchoResponse {
            message: plan.name,
            index: plan.index as u32,
            padding: Vec::new(),
        }))
    }

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
        mut sink: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let plan = self.plan(&request);
        if plan.fails && plan.mode == "before-read" {
            return Err(unavailable());
        }
        let mut messages = request.into_inner();
        while let Some(message) = messages.message().await? {
            self.record(&plan, &message);
            sink.send(&EchoResponse {
                message: message.message,
                index: plan.index as u32,
                padding: Vec::new(),
            })
            .await?;
            if plan.mode == "headers-then-fail" {
                return Err(unavailable());
            }
        }
        Ok(())
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

    pub fn channel(&self, service_config: Option<&str>) -> Channel {
        let uri = format!("http://{}", self.addr);
        let builder = Channel::builder(&uri);
        let builder = match service_config {
            Some(json) => builder.service_config_json(json),
            None => builder,
        };
        builder.connect_lazy().unwrap()
    }

    /// The `grpc-previous-rpc-attempts` header of each attempt of `name`.
    pub fn previous(&self, name: &str) -> Vec<Option<String>> {
        let seen = self.service.seen(name);
        seen.into_iter().map(|a| a.previous).collect()
    }

    pub fn messages_of_last(&self, name: &str) -> Vec<String> {
        let seen = self.service.seen(name);
        seen.last().map(|a| a.messages.clone()).unwrap_or_default()
    }
}

/// The client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Listens on 127.0.0.1:0: the first connection answers its first HEADERS
/// with GOAWAY (last stream id 0, NO_ERROR), so that call was never seen;
/// the rest are piped to `target`. Returns the URI and the connection count.
pub async fn refusing_proxy(target: SocketAddr) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::spawn(async move { refuse_one(&mut socket).await });
            } else {
                tokio::spawn(async move {
                    let mut upstream = TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
                });
            }
        }
    });
    (format!("http://{addr}"), accepted)
}

/// Reads frames up to the first HEADERS (answering PINGs), then sends
/// SETTINGS and GOAWAY and reads until the client goes away.
async fn refuse_one(socket: &mut TcpStream) {
    let mut preface = [0u8; PREFACE.len()];
    socket.read_exact(&mut preface).await.unwrap();
    assert_eq!(preface, PREFACE);
    // Bounded: a client sends a handful of frames before its first HEADERS.
    for _ in 0..64 {
        // length (24 bits), type, flags, stream id; then the payload.
        let mut head = [0u8; 9];
        socket.read_exact(&mut head).await.unwrap();
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0u8; len];
        socket.read_exact(&mut payload).await.unwrap();
        if head[3] == 0x1 {
            break; // HEADERS
        }
        if head[3] == 0x6 && head[4] & 0x1 == 0 {
            // PING: answered with an ACK of the same payload (RFC 9113 §6.7).
            let mut ack = vec![0, 0, 8, 0x6, 0x1, 0, 0, 0, 0];
            ack.extend_from_slice(&payload);
            socket.write_all(&ack).await.unwrap();
        }
    }
    let mut out = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0]; // empty SETTINGS
    out.extend([0, 0, 8, 0x7, 0, 0, 0, 0, 0]); // GOAWAY, 8 bytes, stream 0
    out.extend([0, 0, 0, 0]); // last stream id 0
    out.extend([0, 0, 0, 0]); // NO_ERROR
    socket.write_all(&out).await.unwrap();
    let mut sink = [0u8; 4096];
    while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
}
