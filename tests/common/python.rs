//! The Python grpcio peer for the foreign-implementation tests, and the child-process
//! plumbing those tests share.
//!
//! Layer: test harness only. Issue 4 asks that a fresh machine with only Rust and Python 3
//! passes `cargo test` with no manual step, so the tests build their own Python
//! environment on first use:
//!
//! ```text
//! <CARGO_TARGET_TMPDIR>/            (target/tmp)
//! ├── pyenv.lock          flock: one installer at a time, across test binaries and threads
//! └── pyenv/              python3 -m venv
//!     ├── ready           stamp: hash of tests/python/requirements.txt it was installed from
//!     ├── gen/            grpc_tools.protoc output (*_pb2.py, *_pb2_grpc.py)
//!     │   ├── .protos-<h> stamp per proto list: hash of those files + requirements
//!     │   └── interop_pb/grpc_testing/   stubs of proto/grpc/testing/*.proto (see below)
//!     ├── interop-protos/ those protos, staged under interop_pb/grpc_testing/
//!     └── pycache/        PYTHONPYCACHEPREFIX, so no __pycache__ lands in tests/python
//! ```
//!
//! The interop protos live at `proto/grpc/testing/`; generated with `proto/` as the
//! import root they would become a Python package `grpc`, shadowing grpcio's own. So
//! [`python_env_interop`] copies them to `interop-protos/interop_pb/grpc_testing/` and
//! rewrites their `import "grpc/testing/..."` lines to match: the Python package is
//! `interop_pb.grpc_testing`, while the proto package (and so every `:path` on the wire,
//! `/grpc.testing.TestService/...`) stays `grpc.testing`.
//!
//! A changed requirements.txt wipes and reinstalls the venv; a changed proto file
//! regenerates its stubs. Everything runs under the lock, so concurrent callers wait for
//! the first one and then find the stamps in place.
//!
//! Every wait here has a deadline and every child is killed on drop, so a broken peer
//! fails a test instead of hanging it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// First-time `pip install` downloads ~15 MiB of wheels; slow mirrors take minutes.
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Waiting for another process's install: longer than one install may take.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// `python -m venv` and `grpc_tools.protoc` finish in seconds; this only catches a hang.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// How long a server may take to print its "listening on" line (Python imports included).
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(20);
/// Output kept per child stream; the rest is still read (so the child never blocks on a
/// full pipe) but dropped. Enough for any diagnostic a failing test should print.
const CAPTURE_LIMIT_BYTES: usize = 4 * 1024 * 1024;
/// After a child exits, how long its output readers may take to reach end of file.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The protos the order-service tests need, relative to `proto/`.
pub const ORDER_PROTOS: &[&str] = &["order_management.proto"];

/// The interop protos (grpc/grpc `src/proto/grpc/testing/`), relative to `proto/`.
pub const INTEROP_PROTOS: &[&str] = &[
    "grpc/testing/empty.proto",
    "grpc/testing/messages.proto",
    "grpc/testing/test.proto",
];
/// Where [`python_env_interop`] stages them: the Python package the stubs land in
/// (`interop_pb.grpc_testing`), anything but a top-level `grpc`.
pub const INTEROP_STAGED_DIR: &str = "interop_pb/grpc_testing";

/// A ready Python environment: grpcio installed and stubs generated.
#[derive(Debug, Clone)]
pub struct PythonEnv {
    /// The venv directory, `<CARGO_TARGET_TMPDIR>/pyenv`.
    root: PathBuf,
    /// The venv's interpreter.
    python: PathBuf,
    /// Where the generated `*_pb2.py` / `*_pb2_grpc.py` files are.
    gen_dir: PathBuf,
}

impl PythonEnv {
    /// The venv's python executable.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// The directory holding the generated stubs.
    pub fn gen_dir(&self) -> &Path {
        &self.gen_dir
    }

    /// The venv directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `python <script>` with PYTHONPATH = generated stubs + tests/python.
    ///
    /// A relative `script` is taken relative to tests/python.
    pub fn command(&self, script: impl AsRef<Path>) -> Command {
        let scripts = scripts_dir();
        let python_path = std::env::join_paths([self.gen_dir.as_path(), scripts.as_path()])
            .expect("paths under target/ and tests/ contain no path separator");
        let mut cmd = Command::new(&self.python);
        cmd.arg(scripts.join(script))
            .env("PYTHONPATH", python_path)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONPYCACHEPREFIX", self.root.join("pycache"));
        cmd
    }
}

