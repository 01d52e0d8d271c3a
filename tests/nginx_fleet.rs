//! Issue 18, a fleet behind a proxy: three `order-server`s behind Debian's nginx
//! (`grpc_pass grpc://backends`, tests/common/nginx.rs), under load from a Python grpcio
//! client (tests/python/fleet_load.py: getOrder of the sample orders and addOrder of new
//! ones, from [`THREADS`] threads on one channel to nginx).
//!
//! - steady load: every call OK, spread over all three backends, each call run exactly
//!   once (the backends' `--log-calls` lines add up to the calls made);
//! - SIGKILL of one backend mid-load: the only failures are `UNAVAILABLE`, no more than
//!   the calls that can be in flight (one per client thread), and each of them is a call
//!   nginx's access log shows on the killed backend answered `502` (nginx never resends
//!   a call it already sent, see the module doc of tests/common/nginx.rs); the rest of
//!   the load completes on the other two;
//! - rolling restart: each backend in turn gets SIGTERM (order-server sends GOAWAY,
//!   finishes its calls and exits), is restarted on the same port, and takes traffic
//!   again before the next one goes: no call fails.
//!
//! A rolling restart as the wire trace (`order-server --trace`) and nginx's error log show
//! it: on SIGTERM the server closes its listener and sends GOAWAY on each of nginx's
//! upstream connections (h2's graceful two-step, RFC 9113 §6.8: last-stream-id 2^31-1,
//! then the real one after a PING round trip). nginx closes an idle kept-alive connection
//! as soon as it turns readable, but may already have put a call on one it picked just
//! before: seen in the trace as a request HEADERS after the GOAWAY, and served, since it
//! is below the first GOAWAY's 2^31-1. Connects to the closed listener are refused and
//! nginx passes those calls to another backend (`grpc_next_upstream error`).
//!
//! What order-server stores is not relied on (another backend need not see an order one
//! stored): getOrder asks for the sample orders every backend starts with, addOrder's
//! reply is only checked to be OK. Each backend runs in a directory of its own (also its
//! `XDG_DATA_HOME`), kept across its restart, so a store on disk is never shared.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use common::fleet::{Backend, count_lines, wait_for};
use common::nginx::{Nginx, nginx_binary};
use common::python::{self, ChildGuard, PythonEnv, python_env};

const ORDER_SERVER: &str = env!("CARGO_BIN_EXE_order-server");
const BACKENDS: usize = 3;
/// Client threads, each with one call in flight at a time: the most calls that can be
/// in flight on a backend when it dies.
const THREADS: usize = 8;
/// The steady-load run.
const STEADY_CALLS: usize = 1500;
/// Upper bounds for the runs the test stops itself (by the stop file).
const LOAD_MAX_CALLS: usize = 100_000;
const LOAD_MAX_SECONDS: u64 = 120;
/// Waiting for the load's result line: its time bound plus a call's deadline and more.
const RESULT_TIMEOUT: Duration = Duration::from_secs(LOAD_MAX_SECONDS + 60);
/// Calls that must finish between two events (before a kill, after it, between restarts).
const CALLS_BETWEEN_EVENTS: usize = 300;
/// How long the load runs on after the kill: past nginx's `fail_timeout` (1 s), after
/// which it tries the dead backend again, is refused, and passes the call on.
const AFTER_KILL: Duration = Duration::from_millis(2500);
/// Calls a restarted backend must have served before the next one goes down.
const CALLS_ON_RESTARTED: usize = 20;
/// Waiting for load to make progress, or for a backend to take traffic.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);
/// SIGTERM to exit: order-server's grace period is 10 s (server::DEFAULT_GRACE_PERIOD).
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Waiting for every call's log line to reach us after the load ends.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn steady_load_through_nginx_is_all_ok_and_spread_over_the_fleet() {
    let fleet = Fleet::start("steady");
    let mut load = Load::start(&fleet, STEADY_CALLS, false);
    let result = load.result();
    assert_eq!(
        result.statuses,
        BTreeMap::from([("OK".to_owned(), STEADY_CALLS)]),
        "{result:?}"
    );

    // Each call ran exactly once, and every backend had a share.
    let served = wait_for(LOG_TIMEOUT, || {
        let served: Vec<usize> = fleet.backends.iter().map(Backend::served).collect();
        (served.iter().sum::<usize>() >= STEADY_CALLS).then_some(served)
    })
    .unwrap_or_else(|| panic!("backends logged fewer calls than {STEADY_CALLS} made"));
    assert_eq!(served.iter().sum::<usize>(), STEADY_CALLS, "{served:?}");
    assert!(
        served.iter().all(|&n| n > 0),
        "a backend got no call: {served:?}"
    );
    let access = fleet.access_log(STEADY_CALLS);
    assert_eq!(
        count_lines(&access, |l| l.starts_with("200 ")),
        STEADY_CALLS,
        "{access}"
    );
    eprintln!("steady: {STEADY_CALLS} calls OK, per backend {served:?}");
    fleet.clean_up();
}

