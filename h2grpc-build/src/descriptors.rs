//! Embedded descriptors: each generated package file that declares a service
//! carries `FILE_DESCRIPTOR_SET`, the encoded `google.protobuf.FileDescriptorSet`
//! of that package's files and everything they import, transitively. A server
//! hands it to `h2grpc::reflection::Builder` to answer gRPC server reflection
//! (grpc/grpc `doc/server-reflection.md`), whose clients (grpcurl, grpcui, Postman)
//! need the `.proto` files of a service, and of every file those import, to call it.
//!
//! Layer: code generation (runs in the user's `build.rs`).
//!
//! ```text
//!  DescriptorPool (protox) ──package_sets──▶ { "ecommerce" → [wrappers.proto, order_management.proto] }
//!        │                                          │ encoded, written as OUT_DIR/ecommerce.fds.bin
//!        ▼                                          ▼
//!  prost-build ──finalize_package("ecommerce")──▶ ecommerce.rs:
//!                 pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("ecommerce.fds.bin");
//! ```
//!
//! One set per package, not one for the whole build, so that a server registers
//! the packages it serves and reflection lists exactly their services. The
//! include path is relative: `include_bytes!` inside an `include!`d file resolves
//! beside that file, so the pair works in `OUT_DIR` or any `Builder::out_dir`.
//!
//! Files are encoded from protox's descriptor pool, which keeps custom options
//! (extensions of `google.protobuf.*Options`) that a `prost_types` round trip
//! would drop.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use protox::prost::encoding;
use protox::prost_reflect::{DescriptorPool, FileDescriptor};

use crate::ServiceGenerator;
use crate::emit::Code;

/// `FileDescriptorSet.file` is field 1 (google/protobuf/descriptor.proto).
const FILE_DESCRIPTOR_SET_FILE_TAG: u32 = 1;

/// The file name of a package's encoded set, beside its `.rs` file: the
/// package name as prost-build names the `.rs` (`_` for no package).
pub(crate) fn set_file_name(package: &str) -> String {
    if package.is_empty() {
        "_.fds.bin".to_owned()
    } else {
        format!("{package}.fds.bin")
    }
}

/// For every package that declares at least one service (the packages
/// prost-build calls `finalize_package` for), the encoded
/// `FileDescriptorSet` of its files and their transitive imports, each file
/// once, every file after the files it imports.
pub(crate) fn package_sets(pool: &DescriptorPool) -> BTreeMap<String, Vec<u8>> {
    let mut packages: BTreeMap<String, Vec<FileDescriptor>> = BTreeMap::new();
    for file in pool.files() {
        packages
            .entry(file.package_name().to_owned())
            .or_default()
            .push(file);
    }
    packages
        .into_iter()
        .filter(|(_, files)| files.iter().any(|file| file.services().len() > 0))
        .map(|(package, files)| {
            let mut ordered = Vec::new();
            let mut seen = BTreeSet::new();
            for file in &files {
                push_with_imports(file, &mut seen, &mut ordered);
            }
            (package, encode_set(&ordered))
        })
        .collect()
}

/// Post-order walk: a file's imports go before it. protox has already
/// rejected import cycles, and `seen` bounds the walk by the pool's size.
fn push_with_imports(
    file: &FileDescriptor,
    seen: &mut BTreeSet<String>,
    ordered: &mut Vec<FileDescriptor>,
) {
    if !seen.insert(file.name().to_owned()) {
        return;
    }
    for import in file.dependencies() {
        push_with_imports(&import, seen, ordered);
    }
    ordered.push(file.clone());
}

/// `FileDescriptorSet { file: files }` on the wire: each file is a
/// length-delimited field 1, the same bytes as a `repeated bytes` field.
fn encode_set(files: &[FileDescriptor]) -> Vec<u8> {
    let mut set = Vec::new();
    for file in files {
        encoding::bytes::encode(
            FILE_DESCRIPTOR_SET_FILE_TAG,
            &file.encode_to_vec(),
            &mut set,
        );
    }
    set
}

/// Writes each package's set to `out_dir`, leaving a file whose bytes are
/// already right untouched (its mtime is what makes Cargo recompile the
/// `include_bytes!`).
pub(crate) fn write_sets(out_dir: &Path, sets: &BTreeMap<String, Vec<u8>>) -> io::Result<()> {
    for (package, set) in sets {
        let path = out_dir.join(set_file_name(package));
        if std::fs::read(&path).is_ok_and(|old| old == *set) {
            continue;
        }
        std::fs::write(&path, set).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "h2grpc-build: cannot write file descriptor set to {}: {err}",
                    path.display()
                ),
            )
        })?;
    }
    Ok(())
}

/// Our [`ServiceGenerator`], plus `FILE_DESCRIPTOR_SET` at the end of each
/// package whose set [`write_sets`] wrote.
#[derive(Debug)]
pub(crate) struct WithDescriptorSets {
    /// Generates the services themselves.
    inner: ServiceGenerator,
    /// Packages that have a `.fds.bin` beside their `.rs` file.
    packages: BTreeSet<String>,
}

impl WithDescriptorSets {
    pub(crate) fn new(inner: ServiceGenerator, packages: BTreeSet<String>) -> Self {
        Self { inner, packages }
    }
}

impl prost_build::ServiceGenerator for WithDescriptorSets {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        prost_build::ServiceGenerator::generate(&mut self.inner, service, buf);
    }

    fn finalize(&mut self, buf: &mut String) {
        prost_build::ServiceGenerator::finalize(&mut self.inner, buf);
    }

    fn finalize_package(&mut self, package: &str, buf: &mut String) {
        prost_build::ServiceGenerator::finalize_package(&mut self.inner, package, buf);
        if !self.packages.contains(package) {
            return;
        }
        let shown = if package.is_empty() {
            "(no package)".to_owned()
        } else {
            format!("`{package}`")
        };
        let mut code = Code::default();
        code.line("");
        code.doc(&format!(
            "The encoded `google.protobuf.FileDescriptorSet` of package {shown}: its\n\
             files and every file they import, transitively, each after its imports.\n\
             Register it with `h2grpc::reflection::Builder` to serve server reflection."
        ));
        code.line(&format!(
            "pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(\"{}\");",
            set_file_name(package)
        ));
        buf.push_str(&code.finish());
    }
}
