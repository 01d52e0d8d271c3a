//! [`Builder`]: the build-script entry point. Parses `.proto` files with
//! protox (pure Rust, no `protoc`), hands the descriptors to prost-build for
//! messages, and to our [`ServiceGenerator`] for services.
//!
//! Layer: code generation (runs in the user's `build.rs`).
//!
//! ```text
//!  .proto files ──protox──▶ FileDescriptorSet ──prost-build──▶ OUT_DIR/<package>.rs
//!                                 │                  └─ ServiceGenerator: <svc>_server, <svc>_client
//!                                 │                  └─ FILE_DESCRIPTOR_SET per package with services
//!                                 ├──(default)──▶ OUT_DIR/<package>.fds.bin, for reflection (descriptors.rs)
//!                                 └──(optional)──▶ the whole encoded descriptor set, at a path of yours
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::ServiceGenerator;
use crate::descriptors;

/// A hook that adjusts the prost-build configuration before generation.
type ProstHook = Box<dyn FnOnce(&mut prost_build::Config)>;

/// Configures and runs code generation; start with [`configure()`](crate::configure).
///
/// ```no_run
/// h2grpc_build::configure()
///     .build_client(false)
///     .file_descriptor_set_path(
///         std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("descriptor.bin"),
///     )
///     .prost_config(|config| {
///         config.type_attribute(".", "#[derive(Eq, Hash)]");
///     })
///     .compile(&["proto/order_management.proto"], &["proto"])?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Builder {
    /// Emit `<service>_server` modules.
    build_server: bool,
    /// Emit `<service>_client` modules.
    build_client: bool,
    /// Where the `.rs` files go; `None` means Cargo's `OUT_DIR`.
    out_dir: Option<PathBuf>,
    /// Where to write the encoded `FileDescriptorSet`, if anywhere.
    file_descriptor_set_path: Option<PathBuf>,
    /// Give each package with services a `FILE_DESCRIPTOR_SET` (descriptors.rs).
    emit_file_descriptor_set: bool,
    /// Print `cargo:rerun-if-changed` for every proto file read from disk.
    emit_rerun_if_changed: bool,
    /// User adjustments to prost-build, applied in order after our settings.
    prost_hooks: Vec<ProstHook>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("build_server", &self.build_server)
            .field("build_client", &self.build_client)
            .field("out_dir", &self.out_dir)
            .field("file_descriptor_set_path", &self.file_descriptor_set_path)
            .field("emit_file_descriptor_set", &self.emit_file_descriptor_set)
            .field("emit_rerun_if_changed", &self.emit_rerun_if_changed)
            .field("prost_hooks", &self.prost_hooks.len())
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            build_server: true,
            build_client: true,
            out_dir: None,
            file_descriptor_set_path: None,
            emit_file_descriptor_set: true,
            emit_rerun_if_changed: true,
            prost_hooks: Vec::new(),
        }
    }
}

impl Builder {
    /// Whether to generate the server side of each service (default `true`).
    pub fn build_server(mut self, enable: bool) -> Self {
        self.build_server = enable;
        self
    }

    /// Whether to generate the client side of each service (default `true`).
    pub fn build_client(mut self, enable: bool) -> Self {
        self.build_client = enable;
        self
    }

    /// Directory for the generated `.rs` files (default: Cargo's `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Also write the encoded `google.protobuf.FileDescriptorSet` of all the
    /// compiled files and all their imports (with source info) to `path`, in
    /// one set, e.g. for tools that read descriptor sets. To serve reflection,
    /// the per-package `FILE_DESCRIPTOR_SET` constants
    /// ([`emit_file_descriptor_set`](Self::emit_file_descriptor_set)) are
    /// already there.
    pub fn file_descriptor_set_path(mut self, path: impl AsRef<Path>) -> Self {
        self.file_descriptor_set_path = Some(path.as_ref().to_path_buf());
        self
    }