/// The environment for the order-service tests (stubs for [`ORDER_PROTOS`]).
pub fn python_env() -> PythonEnv {
    python_env_for(ORDER_PROTOS)
}

/// The environment with stubs for `protos` (paths relative to the repo's `proto/`).
///
/// Installs the venv on first use (once per machine, see the module doc); later calls only
/// check the stamps. Panics with the failing step's output if anything cannot be installed.
///
/// Stubs are generated with `proto/` as the import root, so a proto under a sub-directory
/// becomes a Python package of that path: protos under `grpc/` would shadow grpcio's own
/// `grpc` package; [`python_env_interop`] stages those under another path.
pub fn python_env_for(protos: &[&str]) -> PythonEnv {
    let (_lock, env, stamp) = ready_venv();
    generate_stubs(&env.python, &env.gen_dir, &proto_dir(), protos, &stamp);
    env
}

/// The environment with stubs for [`INTEROP_PROTOS`], as the Python package
/// `interop_pb.grpc_testing` (module doc): `from interop_pb.grpc_testing import test_pb2`.
pub fn python_env_interop() -> PythonEnv {
    let (_lock, env, stamp) = ready_venv();
    let staging = env.root.join("interop-protos");
    let staged = stage_protos(&proto_dir(), INTEROP_PROTOS, &staging, INTEROP_STAGED_DIR);
    let staged: Vec<&str> = staged.iter().map(String::as_str).collect();
    generate_stubs(&env.python, &env.gen_dir, &staging, &staged, &stamp);
    env
}

/// Installs the venv unless its stamp matches requirements.txt. Returns the held install
/// lock (stub generation must happen under it too), the environment and the stamp.
fn ready_venv() -> (File, PythonEnv, String) {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let root = tmp.join("pyenv");
    let python = venv_python(&root);
    let gen_dir = root.join("gen");
    fs::create_dir_all(tmp).unwrap_or_else(|e| panic!("create {}: {e}", tmp.display()));

    let lock = lock_exclusive(&tmp.join("pyenv.lock"), LOCK_TIMEOUT);

    let requirements_path = scripts_dir().join("requirements.txt");
    let requirements = fs::read(&requirements_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", requirements_path.display()));
    let ready_stamp = format!("requirements {:016x}\n", hash_of(&requirements));
    let ready_path = root.join("ready");
    let ready = fs::read_to_string(&ready_path).is_ok_and(|s| s == ready_stamp) && python.exists();
    if !ready {
        install(&root, &python, &requirements_path);
        fs::write(&ready_path, &ready_stamp)
            .unwrap_or_else(|e| panic!("write {}: {e}", ready_path.display()));
    }
    let env = PythonEnv {
        root,
        python,
        gen_dir,
    };
    (lock, env, ready_stamp)
}

/// The repo's `proto/`.
fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("proto")
}

/// Copies `protos` (relative to `from`) into `staging/<into>/`, rewriting every import of
/// one of them to its staged path; other imports are left alone. Returns the staged paths,
/// relative to `staging`. Files are rewritten only when their content changes, so a run
/// never touches files another test binary may be reading.
fn stage_protos(from: &Path, protos: &[&str], staging: &Path, into: &str) -> Vec<String> {
    let file_name = |proto: &str| proto.rsplit('/').next().unwrap_or(proto).to_owned();
    let names: Vec<String> = protos.iter().map(|p| file_name(p)).collect();
    let dir = staging.join(into);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let mut staged = Vec::with_capacity(protos.len());
    for (proto, name) in protos.iter().zip(&names) {
        let path = from.join(proto);
        let source =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let mut text = String::with_capacity(source.len());
        for line in source.lines() {
            text.push_str(&rewrite_import(line, &names, into));
            text.push('\n');
        }
        let target = dir.join(name);
        if fs::read_to_string(&target).ok().as_deref() != Some(text.as_str()) {
            fs::write(&target, &text).unwrap_or_else(|e| panic!("write {}: {e}", target.display()));
        }
        staged.push(format!("{into}/{name}"));
    }
    staged
}

