//! Interceptors on both sides (src/intercept/): order, metadata changes,
//! extensions handed to the handler, rejection before the handler runs
//! (Trailers-Only on the wire), deadlines over a slow interceptor, what
//! `on_end` hears, per-service lists; and dynamic method paths on the client.

#[path = "support/h2raw.rs"]
mod h2raw;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use h2grpc::client::Channel;
use h2grpc::codec::ProstCodec;
use h2grpc::intercept::{
    BearerCredentials, BearerToken, CallContext, CallEnd, ClientCallContext, ClientCallEnd,
    ClientInterceptor, Interceptor, Interceptors,
};
use h2grpc::server::{Call, Service};
use h2grpc::{Code, Request, Response, Status};
use h2raw::RawConn;
use support::echo::TestServer;
use support::echo::pb::echo_client::EchoClient;
use support::echo::pb::echo_server::EchoServer;
use support::echo::pb::{EchoRequest, EchoResponse};

fn req(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
}

/// Records what it saw into a shared log, under its own name.
#[derive(Clone)]
struct Recorder {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl Interceptor for Recorder {
    async fn intercept(&self, call: &mut CallContext) -> Result<(), Status> {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} in {}", self.name, call.method()));
        let seen = call.metadata().get("x-trail").unwrap_or("").to_owned();
        call.metadata_mut()
            .insert("x-trail", &format!("{seen}{}", self.name))
            .unwrap();
        Ok(())
    }

    fn on_end(&self, end: &CallEnd<'_>) {
        self.log.lock().unwrap().push(format!(
            "{} end {} {} sent>0={}",
            self.name,
            end.method(),
            end.code.as_str(),
            end.sent_bytes > 0
        ));
    }
}

/// The caller an interceptor authenticated, handed to the handler.
#[derive(Clone, Debug)]
struct User(String);

struct Authenticate;

impl Interceptor for Authenticate {
    async fn intercept(&self, call: &mut CallContext) -> Result<(), Status> {
        let user = call.metadata().get("x-user").map(str::to_owned);
        match user {
            Some(user) => {
                call.extensions_mut().insert(User(user));
                Ok(())
            }
            None => Err(Status::permission_denied("who are you?")),
        }
    }
}

/// A hand-written service (no codegen) whose one method reports what the
/// handler saw: the authenticated user and the interceptors' trail.
#[derive(Clone, Default)]
struct Whoami {
    handled: Arc<AtomicUsize>,
}

impl Service for Whoami {
    fn name(&self) -> &'static str {
        "test.Whoami"
    }

    fn call(&self, _method: &str, call: Call) {
        let handled = self.handled.clone();
        let codec = ProstCodec::<EchoResponse, EchoRequest>::default();
        call.unary(codec, move |request: Request<EchoRequest>| async move {
            handled.fetch_add(1, Ordering::SeqCst);
            tracing::info!("whoami handler ran");
            let user = request.extensions().get::<User>().map(|u| u.0.clone());
            let trail = request.metadata().get("x-trail").unwrap_or("-").to_owned();
            let message = format!("{}|{trail}", user.unwrap_or_else(|| "nobody".into()));
            Ok(Response::new(EchoResponse {
                message,
                ..Default::default()
            }))
        });
    }
}

async fn whoami(channel: &Channel, user: Option<&str>) -> Result<String, Status> {
    let mut request = Request::new(req(""));
    if let Some(user) = user {
        request.metadata_mut().insert("x-user", user).unwrap();
    }
    // A path built at run time: what a proxy or a reflection client does.
    let path = format!("/{}/{}", "test.Whoami", "Get");
    let codec = ProstCodec::<EchoRequest, EchoResponse>::default();
    let response = channel.unary(path, request, codec).await?;
    Ok(response.into_inner().message)
}