    /// Whether each generated package file that declares a service also
    /// carries `pub const FILE_DESCRIPTOR_SET: &[u8]` (default `true`): the
    /// encoded `google.protobuf.FileDescriptorSet` of the package's files and
    /// all their imports, transitively, each after its imports, written
    /// beside the `.rs` file as `<package>.fds.bin` (`_.fds.bin` with no
    /// package) and `include_bytes!`'d. Hand it to
    /// `h2grpc::reflection::Builder::register_encoded_file_descriptor_set`
    /// to serve gRPC server reflection (`grpcurl list`, `describe`, calls).
    pub fn emit_file_descriptor_set(mut self, enable: bool) -> Self {
        self.emit_file_descriptor_set = enable;
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for every `.proto` file read
    /// from disk, inputs and imports alike (default `true`). Turn it off when
    /// calling the builder outside a build script.
    pub fn emit_rerun_if_changed(mut self, enable: bool) -> Self {
        self.emit_rerun_if_changed = enable;
        self
    }

    /// Adjusts the [`prost_build::Config`] used for generation, e.g. to add
    /// type attributes or extern paths. Hooks run in the order given, after
    /// the builder's own settings, so they can override them.
    pub fn prost_config(mut self, hook: impl FnOnce(&mut prost_build::Config) + 'static) -> Self {
        self.prost_hooks.push(Box::new(hook));
        self
    }

    /// Compiles `protos` (each found under one of `includes`) and writes one
    /// `<package>.rs` per proto package (`_.rs` for files with no package).
    ///
    /// `google/protobuf/*.proto` imports are built in and need no include.
    /// Errors in the proto sources come back as `Err` carrying the file,
    /// line and column, never as a panic.
    pub fn compile(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> io::Result<()> {
        let out_dir = match self.out_dir {
            Some(dir) => dir,
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "h2grpc-build: OUT_DIR is not set; run from build.rs or call Builder::out_dir",
                )
            })?,
        };

        let mut compiler =
            protox::Compiler::new(includes.iter().map(AsRef::as_ref)).map_err(protox_error)?;
        compiler.include_imports(true).include_source_info(true);
        let opened = compiler
            .open_files(protos.iter().map(AsRef::as_ref))
            .map(|_| ())
            .map_err(|err| with_include_hint(protox_error(err), includes));
        if self.emit_rerun_if_changed {
            // Inputs first, so a broken file still triggers a rerun once fixed;
            // then every import read from disk (built-in google/* have no path).
            let mut seen: Vec<PathBuf> = Vec::new();
            let inputs = protos.iter().map(|proto| proto.as_ref().to_path_buf());
            let imports = compiler
                .files()
                .filter_map(|file| file.path().map(Path::to_path_buf));
            for path in inputs.chain(imports) {
                if !seen.contains(&path) {
                    println!("cargo:rerun-if-changed={}", path.display());
                    seen.push(path);
                }
            }
        }
        opened?;

        if let Some(path) = &self.file_descriptor_set_path {
            std::fs::write(path, compiler.encode_file_descriptor_set()).map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!(
                        "h2grpc-build: cannot write file descriptor set to {}: {err}",
                        path.display()
                    ),
                )
            })?;
        }

        let generator = ServiceGenerator::new()
            .build_server(self.build_server)
            .build_client(self.build_client);
        // The sets go to disk first: the generated code include_bytes! them.
        let packages = if self.emit_file_descriptor_set {
            let sets = descriptors::package_sets(&compiler.descriptor_pool());
            descriptors::write_sets(&out_dir, &sets)?;
            sets.into_keys().collect()
        } else {
            BTreeSet::new()
        };
        let mut config = prost_build::Config::new();
        config
            .out_dir(&out_dir)
            .service_generator(Box::new(descriptors::WithDescriptorSets::new(
                generator, packages,
            )));
        for hook in self.prost_hooks {
            hook(&mut config);
        }
        config.compile_fds(compiler.file_descriptor_set())
    }
}

/// protox reports a missing input as "not in any include path"; say which
/// paths those were, the usual cause being a proto outside all of them.
fn with_include_hint(err: io::Error, includes: &[impl AsRef<Path>]) -> io::Error {
    if err.kind() != io::ErrorKind::NotFound {
        return err;
    }
    let dirs: Vec<String> = includes
        .iter()
        .map(|dir| dir.as_ref().display().to_string())
        .collect();
    io::Error::new(
        err.kind(),
        format!("{err} (each proto must exist under one of the includes: {dirs:?})"),
    )
}

/// Keeps protox's `file:line:col: message` rendering (its `Debug`); its
/// `Display` drops the location.
fn protox_error(err: protox::Error) -> io::Error {
    let kind = if err.is_file_not_found() {
        io::ErrorKind::NotFound
    } else if err.is_io() {
        io::ErrorKind::Other
    } else {
        io::ErrorKind::InvalidInput
    };
    io::Error::new(
        kind,
        format!("h2grpc-build: failed to compile protos: {err:?}"),
    )
}