/// `import "a/b/name.proto";` -> `import "<into>/name.proto";` when `name.proto` is one of
/// `names` (`import public` / `import weak` too); any other line unchanged.
fn rewrite_import(line: &str, names: &[String], into: &str) -> String {
    if !line.trim_start().starts_with("import") {
        return line.to_owned();
    }
    let Some((head, rest)) = line.split_once('"') else {
        return line.to_owned();
    };
    let Some((path, tail)) = rest.split_once('"') else {
        return line.to_owned();
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    if names.iter().any(|n| n == name) {
        format!("{head}\"{into}/{name}\"{tail}")
    } else {
        line.to_owned()
    }
}

/// tests/python: the scripts and requirements.txt.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python")
}

fn venv_python(root: &Path) -> PathBuf {
    if cfg!(windows) {
        root.join("Scripts").join("python.exe")
    } else {
        root.join("bin").join("python")
    }
}

/// A stamp value, not a security hash: a mismatch only means "reinstall". SipHash with
/// fixed keys is stable within one toolchain; a new toolchain at worst reinstalls once.
pub fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Blocks (polling, bounded by `timeout`) until this process holds the lock file.
/// The lock is released when the returned file is dropped.
// `File::try_lock` is stable since Rust 1.89; the crate's declared MSRV predates it, but
// integration tests run on the pinned toolchain.
pub fn lock_exclusive(path: &Path, timeout: Duration) -> File {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open lock file {}: {e}", path.display()));
    let deadline = Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => return file,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(200));
            }
            Err(TryLockError::WouldBlock) => panic!(
                "waited {timeout:?} for {} (another test installing the Python env?)",
                path.display()
            ),
            Err(TryLockError::Error(e)) => panic!("lock {}: {e}", path.display()),
        }
    }
}

/// Fresh venv at `root` with requirements.txt installed. Wheels only: building grpcio
/// from source needs a C++ toolchain and half an hour, better a clear error.
fn install(root: &Path, python: &Path, requirements: &Path) {
    if root.exists() {
        fs::remove_dir_all(root).unwrap_or_else(|e| panic!("remove {}: {e}", root.display()));
    }
    let base = std::env::var("H2GRPC_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut venv = Command::new(&base);
    venv.args(["-m", "venv"]).arg(root);
    let made = run("python3 -m venv", venv, None, STEP_TIMEOUT);

    let pip_args = [
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary",
        ":all:",
        "-r",
    ];
    let mut pip = if made.status.success() {
        let mut pip = Command::new(python);
        pip.args(["-m", "pip"]);
        pip
    } else {
        // Debian/Ubuntu without python3-venv: no ensurepip. Make the venv without pip and
        // install into it with the system pip (`--python` needs pip >= 22.3).
        let mut bare = Command::new(&base);
        bare.args(["-m", "venv", "--without-pip"]).arg(root);
        let bare_out = run("python3 -m venv --without-pip", bare, None, STEP_TIMEOUT);
        assert!(
            bare_out.status.success(),
            "cannot create a venv with {base}:\n{}\n{}",
            made.describe(),
            bare_out.describe()
        );
        let mut pip = Command::new(&base);
        pip.args(["-m", "pip", "--python"]).arg(python);
        pip
    };
    pip.args(pip_args).arg(requirements);
    let started = Instant::now();
    let out = run("pip install", pip, None, INSTALL_TIMEOUT);
    assert!(
        out.status.success(),
        "pip install -r {} failed (PyPI reachable? wheels for this platform?):\n{}",
        requirements.display(),
        out.describe()
    );
    eprintln!(
        "python env: installed {} into {} in {:.1?}",
        requirements.display(),
        root.display(),
        started.elapsed()
    );
}

/// Runs grpc_tools.protoc for `protos` (relative to the import root `proto_dir`) unless the
/// stubs for exactly these files (and this grpcio-tools, via `env_stamp`) are already in
/// `gen_dir`.
fn generate_stubs(
    python: &Path,
    gen_dir: &Path,
    proto_dir: &Path,
    protos: &[&str],
    env_stamp: &str,
) {
    let mut contents = Vec::with_capacity(protos.len());
    for proto in protos {
        let path = proto_dir.join(proto);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        contents.push(bytes);
    }
    let stamp_path = gen_dir.join(format!(".protos-{:016x}", hash_of(protos)));
    let stamp = format!("{:016x}\n", hash_of((env_stamp, &contents)));
    if fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        return;
    }
    fs::create_dir_all(gen_dir).unwrap_or_else(|e| panic!("create {}: {e}", gen_dir.display()));

    // wrappers.proto and friends ship inside grpcio-tools.
    let mut find = Command::new(python);
    find.args([
        "-c",
        "import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), '_proto'))",
    ]);
    let found = run("locate grpc_tools/_proto", find, None, STEP_TIMEOUT);
    assert!(found.status.success(), "{}", found.describe());
    let well_known = found.stdout.trim();

    let mut protoc = Command::new(python);
    protoc
        .args(["-m", "grpc_tools.protoc"])
        .arg(format!("-I{}", proto_dir.display()))
        .arg(format!("-I{well_known}"))
        .arg(format!("--python_out={}", gen_dir.display()))
        .arg(format!("--grpc_python_out={}", gen_dir.display()));
    for proto in protos {
        protoc.arg(proto_dir.join(proto));
    }
    let out = run("grpc_tools.protoc", protoc, None, STEP_TIMEOUT);
    assert!(
        out.status.success(),
        "generating Python stubs for {protos:?} failed:\n{}",
        out.describe()
    );
    fs::write(&stamp_path, stamp).unwrap_or_else(|e| panic!("write {}: {e}", stamp_path.display()));
}