#[tokio::test]
async fn interceptors_run_in_order_and_hand_extensions_to_the_handler() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (
        Recorder {
            name: "a",
            log: log.clone(),
        },
        Recorder {
            name: "b",
            log: log.clone(),
        },
    );
    let whoami_service = Whoami::default();
    let service = whoami_service.clone();
    let server = TestServer::start_with(move |builder| {
        builder
            .interceptor(a)
            .add_service_with(service, Interceptors::new().with(b).with(Authenticate))
    })
    .await;
    let channel = Channel::connect(&server.uri()).await.unwrap();

    assert_eq!(whoami(&channel, Some("ada")).await.unwrap(), "ada|ab");
    let log_now = log.lock().unwrap().clone();
    assert_eq!(
        log_now,
        [
            "a in Get",
            "b in Get",
            "a end Get OK sent>0=true",
            "b end Get OK sent>0=true"
        ]
    );

    // Rejected by the third interceptor: the handler never runs, both
    // earlier interceptors still hear the end.
    log.lock().unwrap().clear();
    let refused = whoami(&channel, None).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(refused.message(), "who are you?");
    assert_eq!(whoami_service.handled.load(Ordering::SeqCst), 1);
    let ends: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("end"))
        .cloned()
        .collect();
    assert_eq!(
        ends,
        [
            "a end Get PERMISSION_DENIED sent>0=false",
            "b end Get PERMISSION_DENIED sent>0=false"
        ]
    );

    // An unknown method of a known service is answered by the service
    // (UNIMPLEMENTED), and its interceptors hear of it.
    log.lock().unwrap().clear();
    let codec = ProstCodec::<EchoRequest, EchoResponse>::default();
    let status = channel
        .unary(
            "/h2grpc.test.Echo/NoSuchMethod",
            Request::new(req("x")),
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        *log.lock().unwrap(),
        ["a end NoSuchMethod UNIMPLEMENTED sent>0=false"]
    );

    // The Echo service has only the server-wide interceptor.
    log.lock().unwrap().clear();
    let echo = EchoClient::connect(&server.uri()).await.unwrap();
    echo.unary(Request::new(req("x"))).await.unwrap();
    assert_eq!(log.lock().unwrap()[0], "a in Unary");
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn bearer_token_guards_every_pattern() {
    let server = TestServer::start_with(|builder| {
        builder.add_service_with(
            EchoServer::new(support::echo::EchoService::default()),
            Interceptors::new().with(BearerToken::new("s3cret")),
        )
    })
    .await;

    let anonymous = EchoClient::connect(&server.uri()).await.unwrap();
    let status = anonymous.unary(Request::new(req("x"))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "missing bearer token");
    // A streaming call is refused before its handler too: Trailers-Only,
    // seen as the stream's first item.
    let mut stream = anonymous
        .server_stream(Request::new(EchoRequest {
            count: 3,
            ..req("s")
        }))
        .await
        .map(|r| r.into_inner());
    let status = match &mut stream {
        Ok(stream) => stream.message().await.unwrap_err(),
        Err(status) => status.clone(),
    };
    assert_eq!(status.code(), Code::Unauthenticated);

    let wrong = Channel::builder(&server.uri())
        .interceptor(BearerCredentials::new("guess"))
        .connect()
        .await
        .unwrap();
    let status = EchoClient::new(wrong)
        .unary(Request::new(req("x")))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "invalid bearer token")
    );

    let right = Channel::builder(&server.uri())
        .interceptor(BearerCredentials::new("s3cret"))
        .connect()
        .await
        .unwrap();
    let client = EchoClient::new(right);
    assert_eq!(
        client
            .unary(Request::new(req("ok")))
            .await
            .unwrap()
            .into_inner()
            .message,
        "ok"
    );
    let mut stream = client
        .server_stream(Request::new(EchoRequest {
            count: 3,
            ..req("s")
        }))
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while stream.message().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 3);
}

/// Sleeps before letting a call through; records how the call ended.
struct Slow {
    sleep: Duration,
    ends: Arc<Mutex<Vec<(Code, Duration)>>>,
}

impl Interceptor for Slow {
    async fn intercept(&self, _call: &mut CallContext) -> Result<(), Status> {
        tokio::time::sleep(self.sleep).await;
        Ok(())
    }

    fn on_end(&self, end: &CallEnd<'_>) {
        self.ends.lock().unwrap().push((end.code, end.elapsed));
    }
}

