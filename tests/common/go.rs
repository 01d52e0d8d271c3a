//! The grpc-go peer: grpc-go's own interop server and client
//! (`google.golang.org/grpc/interop/{server,client}`), built from Debian packages on first
//! use.
//!
//! Layer: test harness only. Like the Python and Node peers, nothing is installed by hand:
//! on a Debian machine (CI: bookworm, as root) `cargo test` installs what it needs from
//! the Debian archive and builds the two binaries offline, in GOPATH mode:
//!
//! 1. `apt-get update`, then `apt-get install --no-install-recommends --no-upgrade` of
//!    whichever of [`SYSTEM_PACKAGES`] are missing (the Go 1.19 toolchain, grpc-go 1.33.3
//!    and its Go dependencies under /usr/share/gocode; `dpkg-dev` and `xz-utils` for
//!    unpacking the source package). Nothing is upgraded; /etc/apt is not touched.
//! 2. Debian's `golang-google-grpc-dev` leaves out `interop/`, so the source package of
//!    exactly the installed version is fetched with `apt-get source --download-only`
//!    through a private deb-src list (`go/apt/`, passed with `-o Dir::Etc::SourceList=…`
//!    `-o Dir::State::Lists=…`: the machine's lists stay as they are) and unpacked with
//!    `dpkg-source -x`.
//! 3. grpc-go 1.33.3's `interop/grpc_testing/test.pb.go` is protobuf APIv2 code; the
//!    installed `golang-github-golang-protobuf-1-3-dev` is too old for it, and the newer
//!    packages ([`PROTOBUF_DEBS`]) conflict with it. So they are only `apt-get download`ed
//!    and `dpkg -x`ed, into a private GOPATH entry that comes first.
//! 4. `GO111MODULE=off GOPROXY=off CGO_ENABLED=0 go build` of the server and the client,
//!    with `GOPATH=<go/gopath>:/usr/share/gocode`: no module proxy, no network.
//!
//! ```text
//! <CARGO_TARGET_TMPDIR>/            (target/tmp)
//! ├── go.lock             flock: one builder at a time, across test binaries and threads
//! └── go/
//!     ├── ready           stamp: hash of the recipe, then the grpc-go version built
//!     ├── apt/            the private deb-src list and its indexes
//!     ├── src/            the source package (.dsc, .orig.tar.xz, .debian.tar.xz)
//!     ├── debs/           the protobuf debs, and extract/ (their `dpkg -x`)
//!     ├── gopath/src/     google.golang.org/grpc (the source package),
//!     │                   google.golang.org/protobuf, github.com/golang/protobuf
//!     ├── gocache/        GOCACHE
//!     ├── logs/           each server's output, by port
//!     └── bin/            interop-server, interop-client
//! ```
//!
//! 35-45 s cold on 2 cores (apt ~15 s with its update, sources ~2 s, `go build` 15-30 s),
//! milliseconds once the stamp is in place. Every external command has a deadline; any failure panics with the
//! command's output (no silent skip: a test that needs grpc-go fails without it).
//!
//! The go server has no host flag and prints nothing: it listens on every interface
//! (`:PORT`), on a port [`GoPeer::spawn_server`] picks by binding 127.0.0.1:0 and releasing
//! it, and is ready once `/proc` shows the process holding a listening socket on that port
//! (exact, so a port taken meanwhile by someone else is never mistaken for it: the server
//! then exits and another port is tried). Tests connect to 127.0.0.1 only. The go client
//! runs one case per process (no `all`), prints nothing on success and exits non-zero on
//! failure.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::python::{LISTEN_TIMEOUT, RunOutput, hash_of, lock_exclusive, run};

