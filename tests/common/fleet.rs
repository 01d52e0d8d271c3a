//! A fleet of `order-server` processes on 127.0.0.1, for issue 18's tests: behind nginx
//! (tests/nginx_fleet.rs) and balanced by our own client (tests/fleet_client.rs).
//!
//! Layer: test harness only. Each [`Backend`] is one `order-server --log-calls` in a
//! directory of its own (also its `XDG_DATA_HOME`, so a store on disk is never shared),
//! kept across a restart on the same port. What a backend served is counted from its
//! `--log-calls` lines on stderr; it is stopped with a real signal (`kill -s SIG`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::python::{self, ChildGuard};

/// One `order-server --log-calls`, in its own directory.
pub struct Backend {
    pub guard: ChildGuard,
    /// `127.0.0.1:PORT` it listens on (kept across a restart).
    pub addr: String,
    pub dir: PathBuf,
    /// The binary and the extra flags it was started with, for [`Backend::restart`].
    program: PathBuf,
    args: Vec<String>,
}

impl Backend {
    /// Starts `program` (the test's `CARGO_BIN_EXE_order-server`) on `addr` (`127.0.0.1:0`
    /// for a free port) in `dir`, with `args` after `--addr ADDR --log-calls`; waits
    /// until it listens.
    pub fn spawn(program: &Path, addr: &str, dir: &Path, args: &[&str]) -> Backend {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let mut cmd = Command::new(program);
        cmd.args(["--addr", addr, "--log-calls"])
            .args(args)
            .current_dir(dir)
            .env("XDG_DATA_HOME", dir)
            .env("RUST_LOG", "info,h2grpc::call=debug");
        let (guard, bound) = python::spawn_server("order-server", cmd);
        Backend {
            guard,
            addr: bound,
            dir: dir.to_owned(),
            program: program.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// The same server again, on the same port and in the same directory (the old
    /// process must be gone). Its [`Backend::served`] count starts from zero.
    pub fn restart(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        *self = Backend::spawn(&self.program.clone(), &self.addr.clone(), &self.dir, &args);
    }

    /// OrderManagement calls this process has finished (its `--log-calls` lines).
    pub fn served(&self) -> usize {
        count_lines(&self.guard.stderr(), |l| {
            l.contains("call finished") && l.contains("ecommerce.OrderManagement")
        })
    }

    /// `kill -s SIG` the process.
    pub fn signal(&self, sig: &str) {
        let pid = self.guard.id().to_string();
        let mut kill = Command::new("kill");
        kill.args(["-s", sig, &pid]);
        let out = python::run("kill", kill, None, Duration::from_secs(10));
        assert!(out.status.success(), "{}", out.describe());
    }
}

/// The lines of `text` that `keep` accepts.
pub fn count_lines(text: &str, keep: impl Fn(&str) -> bool) -> usize {
    text.lines().filter(|l| keep(l)).count()
}

/// Polls `check` every 20 ms until it gives a value, for at most `timeout`.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}