#[tokio::test]
async fn a_slow_interceptor_runs_under_the_call_deadline() {
    let ends = Arc::new(Mutex::new(Vec::new()));
    let slow = Slow {
        sleep: Duration::from_secs(5),
        ends: ends.clone(),
    };
    let server = TestServer::start_with(move |b| b.interceptor(slow)).await;
    // A raw client that sends grpc-timeout 200m and never resets: only the
    // server's own deadline can end the call before the 5 s sleep.
    let mut conn = RawConn::connect(server.addr).await;
    let mut head = h2raw::grpc_head("/h2grpc.test.Echo/Unary");
    head.push(h2raw::field("grpc-timeout", "200m"));
    conn.send(&h2raw::headers(1, false, &head)).await;
    conn.send(&h2raw::data(1, true, &h2raw::grpc_message(0, b"")))
        .await;
    conn.wait_stream(1, Duration::from_secs(3)).await;
    let log = conn.stream(1);
    assert_eq!(
        log.grpc_status(),
        Some(Code::DeadlineExceeded as u32),
        "{log:?}"
    );
    // Trailers-Only: the interceptor never let the call through.
    assert!(log.trailers.is_none() && log.body.is_empty(), "{log:?}");
    support::echo::eventually("the server call ended", || !ends.lock().unwrap().is_empty()).await;
    let (code, elapsed) = ends.lock().unwrap()[0];
    assert_eq!(code, Code::DeadlineExceeded);
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(server.service.finished.load(Ordering::SeqCst), 0);
}

/// Client side: adds a header, or refuses to send, and hears the end.
#[derive(Clone)]
struct ClientSide {
    refuse: bool,
    ends: Arc<Mutex<Vec<String>>>,
}

impl ClientInterceptor for ClientSide {
    async fn intercept(&self, call: &mut ClientCallContext) -> Result<(), Status> {
        if self.refuse {
            return Err(Status::failed_precondition("not sending"));
        }
        call.metadata_mut()
            .insert("x-user", "from-interceptor")
            .unwrap();
        assert_eq!(call.path(), "/test.Whoami/Get");
        Ok(())
    }

    fn on_end(&self, end: &ClientCallEnd<'_>) {
        self.ends
            .lock()
            .unwrap()
            .push(format!("{} {}", end.path, end.code.as_str()));
    }
}

#[tokio::test]
async fn client_interceptors_change_metadata_or_refuse_before_sending() {
    let service = Whoami::default();
    let handled = service.handled.clone();
    let server = TestServer::start_with(move |b| {
        b.add_service_with(service, Interceptors::new().with(Authenticate))
    })
    .await;
    let ends = Arc::new(Mutex::new(Vec::new()));

    let adds = Channel::builder(&server.uri())
        .interceptor(ClientSide {
            refuse: false,
            ends: ends.clone(),
        })
        .connect()
        .await
        .unwrap();
    assert_eq!(whoami(&adds, None).await.unwrap(), "from-interceptor|-");

    let refuses = Channel::builder(&server.uri())
        .interceptor(ClientSide {
            refuse: true,
            ends: ends.clone(),
        })
        .connect()
        .await
        .unwrap();
    let status = whoami(&refuses, Some("ada")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        handled.load(Ordering::SeqCst),
        1,
        "the refused call reached the server"
    );
    assert_eq!(
        *ends.lock().unwrap(),
        [
            "/test.Whoami/Get OK",
            "/test.Whoami/Get FAILED_PRECONDITION"
        ]
    );
}