/// Bytes read from a child's pipe so far (at most [`CAPTURE_LIMIT_BYTES`]).
type Captured = Arc<Mutex<Vec<u8>>>;

/// Reads `pipe` to end of file on a thread, keeping the first [`CAPTURE_LIMIT_BYTES`].
fn drain(mut pipe: impl Read + Send + 'static, into: Captured) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let mut buf = into.lock().unwrap_or_else(|p| p.into_inner());
                    let room = CAPTURE_LIMIT_BYTES.saturating_sub(buf.len());
                    buf.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    })
}

fn text(captured: &Captured) -> String {
    String::from_utf8_lossy(&captured.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// Waits up to [`DRAIN_TIMEOUT`] for reader threads (a grandchild holding the pipe open
/// must not hang the test; its output is then simply cut short).
fn join_drains(handles: Vec<JoinHandle<()>>) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    for handle in handles {
        while !handle.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        if handle.is_finished() {
            let _ = handle.join();
        }
    }
}

/// What a finished command did.
#[derive(Debug)]
pub struct RunOutput {
    /// What ran, for messages.
    pub name: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout (lossy UTF-8).
    pub stdout: String,
    /// Its stderr (lossy UTF-8).
    pub stderr: String,
}

impl RunOutput {
    /// Status and both streams, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "{} exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.name, self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion, feeding it `stdin` (or nothing), killing it and panicking
/// after `timeout`.
pub fn run(name: &str, mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> RunOutput {
    isolate_order_store(&mut cmd);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
    let stdout = Captured::default();
    let stderr = Captured::default();
    let mut handles = vec![
        drain(take(&mut child.stdout, name), stdout.clone()),
        drain(take(&mut child.stderr, name), stderr.clone()),
    ];
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_vec();
        // Its own thread: a child that stops reading must not block us past the deadline.
        handles.push(thread::spawn(move || {
            let _ = pipe.write_all(&input);
        }));
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                join_drains(handles);
                panic!(
                    "{name}: still running after {timeout:?}, killed\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    text(&stdout),
                    text(&stderr)
                );
            }
            Err(e) => panic!("{name}: wait: {e}"),
        }
    };
    join_drains(handles);
    RunOutput {
        name: name.to_owned(),
        status,
        stdout: text(&stdout),
        stderr: text(&stderr),
    }
}

fn take<T>(pipe: &mut Option<T>, name: &str) -> T {
    pipe.take()
        .unwrap_or_else(|| panic!("{name}: pipe was not set up"))
}

