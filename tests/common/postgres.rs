//! A throwaway PostgreSQL server for the store tests, from Debian's `postgresql` package.
//!
//! Layer: test harness only. [`PgServer::start`] finds `initdb` and `pg_ctl` (on `PATH`,
//! else under `/usr/lib/postgresql/<major>/bin`), installing the package with apt-get if
//! neither is there (under a lock, as the Go peer does; root needed), then:
//!
//! ```text
//! <CARGO_TARGET_TMPDIR>/pg/<name>-<pid>/    owned by the `postgres` user when we are root
//! ├── data/      initdb --auth=trust -U h2grpc
//! ├── log        the server's log, printed when a test fails to start it
//! └── .s.PGSQL.<port>   its Unix socket (unix_socket_directories: here, not /run)
//! ```
//!
//! The server listens on 127.0.0.1 only, on a port picked free just before; it is
//! stopped (`pg_ctl stop -m immediate`) and its directory removed on drop. `initdb`
//! refuses to run as root, so as root every step runs as `postgres` via `runuser`.
//! Where the package cannot be installed, `start` returns the reason and the test
//! prints it and skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::python::{self, lock_exclusive};

/// `apt-get update` plus `install postgresql`: tens of MB on a slow mirror.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// initdb, pg_ctl start/stop: seconds; this only catches a hang.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// The database role tests connect as (trust authentication, loopback only).
pub const USER: &str = "h2grpc";

/// A running PostgreSQL server; stopped and removed on drop.
#[derive(Debug)]
pub struct PgServer {
    /// `pg_ctl`, to stop it.
    pg_ctl: PathBuf,
    /// The temporary directory holding data, log and socket.
    dir: PathBuf,
    /// Where it listens on 127.0.0.1.
    port: u16,
    /// Whether steps run as the `postgres` user (we are root).
    as_postgres: bool,
}

impl PgServer {
    /// Starts a fresh server, or says why PostgreSQL is not available here.
    pub fn start(name: &str) -> Result<PgServer, String> {
        let bin = bin_dir()?;
        let as_postgres = is_root();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("pg")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        if as_postgres {
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres:postgres"]).arg(&dir);
            step("chown", chown)?;
        }
        let data = dir.join("data");
        let mut server = PgServer {
            pg_ctl: bin.join("pg_ctl"),
            dir: dir.clone(),
            port: 0,
            as_postgres,
        };
        let mut initdb = server.command(&bin.join("initdb"));
        initdb
            .args([
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
                "-U",
                USER,
                "-D",
            ])
            .arg(&data);
        step("initdb", initdb)?;
        server.port = free_port()?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}",
            server.port,
            dir.display()
        );
        let mut start = server.command(&server.pg_ctl);
        start
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-o", &options]);
        if let Err(e) = step("pg_ctl start", start) {
            let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
            return Err(format!("{e}\n--- server log ---\n{log}"));
        }
        Ok(server)
    }

    /// `postgres://h2grpc@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &Path) -> Command {
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let mut stop = self.command(&self.pg_ctl);
        stop.args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(self.dir.join("data"));
        let _ = step("pg_ctl stop", stop);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs one step with a deadline; its output on failure.
fn step(name: &str, cmd: Command) -> Result<(), String> {
    let out = python::run(name, cmd, None, STEP_TIMEOUT);
    if out.status.success() {
        Ok(())
    } else {
        Err(out.describe())
    }
}

/// A port nothing listens on right now (the OS's pick, released for the server).
fn free_port() -> Result<u16, String> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}

/// The directory with initdb and pg_ctl, installing `postgresql` if there is none.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = find_bin_dir() {
        return Ok(dir);
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(tmp).map_err(|e| e.to_string())?;
    let _lock = lock_exclusive(&tmp.join("postgres-install.lock"), INSTALL_TIMEOUT);
    if let Some(dir) = find_bin_dir() {
        return Ok(dir);
    }
    for args in [
        &["update", "-q"][..],
        &[
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "postgresql",
        ][..],
    ] {
        let mut apt = Command::new("apt-get");
        apt.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["-o", "DPkg::Lock::Timeout=300"])
            .args(args);
        let out = python::run("apt-get", apt, None, INSTALL_TIMEOUT);
        if !out.status.success() {
            return Err(format!(
                "PostgreSQL is not installed and `apt-get {}` failed (root and a Debian mirror are needed):\n{}",
                args.join(" "),
                out.describe()
            ));
        }
    }
    find_bin_dir().ok_or_else(|| "apt-get installed postgresql but no initdb was found".into())
}

/// `initdb` beside `pg_ctl`: on PATH (resolving a symlink), else the newest Debian major.
fn find_bin_dir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let initdb = dir.join("initdb");
        if let Ok(real) = std::fs::canonicalize(&initdb)
            && let Some(bin) = real.parent()
            && bin.join("pg_ctl").exists()
        {
            return Some(bin.to_path_buf());
        }
    }
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin)
}