#[test]
fn killing_a_backend_mid_load_fails_only_its_calls_in_flight_with_unavailable() {
    let mut fleet = Fleet::start("kill");
    let mut load = Load::start(&fleet, LOAD_MAX_CALLS, true);
    load.wait_progress(CALLS_BETWEEN_EVENTS);
    let victim = &mut fleet.backends[0];
    let served_before = victim.served();
    assert!(served_before > 0, "backend 0 had no call before the kill");
    let at_kill = load.progress();
    victim.signal("KILL");
    assert!(
        victim.guard.wait_timeout(STOP_TIMEOUT).is_some(),
        "SIGKILLed backend still running"
    );
    // Long enough for nginx to try the dead backend again after `fail_timeout`.
    thread::sleep(AFTER_KILL);
    load.wait_progress(at_kill + CALLS_BETWEEN_EVENTS);
    load.stop();
    let result = load.result();

    let unavailable = result.statuses.get("UNAVAILABLE").copied().unwrap_or(0);
    let ok = result.statuses.get("OK").copied().unwrap_or(0);
    assert_eq!(
        ok + unavailable,
        result.calls,
        "a failure other than UNAVAILABLE: {result:?}"
    );
    assert!(
        unavailable <= THREADS,
        "{unavailable} UNAVAILABLE, more than the {THREADS} calls that can be in flight: {result:?}"
    );

    // Each failure is a call nginx had sent to the killed backend (its last try there).
    let access = fleet.access_log(result.calls);
    let victim_addr = fleet.backends[0].addr.clone();
    let failed: Vec<&str> = access.lines().filter(|l| !l.starts_with("200 ")).collect();
    assert_eq!(failed.len(), unavailable, "access log:\n{access}");
    for line in &failed {
        assert!(
            line.starts_with("502 ") && last_upstream(line) == Some(victim_addr.as_str()),
            "a failed call not in flight on the killed backend {victim_addr}: {line}\n{access}"
        );
    }
    let retried = count_lines(&access, |l| {
        l.starts_with("200 ") && l.contains(&format!("[{victim_addr}, "))
    });
    assert!(
        retried > 0,
        "nginx never passed a call refused by the dead backend on in {AFTER_KILL:?}:\n{}",
        fleet.nginx.error_log()
    );
    eprintln!(
        "kill: {} calls ({at_kill} before the kill), {unavailable} UNAVAILABLE, {retried} \
         connects refused by the dead backend and passed on by nginx",
        result.calls
    );
    fleet.clean_up();
}

#[test]
fn rolling_restart_under_load_loses_no_call() {
    let mut fleet = Fleet::start("rolling");
    let mut load = Load::start(&fleet, LOAD_MAX_CALLS, true);
    let mut mark = load.wait_progress(CALLS_BETWEEN_EVENTS);
    for i in 0..BACKENDS {
        let backend = &mut fleet.backends[i];
        backend.signal("TERM");
        let status = backend.guard.wait_timeout(STOP_TIMEOUT);
        assert!(
            status.is_some_and(|s| s.success()),
            "backend {i} after SIGTERM: {status:?}\n{}",
            backend.guard.stderr()
        );
        backend.restart();
        let backend = &fleet.backends[i];
        let back = wait_for(PROGRESS_TIMEOUT, || {
            (backend.served() >= CALLS_ON_RESTARTED).then_some(())
        });
        assert!(
            back.is_some(),
            "restarted backend {i} served {} calls in {PROGRESS_TIMEOUT:?}",
            backend.served()
        );
        mark = load.wait_progress(mark + CALLS_BETWEEN_EVENTS);
    }
    load.stop();
    let result = load.result();
    assert_eq!(
        result.statuses,
        BTreeMap::from([("OK".to_owned(), result.calls)]),
        "{result:?}\n--- nginx error log ---\n{}",
        fleet.nginx.error_log()
    );
    let access = fleet.access_log(result.calls);
    let failed: Vec<&str> = access.lines().filter(|l| !l.starts_with("200 ")).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let passed_on = count_lines(&access, |l| l.contains(", "));
    eprintln!(
        "rolling restart: {} calls OK across {BACKENDS} restarts, {passed_on} of them refused \
         by a restarting backend and passed on by nginx",
        result.calls
    );
    fleet.clean_up();
}

/// Three order-servers on free ports and nginx in front of them.
struct Fleet {
    backends: Vec<Backend>,
    nginx: Nginx,
    dir: PathBuf,
    py: PythonEnv,
}