/// Installed with apt when missing (`--no-upgrade`: present ones are left as they are).
pub const SYSTEM_PACKAGES: &[&str] = &[
    "golang-go",
    "golang-google-grpc-dev",
    "dpkg-dev",
    "xz-utils",
];
/// Downloaded and unpacked into the private GOPATH entry, not installed: protobuf APIv2 and
/// golang/protobuf 1.5 (they conflict with the 1.3 that golang-google-grpc-dev depends on).
pub const PROTOBUF_DEBS: &[&str] = &[
    "golang-google-protobuf-dev",
    "golang-github-golang-protobuf-1-5-dev",
];
/// The Debian binary package whose source package carries `interop/`.
const GRPC_DEV: &str = "golang-google-grpc-dev";
/// The Go import paths built, and the names they get under `bin/`.
const BINARIES: &[(&str, &str)] = &[
    ("google.golang.org/grpc/interop/server", "interop-server"),
    ("google.golang.org/grpc/interop/client", "interop-client"),
];
/// Where the deb-src lines point (the Debian archive).
const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";
const DEBIAN_SECURITY_MIRROR: &str = "http://deb.debian.org/debian-security";
const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// Bumped whenever the steps change, so an old build is redone.
const RECIPE_VERSION: u32 = 1;

/// `apt-get update` of the machine's lists or of the private deb-src list.
const APT_UPDATE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// `apt-get install`: ~91 MB of debs when nothing is there yet.
const APT_INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// `apt-get source` / `apt-get download`: under 2 MB.
const APT_FETCH_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long apt waits for the dpkg lock another apt holds, in seconds.
const DPKG_LOCK_WAIT_SECS: u32 = 300;
/// `go build` of one binary: ~20 s cold on 2 cores.
const GO_BUILD_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// dpkg-query, dpkg -x, dpkg-source -x: seconds.
const STEP_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// Waiting for another process's build: longer than one build may take.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(40 * 60);
/// Ports tried before giving up when the picked one was taken before the server bound it.
const SPAWN_ATTEMPTS: usize = 5;

/// The built grpc-go interop binaries.
#[derive(Debug, Clone)]
pub struct GoPeer {
    server: PathBuf,
    client: PathBuf,
    logs: PathBuf,
    version: String,
}

impl GoPeer {
    /// The upstream grpc-go version built ("1.33.3").
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The go interop client running one `case` against `host:port`, plaintext.
    pub fn client(&self, host: &str, port: &str, case: &str) -> Command {
        let mut cmd = Command::new(&self.client);
        cmd.arg(format!("--server_host={host}"))
            .arg(format!("--server_port={port}"))
            .arg(format!("--test_case={case}"));
        cmd
    }

    /// Starts the go interop server on a free port and waits (at most
    /// [`LISTEN_TIMEOUT`]) until it listens there. Panics with its output if it cannot.
    pub fn spawn_server(&self) -> GoServer {
        fs::create_dir_all(&self.logs)
            .unwrap_or_else(|e| panic!("create {}: {e}", self.logs.display()));
        let mut taken = Vec::new();
        for _ in 0..SPAWN_ATTEMPTS {
            let port = free_port();
            let log = self.logs.join(format!("interop-server-{port}.log"));
            let out =
                File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
            let err = out
                .try_clone()
                .unwrap_or_else(|e| panic!("dup {}: {e}", log.display()));
            let child = Command::new(&self.server)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.server.display()));
            let mut server = GoServer { child, port, log };
            match server.wait_listening(LISTEN_TIMEOUT) {
                Ok(()) => return server,
                Err(Exited(status)) => {
                    let text = server.log();
                    if !text.contains("address already in use") {
                        panic!(
                            "grpc-go interop-server --port={port} exited with {status} before \
                             listening:\n{text}"
                        );
                    }
                    taken.push(port);
                }
            }
        }
        panic!("grpc-go interop-server: ports {taken:?} were all taken before it could bind them");
    }
}

/// A running go interop server, killed and reaped when dropped; its output goes to a log
/// file, printed to stderr when the guard drops during a panic (so a failing test shows
/// it) and removed otherwise.
#[derive(Debug)]
pub struct GoServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// The server exited (with this status) before it listened.
struct Exited(std::process::ExitStatus);

impl GoServer {
    /// The port it listens on (all interfaces).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, where tests connect.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Everything it wrote so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }

    /// Polls `/proc` until this process holds a listening TCP socket on [`Self::port`];
    /// panics after `timeout`.
    fn wait_listening(&mut self, timeout: Duration) -> Result<(), Exited> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Err(Exited(status)),
                Ok(None) => {}
                Err(e) => panic!("grpc-go interop-server: wait: {e}"),
            }
            if listens_on(self.child.id(), self.port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                panic!(
                    "grpc-go interop-server --port={} not listening after {timeout:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- grpc-go interop-server on port {} ---\n{}",
                self.port,
                self.log()
            );
        } else {
            let _ = fs::remove_file(&self.log);
        }
    }
}

