//! # Server reflection: `grpc.reflection.v1` and `grpc.reflection.v1alpha`
//!
//! A client with no generated code, such as `grpcurl`, `grpcui` or Postman,
//! asks the server itself what it serves and how its messages look, and then
//! calls it with JSON in and out. grpc/grpc `doc/server-reflection.md` gives
//! the design: the server exports its protobuf descriptor database (the
//! `FileDescriptorProto`s its services were compiled from) over one
//! bidirectional stream, `ServerReflectionInfo`, whose requests mirror the
//! four queries of protobuf's `DescriptorDatabase`, plus a list of services:
//!
//! ```text
//!  request (oneof message_request)         response (oneof message_response)
//!  list_services: ""                   ──▶ list_services_response: [ecommerce.OrderManagement, grpc.reflection.v1…]
//!  file_containing_symbol: "ecommerce.OrderManagement"
//!                                      ──▶ file_descriptor_response: [order_management.proto, google/protobuf/wrappers.proto]
//!  file_by_filename: "order_management.proto"
//!                                      ──▶ file_descriptor_response: [order_management.proto]   (wrappers already sent)
//!  file_containing_extension: {containing_type, extension_number}
//!                                      ──▶ file_descriptor_response: [the file declaring it, unsent imports…]
//!  all_extension_numbers_of_type: "pkg.Msg"
//!                                      ──▶ all_extension_numbers_response: {base_type_name, [numbers]}
//!  file_by_filename: "nope.proto"      ──▶ error_response: {error_code: 5 (NOT_FOUND), error_message}
//! ```
//!
//! Every response echoes the request (`original_request`) and its `host`
//! (`valid_host`). A file response carries the file and "all previously
//! unsent transitive imports of that file": the doc lets a server track what
//! each stream has been sent, and we do, as grpc-go does, so a client that
//! walks a whole API gets each file once. The bidi stream exists so that one
//! session's queries all reach one server, which has one consistent database
//! (the doc's "reverse proxy traversal"). A lookup that fails is an
//! `error_response`, and the stream goes on.
//!
//! `v1alpha` is the first published version and the one older clients speak
//! (grpcurl before 1.8.8, grpcio's `ProtoReflectionDescriptorDatabase`); `v1`
//! is the same protocol under a new package name, so one implementation
//! serves both. [`Builder::build`] gives both, as grpc-go's
//! `reflection.Register` does.
//!
//! ## Where the descriptors come from
//!
//! `h2grpc-build` gives every generated package with a service a
//! `FILE_DESCRIPTOR_SET`: the package's files and all their imports,
//! transitively. Register one per package you serve; what you do not
//! register is not listed, and an import no set provides is an error
//! ([`Error::MissingDependency`]) at build time, not a client's broken
//! descriptor later. The reflection service's own files are registered for
//! you, so a client can describe reflection too; `list_services` names the
//! services the registered files declare, this one included.
//!
//! ```
//! # fn main() -> Result<(), h2grpc::reflection::Error> {
//! use h2grpc::reflection;
//! use h2grpc::server::Server;
//!
//! let (v1, v1alpha) = reflection::Builder::new()
//!     // One per served package: .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
//!     .register_encoded_file_descriptor_set(reflection::v1::FILE_DESCRIPTOR_SET)
//!     .build()?;
//! let server = Server::builder().add_service(v1).add_service(v1alpha);
//! # let _ = server;
//! # Ok(())
//! # }
//! ```
//!
//! Files: `index.rs` (symbol, file and extension indexes, sans-IO),
//! `service.rs` (the stream and the answer to each request).

mod index;
mod service;

use std::sync::Arc;

use bytes::Bytes;

pub use index::Error;
pub use service::ReflectionService;

use index::Index;
use service::Version;

/// `grpc.reflection.v1`: the messages, a client
/// (`server_reflection_client::ServerReflectionClient`) and the server trait,
/// generated from `proto/grpc/reflection/v1/reflection.proto`, and the file's
/// `FILE_DESCRIPTOR_SET`.
#[allow(missing_docs, clippy::all, rustdoc::invalid_html_tags)]
pub mod v1 {
    include!("../generated/grpc.reflection.v1.rs");
}

/// `grpc.reflection.v1alpha`: the same protocol under its first package name
/// (module doc), generated from `proto/grpc/reflection/v1alpha/reflection.proto`.
#[allow(missing_docs, clippy::all, rustdoc::invalid_html_tags)]
pub mod v1alpha {
    include!("../generated/grpc.reflection.v1alpha.rs");
}

/// Collects descriptor sets and builds the reflection services over them.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    /// Encoded `google.protobuf.FileDescriptorSet`s, in registration order.
    sets: Vec<Bytes>,
}

impl Builder {
    /// A builder with nothing registered yet.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Adds an encoded `google.protobuf.FileDescriptorSet`, such as a
    /// package's generated `FILE_DESCRIPTOR_SET` (a `&'static [u8]`, kept
    /// without a copy). Sets may share files (the sets of one build repeat
    /// their common imports): a file name seen again is skipped.
    pub fn register_encoded_file_descriptor_set(mut self, set: impl Into<Bytes>) -> Self {
        self.sets.push(set.into());
        self
    }

    /// `grpc.reflection.v1.ServerReflection` alone.
    pub fn build_v1(self) -> Result<ReflectionService, Error> {
        let index = self.index(&[Version::V1])?;
        Ok(ReflectionService::new(index, Version::V1))
    }

    /// `grpc.reflection.v1alpha.ServerReflection` alone, for clients that
    /// speak only the first version.
    pub fn build_v1alpha(self) -> Result<ReflectionService, Error> {
        let index = self.index(&[Version::V1alpha])?;
        Ok(ReflectionService::new(index, Version::V1alpha))
    }

    /// Both versions, `(v1, v1alpha)`, over one shared index: add both to the
    /// server, and every reflection client finds the one it speaks.
    pub fn build(self) -> Result<(ReflectionService, ReflectionService), Error> {
        let index = self.index(&[Version::V1, Version::V1alpha])?;
        Ok((
            ReflectionService::new(Arc::clone(&index), Version::V1),
            ReflectionService::new(index, Version::V1alpha),
        ))
    }

    /// Indexes the registered sets, and the files of the reflection
    /// `versions` served, so they are listed and can be described.
    fn index(mut self, versions: &[Version]) -> Result<Arc<Index>, Error> {
        for version in versions {
            let own: &'static [u8] = match version {
                Version::V1 => v1::FILE_DESCRIPTOR_SET,
                Version::V1alpha => v1alpha::FILE_DESCRIPTOR_SET,
            };
            self.sets.push(Bytes::from_static(own));
        }
        Index::build(&self.sets).map(Arc::new)
    }
}