#[tokio::test]
async fn an_invalid_dynamic_path_fails_without_sending() {
    let server = TestServer::start().await;
    let channel = Channel::connect(&server.uri()).await.unwrap();
    let codec = ProstCodec::<EchoRequest, EchoResponse>::default();
    let status = channel
        .unary(
            String::from("h2grpc.test.Echo/Unary"),
            Request::new(req("x")),
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    let codec = ProstCodec::<EchoRequest, EchoResponse>::default();
    let ok = channel
        .unary(
            String::from("/h2grpc.test.Echo/Unary"),
            Request::new(req("y")),
            codec,
        )
        .await
        .unwrap();
    assert_eq!(ok.into_inner().message, "y");
}

/// Records only how client calls ended.
#[derive(Clone, Default)]
struct Ends(Arc<Mutex<Vec<String>>>);

impl ClientInterceptor for Ends {
    fn on_end(&self, end: &ClientCallEnd<'_>) {
        let method = end.path.rsplit('/').next().unwrap_or("");
        self.0
            .lock()
            .unwrap()
            .push(format!("{method} {}", end.code.as_str()));
    }
}

#[tokio::test]
async fn client_on_end_hears_streaming_calls_when_their_stream_ends() {
    let server = TestServer::start().await;
    let ends = Ends::default();
    let channel = Channel::builder(&server.uri())
        .interceptor(ends.clone())
        .connect()
        .await
        .unwrap();
    let client = EchoClient::new(channel);
    let taken = || std::mem::take(&mut *ends.0.lock().unwrap());

    let mut stream = client
        .server_stream(Request::new(EchoRequest {
            count: 2,
            ..req("s")
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    assert!(taken().is_empty(), "reported before the stream ended");
    assert!(stream.message().await.unwrap().is_some());
    assert!(stream.message().await.unwrap().is_none());
    assert_eq!(taken(), ["ServerStream OK"]);

    let failing = EchoRequest {
        count: 1,
        fail_code: Code::Aborted as i32,
        ..req("f")
    };
    let mut stream = client
        .server_stream(Request::new(failing))
        .await
        .unwrap()
        .into_inner();
    while let Ok(Some(_)) = stream.message().await {}
    assert_eq!(taken(), ["ServerStream ABORTED"]);

    let mut call = client.bidi(()).await.unwrap();
    call.send(&req("one")).await.unwrap();
    assert!(call.recv().await.unwrap().is_some());
    drop(call);
    assert_eq!(taken(), ["Bidi CANCELLED"]);
}

/// A `MakeWriter` into a shared buffer, to read what the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A current-thread runtime (tokio::test's default): the server's tasks run
// on this thread, under the thread-local subscriber set here.
#[tokio::test]
async fn trace_calls_puts_the_handlers_own_logs_in_the_calls_span() {
    use h2grpc::intercept::TraceCalls;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let server = TestServer::start_with(|b| {
        b.interceptor(TraceCalls)
            .add_service_with(Whoami::default(), Interceptors::new().with(Authenticate))
    })
    .await;
    let channel = Channel::connect(&server.uri()).await.unwrap();
    whoami(&channel, Some("ada")).await.unwrap();
    let _ = whoami(&channel, None).await.unwrap_err();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = |needle: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    };
    let ran = line("whoami handler ran");
    assert_eq!(ran.len(), 1, "{text}");
    assert!(
        ran[0].contains("grpc{service=\"test.Whoami\" method=\"Get\" peer=127.0.0.1:"),
        "{text}"
    );
    let ends = line("call finished");
    assert_eq!(ends.len(), 2, "{text}");
    assert!(
        ends[0].contains("code=\"OK\"") && ends[0].contains("micros="),
        "{text}"
    );
    assert!(ends[1].contains("code=\"PERMISSION_DENIED\""), "{text}");
}

/// A hand-written `Service` wrapper that routes on what `Call` shows.
struct Gate<S>(S);

impl<S: Service> Service for Gate<S> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn call(&self, method: &str, call: Call) {
        if call.metadata().get("x-let-me-in").is_none() {
            let why = format!("{} from {} refused", call.path(), call.peer());
            return call.reject(Status::unavailable(why));
        }
        assert_eq!(call.timeout(), Some(Duration::from_secs(5)));
        self.0.call(method, call);
    }
}

#[tokio::test]
async fn a_service_wrapper_reads_the_call_and_may_reject_it() {
    let server = TestServer::start_with(|b| b.add_service(Gate(Whoami::default()))).await;
    let channel = Channel::connect(&server.uri()).await.unwrap();
    let status = whoami(&channel, Some("ada")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status
            .message()
            .starts_with("/test.Whoami/Get from 127.0.0.1:"),
        "{status:?}"
    );
    let mut request = Request::new(req(""));
    request.metadata_mut().insert("x-let-me-in", "1").unwrap();
    request.set_timeout(Duration::from_secs(5));
    let codec = ProstCodec::<EchoRequest, EchoResponse>::default();
    let reply = channel
        .unary("/test.Whoami/Get", request, codec)
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "nobody|-");
}
