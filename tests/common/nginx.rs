//! Debian's `nginx` as a gRPC reverse proxy in front of a fleet of backends
//! (`grpc_pass` to an `upstream`), run from a temporary prefix on 127.0.0.1.
//!
//! Layer: test harness only. Like the other peers nothing is installed by hand; on a
//! Debian machine (CI: bookworm, as root) the first use fetches Debian's `nginx` package
//! (1.22.1 on bookworm: the binary; `ngx_http_grpc_module` and HTTP/2 are built in, which
//! [`nginx_binary`] checks with `nginx -V`):
//!
//! 1. An installed `/usr/sbin/nginx` with the gRPC module is used as it is.
//! 2. Otherwise `apt-get download nginx` and `dpkg -x` into `target/tmp/nginx/root`. Not
//!    `apt-get install`: its postinst starts the system's nginx service, listening on
//!    port 80 of every interface, wherever no `policy-rc.d` forbids it; an unpacked
//!    binary changes nothing on the machine and only ever listens where our config says.
//!    Its shared libraries (`Depends:` of the deb, minus `nginx-common`, whose files a
//!    config of our own does not need, and `iproute2`, used only by the service scripts)
//!    are installed with `apt-get install --no-upgrade` if missing: they start nothing.
//!
//! ```text
//! <CARGO_TARGET_TMPDIR>/            (target/tmp)
//! ├── nginx.lock          flock: one installer at a time
//! └── nginx/
//!     ├── ready           stamp: recipe hash, then the `nginx -v` line
//!     ├── debs/           the downloaded nginx_*.deb
//!     ├── root/           its `dpkg -x` (root/usr/sbin/nginx)
//!     └── run-<pid>-<n>/  one running proxy: nginx.conf, error.log, access.log, temp/
//! ```
//!
//! Each [`Nginx`] runs `nginx -p DIR -e DIR/error.log -c DIR/nginx.conf` with `daemon off`
//! and `master_process off` (one process, so a kill on drop leaves no worker behind),
//! every path (pid, lock, logs, temp) inside its directory. nginx refuses `listen ...:0`,
//! so the port is one found free a moment before; a port taken meanwhile makes nginx
//! exit with `bind() ... failed`, and another is tried. It is ready once `/proc` shows it
//! holding a listening socket on that port.
//!
//! # The proxy config, and what nginx may retry
//!
//! nginx's gRPC proxy opens one upstream HTTP/2 connection per call (it does not
//! multiplex), kept for reuse with `keepalive`. Which failed calls may it pass to the
//! next backend (`grpc_next_upstream`) without running a call twice? Only those the
//! backend cannot have seen. Every gRPC call is a POST, and nginx never passes a POST on
//! once its request was sent upstream unless told `non_idempotent` (ngx_http_upstream
//! `ngx_http_upstream_next`); and a body the gRPC module streams through unbuffered (it
//! asks for `request_body_no_buffering`, so bidi calls work) is not resent even then.
//! So `grpc_next_upstream error timeout` (nginx's default, written out) retries exactly a
//! refused or timed-out *connect*: the call was never sent, trying the next backend is
//! safe. A backend that dies with a call on it gives that call `502` (grpc-status-less),
//! which gRPC clients map to `UNAVAILABLE` (doc/http-grpc-status-mapping.md); retrying
//! that, if the call is idempotent, is the client's decision (gRFC A6), not the proxy's.
//! `http_502`/`http_503`/… are not listed: a backend's own HTTP error answers are final,
//! and `non_idempotent` is never set. `max_fails=1 fail_timeout=1s`: a backend that
//! refused a connect is skipped for a second, then tried again (a rolling restart brings
//! it back quickly).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::go::{free_port, listens_on};
use super::python::{LISTEN_TIMEOUT, RunOutput, hash_of, lock_exclusive, run};