/// An order-server started by a test keeps its orders in memory (`H2GRPC_STORE=memory`),
/// unless the test set `H2GRPC_STORE` itself: otherwise every test would share the
/// default data directory (order-server's module doc). Store flags still win.
fn isolate_order_store(cmd: &mut Command) {
    if !cmd.get_envs().any(|(key, _)| key == "H2GRPC_STORE") {
        cmd.env("H2GRPC_STORE", "memory");
    }
}

/// A running child process, killed (SIGKILL) and reaped when dropped. Its stdout (after
/// the first line) and stderr are drained continuously so it never blocks on a full pipe.
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Child,
    stdout: Captured,
    stderr: Captured,
    drains: Vec<JoinHandle<()>>,
}

impl ChildGuard {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Stderr captured so far.
    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }

    /// Stdout after the first line, captured so far.
    pub fn stdout(&self) -> String {
        text(&self.stdout)
    }

    /// Waits (polling) up to `timeout` for the child to exit; its status, or `None` if it
    /// is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => return None,
                Err(e) => panic!("{}: wait: {e}", self.name),
            }
        }
    }

    /// Kills the child and returns everything it wrote (stdout after the first line,
    /// stderr), for a failing test's message.
    pub fn kill_and_collect(&mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        join_drains(std::mem::take(&mut self.drains));
        (text(&self.stdout), text(&self.stderr))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` and waits up to `timeout` for its first stdout line, which it returns
/// (without the line ending) with the guard. Panics with the child's stderr if the line
/// does not come or the child exits first.
pub fn spawn_first_line(name: &str, mut cmd: Command, timeout: Duration) -> (ChildGuard, String) {
    isolate_order_store(&mut cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
    let stdout_pipe = take(&mut child.stdout, name);
    let stderr = Captured::default();
    let stdout = Captured::default();
    let stderr_drain = drain(take(&mut child.stderr, name), stderr.clone());

    let (first_line_tx, first_line_rx) = mpsc::channel();
    let rest = stdout.clone();
    let stdout_drain = thread::spawn(move || {
        let mut reader = BufReader::new(stdout_pipe);
        let mut line = String::new();
        if matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
            let _ = first_line_tx.send(line.trim_end_matches(['\r', '\n']).to_owned());
            drain(reader, rest).join().ok();
        }
        // Dropping the sender without sending tells the waiter stdout closed first.
    });

    let mut guard = ChildGuard {
        name: name.to_owned(),
        child,
        stdout,
        stderr,
        drains: vec![stdout_drain, stderr_drain],
    };
    match first_line_rx.recv_timeout(timeout) {
        Ok(line) => (guard, line),
        Err(err) => {
            let why = match err {
                mpsc::RecvTimeoutError::Timeout => format!("no stdout line within {timeout:?}"),
                mpsc::RecvTimeoutError::Disconnected => "stdout closed before a line".to_owned(),
            };
            let exited = guard.child.try_wait().ok().flatten();
            let (_, stderr) = guard.kill_and_collect();
            panic!(
                "{}: {why} (exit status: {exited:?})\n--- stderr ---\n{stderr}",
                guard.name
            );
        }
    }
}

/// Spawns a server that prints `... listening on HOST:PORT` as its first stdout line
/// (our `order-server`, tests/python/order_server.py) and returns the guard and HOST:PORT.
pub fn spawn_server(name: &str, cmd: Command) -> (ChildGuard, String) {
    let (guard, line) = spawn_first_line(name, cmd, LISTEN_TIMEOUT);
    let addr = match line.split_once(" listening on ") {
        Some((_, addr)) if !addr.trim().is_empty() => addr.trim().to_owned(),
        _ => panic!("{name}: first line {line:?} is not `... listening on HOST:PORT`"),
    };
    (guard, addr)
}

/// The version `package` is pinned to in tests/python/requirements.txt (`name==version`),
/// for the interop matrix; "?" if it is not pinned there.
pub fn pinned_version(package: &str) -> String {
    let path = scripts_dir().join("requirements.txt");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter_map(|line| line.split_once("=="))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case(package))
        .map(|(_, version)| version.trim().to_owned())
        .unwrap_or_else(|| "?".to_owned())
}
