//! The pieces tests/health.rs is made of: our health server on a thread of its own, a
//! child process read line by line (health_probe.py, health_probe.js, order-server), and
//! our client's calls with deadlines.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use h2grpc::health::pb::health_check_response::ServingStatus as Wire;
use h2grpc::health::pb::health_client::HealthClient;
use h2grpc::health::pb::{HealthCheckRequest, HealthCheckResponse};
use h2grpc::health::{HealthReporter, health_reporter};
use h2grpc::server::Server;
use h2grpc::{Code, Streaming};

use crate::common::node::node_env;
use crate::common::python::python_env;

/// A Python child's next line: its start (grpcio's import) is most of it.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);
/// One message or call of our own client.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// The test servers' grace period: far longer than a drain that open watches do not hold.
pub const GRACE: Duration = Duration::from_secs(30);

/// Our health service on its own runtime and thread, serving 127.0.0.1:0 until
/// [`shut_down`](TestServer::shut_down) fires the signal given to `not_serving_on`.
pub struct TestServer {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The handle on the server's table.
    pub reporter: HealthReporter,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        let (reporter, service) = health_reporter();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = reporter.not_serving_on(async {
            let _ = stopped.await;
        });
        let (addr_tx, addr_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let _ = addr_tx.send(listener.local_addr()?);
                Server::builder()
                    .grace_period(GRACE)
                    .add_service(service)
                    .serve_with_listener(listener, shutdown)
                    .await
            })
        });
        let addr = addr_rx
            .recv_timeout(RPC_TIMEOUT)
            .expect("test server did not bind");
        TestServer {
            addr: addr.to_string(),
            reporter,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub async fn client(&self) -> HealthClient {
        HealthClient::connect(&format!("http://{}", self.addr))
            .await
            .expect("connect to the test server")
    }

    /// Fires the shutdown signal and waits (bounded) for the server to return.
    pub fn shut_down(&mut self) -> Duration {
        let started = Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let thread = self.thread.take().expect("shut down once");
        while !thread.is_finished() {
            assert!(
                started.elapsed() < GRACE + RPC_TIMEOUT,
                "server never returned"
            );
            thread::sleep(Duration::from_millis(10));
        }
        let served = thread.join().expect("server thread panicked");
        served.expect("serve_with_listener failed");
        started.elapsed()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The thread ends on its own once the signal fires; a failed test does not wait.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A child read line by line as it prints (and written to, for health_probe.py's server);
/// killed on drop.
pub struct Probe {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Probe {
    pub fn spawn(name: &str, mut cmd: Command) -> Probe {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start: {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout piped");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr piped");
        let into = stderr.clone();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
            *into.lock().unwrap_or_else(|p| p.into_inner()) = text;
        });
        Probe {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    pub fn health_probe(args: &[&str]) -> Probe {
        let mut cmd = python_env().command("health_probe.py");
        cmd.args(args);
        Probe::spawn(&format!("health_probe.py {}", args.join(" ")), cmd)
    }

    /// tests/node/health_probe.js (grpc-js with grpc-health-check's service definition).
    pub fn node_health_probe(args: &[&str]) -> Probe {
        let mut cmd = node_env().command("health_probe.js");
        cmd.args(args);
        Probe::spawn(&format!("health_probe.js {}", args.join(" ")), cmd)
    }

    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(LINE_TIMEOUT) {
            Ok(line) => line,
            Err(why) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                thread::sleep(Duration::from_millis(100)); // let the stderr reader finish
                let stderr = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
                panic!("{}: no line ({why:?})\n--- stderr ---\n{stderr}", self.name)
            }
        }
    }

    /// The next line must be `want`.
    pub fn expect(&mut self, want: &str) {
        let line = self.next_line();
        assert_eq!(line, want, "{}: unexpected line", self.name);
    }

    /// The address in a first line `... listening on ADDR`.
    pub fn listening_addr(&mut self) -> String {
        let line = self.next_line();
        match line.split_once(" listening on ") {
            Some((_, addr)) => addr.trim().to_owned(),
            None => panic!("{}: first line {line:?} names no address", self.name),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one line to the child's stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to a child");
        stdin.flush().expect("flush to a child");
    }

    /// Sends one command to health_probe.py's server and waits until it took effect.
    pub fn command(&mut self, command: &str) {
        self.send_line(command);
        self.expect(&format!("done {command}"));
    }

    /// Waits (bounded) for the child to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for a child") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {timeout:?}",
                self.name
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// The next Watch message's status, `Ok(None)` at a clean end, `Err` at a failed one.
pub async fn next_status(
    stream: &mut Streaming<HealthCheckResponse>,
) -> Result<Option<Wire>, Code> {
    match tokio::time::timeout(RPC_TIMEOUT, stream.message()).await {
        Ok(Ok(message)) => Ok(message.map(|m| m.status())),
        Ok(Err(status)) => Err(status.code()),
        Err(_) => panic!("no Watch message within {RPC_TIMEOUT:?}"),
    }
}

pub async fn watch(client: &HealthClient, service: &str) -> Streaming<HealthCheckResponse> {
    client
        .watch(request(service))
        .await
        .expect("Watch starts")
        .into_inner()
}

pub async fn check(client: &HealthClient, service: &str) -> Result<Wire, Code> {
    match client.check(request(service)).await {
        Ok(response) => Ok(response.into_inner().status()),
        Err(status) => Err(status.code()),
    }
}