/// The Debian package holding the nginx binary (bookworm and later).
const PACKAGE: &str = "nginx";
/// Dependencies of the binary package that the unpacked binary does not need.
const UNNEEDED_DEPENDS: &[&str] = &["nginx-common", "iproute2"];
/// An nginx already on the machine.
const SYSTEM_NGINX: &str = "/usr/sbin/nginx";
/// Bumped whenever the steps change, so an old unpack is redone.
const RECIPE_VERSION: u32 = 1;
/// Waiting for another test's install.
const LOCK_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// `apt-get update`, when the machine's lists do not know the package yet.
const APT_UPDATE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// `apt-get download` (~0.5 MB) or `install` of a few libraries.
const APT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long apt waits for the dpkg lock another apt holds, in seconds.
const DPKG_LOCK_WAIT_SECS: u32 = 300;
/// dpkg-deb, dpkg -x, nginx -V: seconds at most.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Ports tried before giving up when the picked one was taken before nginx bound it.
const SPAWN_ATTEMPTS: usize = 5;
/// Idle upstream connections nginx keeps per worker (more than the tests' concurrency).
const UPSTREAM_KEEPALIVE: usize = 64;

/// Names each run directory apart within one test binary.
static RUNS: AtomicUsize = AtomicUsize::new(0);

/// A ready nginx binary with the gRPC proxy module.
#[derive(Debug, Clone)]
pub struct NginxBinary {
    path: PathBuf,
    /// `nginx version: nginx/1.22.1`, for messages.
    version: String,
}

impl NginxBinary {
    /// The `nginx -v` line.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Starts nginx on a free 127.0.0.1 port, proxying every gRPC call to `backends`
    /// (round robin); waits until it listens. Panics with its error log if it cannot.
    pub fn start(&self, backends: &[SocketAddr]) -> Nginx {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let dir = tmp
            .join("nginx")
            .join(format!("run-{}-{run}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
        fs::create_dir_all(dir.join("temp"))
            .unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let mut taken = Vec::new();
        for _ in 0..SPAWN_ATTEMPTS {
            let port = free_port();
            let conf = dir.join("nginx.conf");
            fs::write(&conf, config(&dir, port, backends))
                .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
            let error_log = dir.join("error.log");
            let child = Command::new(&self.path)
                .arg("-p")
                .arg(&dir)
                .arg("-e")
                .arg(&error_log)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.path.display()));
            let mut nginx = Nginx {
                child,
                port,
                dir: dir.clone(),
            };
            match nginx.wait_listening() {
                Ok(()) => return nginx,
                Err(_) if nginx.error_log().contains("Address already in use") => taken.push(port),
                Err(status) => panic!(
                    "nginx exited with {status} before listening on 127.0.0.1:{port}:\n{}",
                    nginx.error_log()
                ),
            }
        }
        panic!("nginx: ports {taken:?} were all taken before it could bind them");
    }
}

/// The `nginx.conf` of one proxy: see the module doc for the upstream choices.
fn config(dir: &Path, port: u16, backends: &[SocketAddr]) -> String {
    let d = dir.display();
    let mut servers = String::new();
    for backend in backends {
        let _ = writeln!(
            servers,
            "        server {backend} max_fails=1 fail_timeout=1s;"
        );
    }
    format!(
        r#"# Written by tests/common/nginx.rs; every path inside {d}.
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
lock_file {d}/nginx.lock;
error_log {d}/error.log info;
events {{
    worker_connections 1024;
}}
http {{
    # One line per call: which backends nginx tried, and what each answered.
    log_format grpc '$status "$request" upstream=[$upstream_addr] '
                    'upstream_status=[$upstream_status] grpc_status=$sent_trailer_grpc_status';
    access_log {d}/access.log grpc;
    client_body_temp_path {d}/temp/body;
    proxy_temp_path {d}/temp/proxy;
    fastcgi_temp_path {d}/temp/fastcgi;
    uwsgi_temp_path {d}/temp/uwsgi;
    scgi_temp_path {d}/temp/scgi;
    upstream backends {{
{servers}        keepalive {UPSTREAM_KEEPALIVE};
    }}
    server {{
        # nginx 1.22: HTTP/2 is a `listen` parameter (`http2 on;` came in 1.25.1).
        listen 127.0.0.1:{port} http2;
        location / {{
            grpc_pass grpc://backends;
            # Only a connect that failed or timed out goes to the next backend: the call
            # was never sent (module doc).
            grpc_next_upstream error timeout;
            grpc_next_upstream_tries 3;
            grpc_connect_timeout 2s;
            grpc_read_timeout 30s;
            grpc_send_timeout 30s;
        }}
    }}
}}
"#
    )
}