/// A port free on 127.0.0.1 a moment ago (bound to 0, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local_addr of a bound listener")
        .port()
}

/// Whether process `pid` holds a socket in LISTEN state on TCP `port` (IPv4 or IPv6).
pub fn listens_on(pid: u32, port: u16) -> bool {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let listening = *state == "0A";
            let on_port = local
                .rsplit_once(':')
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok())
                == Some(port);
            if listening && on_port {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| inodes.iter().any(|i| Path::new(i) == target))
    })
}

/// The built peer: builds it on first use (under a lock; see the module doc), later calls
/// only read the stamp. Panics with the failing step's output if anything cannot be
/// installed or built.
pub fn go_peer() -> GoPeer {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let root = tmp.join("go");
    fs::create_dir_all(tmp).unwrap_or_else(|e| panic!("create {}: {e}", tmp.display()));
    let _lock = lock_exclusive(&tmp.join("go.lock"), LOCK_TIMEOUT);

    let bin = root.join("bin");
    let peer = |version: String| GoPeer {
        server: bin.join("interop-server"),
        client: bin.join("interop-client"),
        logs: root.join("logs"),
        version,
    };
    let recipe = format!("recipe {:016x}\n", hash_of(recipe()));
    let ready_path = root.join("ready");
    if let Ok(stamp) = fs::read_to_string(&ready_path)
        && let Some(version) = stamp.strip_prefix(recipe.as_str())
    {
        let built = peer(version.trim().to_owned());
        if built.server.is_file() && built.client.is_file() && !built.version.is_empty() {
            return built;
        }
    }

    let started = Instant::now();
    let version = build(&root);
    fs::write(&ready_path, format!("{recipe}{version}\n"))
        .unwrap_or_else(|e| panic!("write {}: {e}", ready_path.display()));
    eprintln!(
        "go peer: built grpc-go {version} interop server and client into {} in {:.1?}",
        bin.display(),
        started.elapsed()
    );
    peer(version)
}

/// What the stamp covers: every input of the recipe that is not on the machine.
fn recipe() -> String {
    format!("{RECIPE_VERSION} {SYSTEM_PACKAGES:?} {PROTOBUF_DEBS:?} {BINARIES:?}")
}

