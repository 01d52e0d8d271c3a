//! PEM files for the TLS peer tests: certificates made at test time (tests/support/certs.rs)
//! written where a foreign peer, or one of our binaries, can read them.
//!
//! Layer: test harness only. Each [`CertDir`] is a fresh directory under
//! `<CARGO_TARGET_TMPDIR>/tls-certs/`, named by its test and this process, and removed when
//! dropped, so parallel tests (and test binaries) never share or race on a file.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory of PEM files, removed on drop.
#[derive(Debug)]
pub struct CertDir {
    dir: PathBuf,
}

impl CertDir {
    /// A fresh, empty directory for the test `name`.
    pub fn new(name: &str) -> CertDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("tls-certs")
            .join(format!("{name}-{}-{n}", std::process::id()));
        if dir.exists() {
            // Left by a process whose id this one now has.
            fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        CertDir { dir }
    }

    /// Writes `pem` to `file` in this directory and returns its path.
    pub fn write(&self, file: &str, pem: &str) -> PathBuf {
        let path = self.dir.join(file);
        fs::write(&path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