/// A running nginx, killed and reaped when dropped; its error log is printed to stderr
/// when it drops during a panic.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    /// `127.0.0.1:PORT`, where clients connect (plaintext HTTP/2).
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Everything in its error log so far.
    pub fn error_log(&self) -> String {
        read_or_note(&self.dir.join("error.log"))
    }

    /// Its access log so far: one line per call (`log_format grpc` in [`config`]).
    pub fn access_log(&self) -> String {
        read_or_note(&self.dir.join("access.log"))
    }

    /// Polls until nginx listens on its port ([`LISTEN_TIMEOUT`]); `Err` with the exit
    /// status if it exits first.
    fn wait_listening(&mut self) -> Result<(), std::process::ExitStatus> {
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Err(status),
                Ok(None) => {}
                Err(e) => panic!("nginx: wait: {e}"),
            }
            if listens_on(self.child.id(), self.port) {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "nginx not listening on 127.0.0.1:{} after {LISTEN_TIMEOUT:?}:\n{}",
                self.port,
                self.error_log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- nginx error log ({}) ---\n{}",
                self.dir.display(),
                self.error_log()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn read_or_note(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// nginx with the gRPC module: the machine's, or Debian's unpacked under `target/tmp`
/// (module doc). Panics with the failing step's output if it cannot be had.
pub fn nginx_binary() -> NginxBinary {
    if Path::new(SYSTEM_NGINX).is_file()
        && let Some(version) = grpc_capable(Path::new(SYSTEM_NGINX))
    {
        return NginxBinary {
            path: SYSTEM_NGINX.into(),
            version,
        };
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let root = tmp.join("nginx");
    fs::create_dir_all(&root).unwrap_or_else(|e| panic!("create {}: {e}", root.display()));
    let _lock: File = lock_exclusive(&tmp.join("nginx.lock"), LOCK_TIMEOUT);
    let path = root.join("root/usr/sbin/nginx");
    let recipe = format!(
        "recipe {:016x}\n",
        hash_of((RECIPE_VERSION, PACKAGE, UNNEEDED_DEPENDS))
    );
    let ready = root.join("ready");
    if let Ok(stamp) = fs::read_to_string(&ready)
        && let Some(version) = stamp.strip_prefix(recipe.as_str())
        && path.is_file()
    {
        return NginxBinary {
            path,
            version: version.trim().to_owned(),
        };
    }
    let started = Instant::now();
    unpack(&root);
    let version = grpc_capable(&path).unwrap_or_else(|| {
        panic!(
            "Debian's {PACKAGE} at {} has no gRPC proxy module or no HTTP/2:\n{}",
            path.display(),
            nginx_v(&path).describe()
        )
    });
    fs::write(&ready, format!("{recipe}{version}\n"))
        .unwrap_or_else(|e| panic!("write {}: {e}", ready.display()));
    eprintln!(
        "nginx: unpacked {version} into {} in {:.1?}",
        path.display(),
        started.elapsed()
    );
    NginxBinary { path, version }
}

/// `nginx -V` (it prints to stderr).
fn nginx_v(path: &Path) -> RunOutput {
    let mut cmd = Command::new(path);
    cmd.arg("-V");
    run("nginx -V", cmd, None, STEP_TIMEOUT)
}

/// The `nginx -v` line if `path` runs and was built with HTTP/2 and the gRPC module
/// (built by default; a build without it says `--without-http_grpc_module`).
fn grpc_capable(path: &Path) -> Option<String> {
    let out = nginx_v(path);
    let text = out.stderr;
    let ok = out.status.success()
        && text.contains("--with-http_v2_module")
        && !text.contains("--without-http_grpc_module");
    ok.then(|| text.lines().next().unwrap_or_default().trim().to_owned())
}

/// Step 2 of the module doc: download, unpack, install missing libraries.
fn unpack(root: &Path) {
    let debs = root.join("debs");
    let unpacked = root.join("root");
    for dir in [&debs, &unpacked] {
        if dir.exists() {
            fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
    }
    fs::create_dir_all(&debs).unwrap_or_else(|e| panic!("create {}: {e}", debs.display()));
    let download = || {
        let mut cmd = apt_get();
        // apt's `_apt` sandbox user cannot write under target/.
        cmd.args(["-o", "APT::Sandbox::User=root", "download", PACKAGE])
            .current_dir(&debs);
        run("apt-get download nginx", cmd, None, APT_TIMEOUT)
    };
    let mut out = download();
    if !out.status.success() {
        // The machine's package lists may be missing or older than the archive.
        let mut update = apt_get();
        update.args(["update", "-q"]);
        must(update, APT_UPDATE_TIMEOUT);
        out = download();
    }
    check(&out);
    let deb = fs::read_dir(&debs)
        .unwrap_or_else(|e| panic!("read {}: {e}", debs.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .unwrap_or_else(|| panic!("apt-get download left no .deb:\n{}", out.describe()));

    let mut field = Command::new("dpkg-deb");
    field.arg("-f").arg(&deb).arg("Depends");
    let depends = must(field, STEP_TIMEOUT).stdout;
    let missing: Vec<String> = package_names(&depends)
        .into_iter()
        .filter(|p| !UNNEEDED_DEPENDS.contains(&p.as_str()) && !installed(p))
        .collect();
    if !missing.is_empty() {
        let mut install = apt_get();
        install
            .args([
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "--no-upgrade",
            ])
            .args(&missing);
        must(install, APT_TIMEOUT);
    }

    let mut x = Command::new("dpkg");
    x.arg("-x").arg(&deb).arg(&unpacked);
    must(x, STEP_TIMEOUT);
}

/// The first alternative of each entry of a `Depends:` field, without versions:
/// `libc6 (>= 2.34), a | b, zlib1g` -> `[libc6, a, zlib1g]`.
fn package_names(depends: &str) -> Vec<String> {
    depends
        .split(',')
        .filter_map(|entry| {
            let first = entry.split('|').next()?;
            let name = first.split_whitespace().next()?;
            Some(name.split(':').next().unwrap_or(name).to_owned())
        })
        .collect()
}

/// Whether dpkg has `package` installed.
fn installed(package: &str) -> bool {
    let mut query = Command::new("dpkg-query");
    query.args(["-W", "-f=${db:Status-Abbrev}", package]);
    let out = run("dpkg-query", query, None, STEP_TIMEOUT);
    out.status.success() && out.stdout.starts_with("ii")
}

/// `apt-get` non-interactive, waiting for a dpkg lock another apt holds.
fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .arg("-o")
        .arg(format!("DPkg::Lock::Timeout={DPKG_LOCK_WAIT_SECS}"));
    cmd
}

/// Runs `cmd`, panicking with its output unless it succeeds.
fn must(cmd: Command, timeout: Duration) -> RunOutput {
    let name = format!("{cmd:?}");
    let out = run(&name, cmd, None, timeout);
    check(&out);
    out
}

fn check(out: &RunOutput) {
    assert!(
        out.status.success(),
        "getting Debian's nginx failed (root and deb.debian.org needed):\n{}",
        out.describe()
    );
}