/// Every step of the module doc, from scratch (GOCACHE kept); returns the upstream grpc-go
/// version built.
fn build(root: &Path) -> String {
    let codename = debian_codename();
    for dir in ["apt", "src", "debs", "gopath", "bin", "logs"] {
        let path = root.join(dir);
        if path.exists() {
            fs::remove_dir_all(&path).unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
        }
    }

    // 1. System packages.
    let step = Instant::now();
    let missing: Vec<&str> = SYSTEM_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .collect();
    if !missing.is_empty() {
        let mut update = apt_get();
        update.args(["update", "-q"]);
        must(
            "apt-get update",
            update,
            APT_UPDATE_TIMEOUT,
            "the grpc-go peer needs root for apt (CI runs as root) and deb.debian.org",
        );
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
        must(
            "apt-get install",
            install,
            APT_INSTALL_TIMEOUT,
            "the grpc-go peer installs these Debian packages itself (root needed)",
        );
        for package in &missing {
            assert!(
                installed(package),
                "apt-get install succeeded but {package} is not installed"
            );
        }
    }
    let apt_time = step.elapsed();

    // 2. The source package of the installed grpc-go, through a private deb-src list.
    let step = Instant::now();
    let (source, source_version) = source_of(GRPC_DEV);
    let upstream = upstream_version(&source_version);
    let apt = root.join("apt");
    let lists = apt.join("lists");
    let parts = apt.join("sources.list.d");
    fs::create_dir_all(lists.join("partial"))
        .unwrap_or_else(|e| panic!("create {}: {e}", lists.display()));
    fs::create_dir_all(&parts).unwrap_or_else(|e| panic!("create {}: {e}", parts.display()));
    let list = apt.join("sources.list");
    let signed = format!("[signed-by={DEBIAN_KEYRING}]");
    let deb_src = format!(
        "deb-src {signed} {DEBIAN_MIRROR} {codename} main\n\
         deb-src {signed} {DEBIAN_MIRROR} {codename}-updates main\n\
         deb-src {signed} {DEBIAN_SECURITY_MIRROR} {codename}-security main\n"
    );
    fs::write(&list, deb_src).unwrap_or_else(|e| panic!("write {}: {e}", list.display()));
    let cache = apt.join("cache");
    fs::create_dir_all(cache.join("archives/partial"))
        .unwrap_or_else(|e| panic!("create {}: {e}", cache.display()));
    // Its own lists and its own caches (pkgcache.bin), so the machine's stay as they are.
    let private = |cmd: &mut Command| {
        as_root(cmd);
        cmd.arg("-o")
            .arg(format!("Dir::Cache={}", cache.display()))
            .arg("-o")
            .arg(format!("Dir::Etc::SourceList={}", list.display()))
            .arg("-o")
            .arg(format!("Dir::Etc::SourceParts={}", parts.display()))
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", lists.display()));
    };
    let mut update = apt_get();
    private(&mut update);
    update.args(["update", "-q"]);
    must(
        "apt-get update (private deb-src list)",
        update,
        APT_UPDATE_TIMEOUT,
        "deb.debian.org reachable?",
    );
    let src = root.join("src");
    fs::create_dir_all(&src).unwrap_or_else(|e| panic!("create {}: {e}", src.display()));
    let mut fetch = apt_get();
    private(&mut fetch);
    fetch
        .args(["source", "-q", "--download-only"])
        .arg(format!("{source}={source_version}"))
        .current_dir(&src);
    must(
        "apt-get source --download-only",
        fetch,
        APT_FETCH_TIMEOUT,
        "the source of the installed golang-google-grpc-dev",
    );
    let dsc = src.join(format!("{source}_{}.dsc", without_epoch(&source_version)));
    let grpc_dir = root.join("gopath/src/google.golang.org/grpc");
    let parent = grpc_dir.parent().expect("a path with a parent");
    fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    let mut unpack = Command::new("dpkg-source");
    unpack.arg("-x").arg(&dsc).arg(&grpc_dir);
    must("dpkg-source -x", unpack, STEP_TIMEOUT, "");
    assert!(
        grpc_dir.join("interop/server/server.go").is_file(),
        "{} has no interop/server/server.go",
        grpc_dir.display()
    );

    // 3. The newer protobuf packages, unpacked only.
    let debs = root.join("debs");
    fs::create_dir_all(&debs).unwrap_or_else(|e| panic!("create {}: {e}", debs.display()));
    let download = || {
        let mut download = apt_get();
        as_root(&mut download);
        download
            .arg("download")
            .args(PROTOBUF_DEBS)
            .current_dir(&debs);
        run("apt-get download", download, None, APT_FETCH_TIMEOUT)
    };
    let mut out = download();
    if !out.status.success() && missing.is_empty() {
        // The machine's lists may be older than the archive (nothing was installed, so no
        // update ran yet): refresh them once.
        let mut update = apt_get();
        update.args(["update", "-q"]);
        must("apt-get update", update, APT_UPDATE_TIMEOUT, "");
        out = download();
    }
    check(&out, "the protobuf -dev debs, downloaded only");
    let extract = debs.join("extract");
    let mut deb_files: Vec<PathBuf> = fs::read_dir(&debs)
        .unwrap_or_else(|e| panic!("read {}: {e}", debs.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    deb_files.sort();
    assert_eq!(
        deb_files.len(),
        PROTOBUF_DEBS.len(),
        "apt-get download left {deb_files:?} in {}:\n{}",
        debs.display(),
        out.describe()
    );
    for deb in &deb_files {
        let mut x = Command::new("dpkg");
        x.arg("-x").arg(deb).arg(&extract);
        must("dpkg -x", x, STEP_TIMEOUT, "");
    }
    let gocode = extract.join("usr/share/gocode/src");
    for package in ["github.com/golang/protobuf", "google.golang.org/protobuf"] {
        let from = gocode.join(package);
        let to = root.join("gopath/src").join(package);
        let parent = to.parent().expect("a path with a parent");
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        fs::rename(&from, &to)
            .unwrap_or_else(|e| panic!("move {} to {}: {e}", from.display(), to.display()));
    }
    let fetch_time = step.elapsed();

    // 4. The offline GOPATH build.
    let step = Instant::now();
    let gopath = std::env::join_paths([root.join("gopath"), PathBuf::from("/usr/share/gocode")])
        .expect("paths without a separator");
    for (package, name) in BINARIES {
        let mut go = Command::new("/usr/lib/go/bin/go");
        go.args(["build", "-o"])
            .arg(root.join("bin").join(name))
            .arg(package)
            .env("GO111MODULE", "off")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("GOENV", "off")
            .env("CGO_ENABLED", "0")
            .env("GOPATH", &gopath)
            .env("GOCACHE", root.join("gocache"))
            .current_dir(root);
        must(&format!("go build {package}"), go, GO_BUILD_TIMEOUT, "");
    }
    eprintln!(
        "go peer: grpc-go {upstream} ({source} {source_version}, Debian {codename}): \
         apt install {apt_time:.1?}, sources {fetch_time:.1?}, go build {:.1?}",
        step.elapsed()
    );
    upstream
}

/// `apt-get` as every step here runs it: non-interactive, waiting for a dpkg lock another
/// apt holds.
fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .arg("-o")
        .arg(format!("DPkg::Lock::Timeout={DPKG_LOCK_WAIT_SECS}"));
    cmd
}

/// For an apt-get that downloads into our own directories: no `_apt` sandbox user (it
/// cannot write under target/; apt only switches users when it runs as root anyway).
fn as_root(cmd: &mut Command) {
    cmd.args(["-o", "APT::Sandbox::User=root"]);
}

/// Runs `cmd` and panics with its output (and `hint`) unless it succeeds.
fn must(name: &str, cmd: Command, timeout: Duration, hint: &str) -> RunOutput {
    let out = run(name, cmd, None, timeout);
    check(&out, hint);
    out
}

fn check(out: &RunOutput, hint: &str) {
    assert!(
        out.status.success(),
        "building the grpc-go peer failed at `{}`{}:\n{}",
        out.name,
        if hint.is_empty() {
            String::new()
        } else {
            format!(" ({hint})")
        },
        out.describe()
    );
}

/// `dpkg-query -W -f=FORMAT package`: its output, or None if dpkg knows no such package.
fn dpkg_query(package: &str, format: &str) -> Option<String> {
    let mut query = Command::new("dpkg-query");
    query.args(["-W", &format!("-f={format}"), package]);
    let out = run("dpkg-query", query, None, STEP_TIMEOUT);
    out.status.success().then_some(out.stdout)
}

fn installed(package: &str) -> bool {
    dpkg_query(package, "${db:Status-Abbrev}").is_some_and(|s| s.starts_with("ii"))
}

/// The source package and version of an installed binary package.
fn source_of(package: &str) -> (String, String) {
    let Some(line) = dpkg_query(package, "${source:Package}\t${source:Version}") else {
        panic!("dpkg-query: {package} is not known to dpkg after apt-get install");
    };
    match line.trim().split_once('\t') {
        Some((name, version)) if !name.is_empty() && !version.is_empty() => {
            (name.to_owned(), version.to_owned())
        }
        _ => panic!("dpkg-query: cannot read the source of {package}: {line:?}"),
    }
}

/// `[epoch:]upstream[-revision]` without the epoch (as in source file names).
fn without_epoch(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, rest)| rest)
}

/// `[epoch:]upstream[-revision]` -> upstream ("1.33.3-2" -> "1.33.3").
fn upstream_version(version: &str) -> String {
    let version = without_epoch(version);
    version
        .rsplit_once('-')
        .map_or(version, |(upstream, _)| upstream)
        .to_owned()
}

/// `VERSION_CODENAME` from /etc/os-release; panics on a machine that is not Debian (the
/// recipe installs Debian packages; CI runs bookworm).
fn debian_codename() -> String {
    let text = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    let id = field("ID");
    let codename = field("VERSION_CODENAME");
    assert!(
        id == "debian" && !codename.is_empty(),
        "the grpc-go peer is built from Debian packages (CI: Debian 12 bookworm); this machine's \
         /etc/os-release says ID={id:?} VERSION_CODENAME={codename:?}"
    );
    codename
}