impl Fleet {
    fn start(name: &str) -> Fleet {
        let py = python_env();
        let nginx_bin = nginx_binary();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("fleet")
            .join(format!("{name}-{}", std::process::id()));
        let backends: Vec<Backend> = (0..BACKENDS)
            .map(|i| {
                let dir = dir.join(format!("backend-{i}"));
                Backend::spawn(Path::new(ORDER_SERVER), "127.0.0.1:0", &dir, &[])
            })
            .collect();
        let addrs: Vec<_> = backends
            .iter()
            .map(|b| {
                b.addr
                    .parse()
                    .unwrap_or_else(|e| panic!("order-server address {}: {e}", b.addr))
            })
            .collect();
        let nginx = nginx_bin.start(&addrs);
        eprintln!(
            "{name}: {} on {} -> {addrs:?}",
            nginx_bin.version(),
            nginx.addr()
        );
        Fleet {
            backends,
            nginx,
            dir,
            py,
        }
    }

    /// nginx's access log once it has a line for each of the `calls` the load made (nginx
    /// writes the line as it finishes the call, possibly just after the client saw it end).
    fn access_log(&self, calls: usize) -> String {
        let log = wait_for(LOG_TIMEOUT, || {
            let log = self.nginx.access_log();
            (count_lines(&log, |_| true) >= calls).then_some(log)
        });
        let log = log.unwrap_or_else(|| self.nginx.access_log());
        assert_eq!(
            count_lines(&log, |_| true),
            calls,
            "nginx logged another number of calls than the {calls} made:\n{log}"
        );
        log
    }

    /// Stops everything and removes the backends' directories (a failing test keeps them).
    fn clean_up(self) {
        let dir = self.dir.clone();
        drop(self);
        let _ = fs::remove_dir_all(dir);
    }
}

/// A running tests/python/fleet_load.py against nginx.
struct Load {
    guard: ChildGuard,
    stop_file: Option<PathBuf>,
}

/// Its final line.
#[derive(Debug)]
struct LoadResult {
    calls: usize,
    statuses: BTreeMap<String, usize>,
    #[allow(dead_code)] // printed by `{:?}` in assertion messages
    examples: serde_json::Value,
}

impl Load {
    /// Starts `max_calls` calls; with `stoppable`, the load ends early at [`Load::stop`].
    fn start(fleet: &Fleet, max_calls: usize, stoppable: bool) -> Load {
        let stop_file = stoppable.then(|| fleet.dir.join("stop-load"));
        let mut cmd = fleet.py.command("fleet_load.py");
        cmd.args(["--addr", &fleet.nginx.addr()])
            .args(["--threads", &THREADS.to_string()])
            .args(["--max-calls", &max_calls.to_string()])
            .args(["--max-seconds", &LOAD_MAX_SECONDS.to_string()]);
        if let Some(path) = &stop_file {
            cmd.arg("--stop-file").arg(path);
        }
        let (guard, first) = python::spawn_first_line("fleet_load.py", cmd, python::LISTEN_TIMEOUT);
        assert_eq!(first, "started", "fleet_load.py:\n{}", guard.stderr());
        Load { guard, stop_file }
    }

    /// Calls finished so far (its last `progress` line).
    fn progress(&self) -> usize {
        self.guard
            .stdout()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("progress ")?.parse().ok())
            .unwrap_or(0)
    }

    /// Waits until at least `calls` calls have finished; returns how many have.
    fn wait_progress(&self, calls: usize) -> usize {
        wait_for(PROGRESS_TIMEOUT, || {
            let done = self.progress();
            (done >= calls).then_some(done)
        })
        .unwrap_or_else(|| {
            panic!(
                "load at {} calls after {PROGRESS_TIMEOUT:?}, waiting for {calls}:\n{}",
                self.progress(),
                self.guard.stderr()
            )
        })
    }

    /// Ends the load: no call starts after this, those in flight finish.
    fn stop(&self) {
        let path = self.stop_file.as_ref().expect("a stoppable load");
        fs::write(path, b"stop\n").unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Waits for the result line and parses it.
    fn result(&mut self) -> LoadResult {
        let line = wait_for(RESULT_TIMEOUT, || {
            let out = self.guard.stdout();
            out.lines()
                .find_map(|l| l.strip_prefix("result "))
                .map(str::to_owned)
        });
        let Some(line) = line else {
            let (out, err) = self.guard.kill_and_collect();
            panic!("fleet_load.py: no result in {RESULT_TIMEOUT:?}\n{out}\n{err}");
        };
        let value: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("result {line:?}: {e}"));
        let count = |v: &serde_json::Value| {
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or_else(|| panic!("not a count in {line}"))
        };
        let statuses = value["statuses"]
            .as_object()
            .unwrap_or_else(|| panic!("no statuses in {line}"))
            .iter()
            .map(|(k, v)| (k.clone(), count(v)))
            .collect();
        LoadResult {
            calls: count(&value["calls"]),
            statuses,
            examples: value["examples"].clone(),
        }
    }
}

/// The last backend nginx tried for an access log line: `upstream=[A, B]` -> `B`.
fn last_upstream(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("upstream=[")?;
    let (list, _) = rest.split_once(']')?;
    list.rsplit(", ").next()
}
