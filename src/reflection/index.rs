//! The descriptor index behind reflection: registered `FileDescriptorSet`s in,
//! lookups by file name, symbol and extension out. Sans-IO: no tasks, no
//! sockets, built once when the service is built and shared by every stream.
//!
//! Layer: reflection, below the service (service.rs). Which names count as
//! symbols follows grpc-go (its `protoregistry.Files.FindDescriptorByName`),
//! which answers for everything a `.proto` file declares with a full name:
//!
//! ```text
//!  package ecommerce;                       symbol                         kind
//!  message Order {                          ecommerce.Order                Message
//!    string id = 1;                         ecommerce.Order.id             Field
//!    oneof pick { .. }                      ecommerce.Order.pick           Oneof
//!    message Line { .. }                    ecommerce.Order.Line           Message (nested, any depth)
//!    enum State { NEW = 0; }                ecommerce.Order.State          Enum
//!                                           ecommerce.Order.NEW            EnumValue (beside its enum, as C++ scopes it)
//!    extend Base { int32 x = 100; }         ecommerce.Order.x              Extension
//!  }
//!  enum Kind { BIG = 0; }                   ecommerce.Kind, ecommerce.BIG  Enum, EnumValue
//!  extend Base { string y = 101; }          ecommerce.y                    Extension
//!  service OrderManagement {                ecommerce.OrderManagement      Service
//!    rpc getOrder(..) returns (..);         ecommerce.OrderManagement.getOrder  Method
//!  }
//! ```
//!
//! Packages themselves are not symbols (grpc-go answers NOT_FOUND for them).
//! Each file keeps the bytes it was registered with, sliced out of the set
//! without a copy, so what a client receives is exactly what the code generator
//! wrote (custom options included, which a `prost_types` round trip would drop).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

use bytes::Bytes;
use prost::Message;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
};

/// `google.protobuf.FileDescriptorSet`, with each file left as its encoded
/// bytes: `repeated FileDescriptorProto file = 1` has the wire form of
/// `repeated bytes file = 1`, and decoding from `Bytes` slices instead of copying.
#[derive(Clone, PartialEq, Message)]
struct RawFileDescriptorSet {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    file: Vec<Bytes>,
}

/// Why a set of descriptors cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Registered set number `set` (0-based), or one of its files, is not an
    /// encoded `google.protobuf.FileDescriptorSet`.
    InvalidSet {
        /// Position of the set in registration order.
        set: usize,
        /// What the protobuf decoder said.
        reason: String,
    },
    /// A file in set number `set` has no name, so no client could ask for it.
    UnnamedFile {
        /// Position of the set in registration order.
        set: usize,
    },
    /// Two different files declare the same fully-qualified name.
    DuplicateSymbol {
        /// The name, e.g. `ecommerce.Order`.
        symbol: String,
        /// The file registered first.
        first: String,
        /// The file that declares it again.
        second: String,
    },
    /// Two extensions of one message use the same field number.
    DuplicateExtension {
        /// The extended message, e.g. `google.protobuf.MessageOptions`.
        extendee: String,
        /// The field number both use.
        number: i32,
        /// The file registered first.
        first: String,
        /// The file that declares it again.
        second: String,
    },
    /// A file imports one that no registered set contains: clients could not
    /// build it. `h2grpc-build`'s `FILE_DESCRIPTOR_SET` always carries its imports.
    MissingDependency {
        /// The importing file.
        file: String,
        /// The import no set provides.
        dependency: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidSet { set, reason } => write!(
                f,
                "descriptor set #{set} is not an encoded google.protobuf.FileDescriptorSet: {reason}"
            ),
            Error::UnnamedFile { set } => {
                write!(f, "descriptor set #{set} has a file with no name")
            }
            Error::DuplicateSymbol {
                symbol,
                first,
                second,
            } => {
                write!(f, "{symbol} is declared in both {first} and {second}")
            }
            Error::DuplicateExtension {
                extendee,
                number,
                first,
                second,
            } => write!(
                f,
                "extension {number} of {extendee} is declared in both {first} and {second}"
            ),
            Error::MissingDependency { file, dependency } => write!(
                f,
                "{file} imports {dependency}, which no registered descriptor set contains"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// What a fully-qualified name names (the table in the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Message,
    Field,
    Oneof,
    Enum,
    EnumValue,
    Extension,
    Service,
    Method,
}

/// A declared name: which file declares it, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Symbol {
    /// Index into [`Index::files`].
    pub(crate) file: usize,
    pub(crate) kind: Kind,
}

/// One registered `.proto` file.
#[derive(Debug)]
pub(crate) struct File {
    /// Its path as imports name it, e.g. `google/protobuf/wrappers.proto`.
    pub(crate) name: String,
    /// The encoded `FileDescriptorProto`, as registered.
    pub(crate) encoded: Bytes,
    /// The files it imports, as indexes into [`Index::files`].
    dependencies: Vec<usize>,
}

/// Every registered file and the lookups reflection answers.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// In registration order; a name seen again later is skipped (the
    /// per-package sets of one build repeat their shared imports).
    files: Vec<File>,
    files_by_name: HashMap<String, usize>,
    symbols: HashMap<String, Symbol>,
    /// Extended message (full name, no leading dot) → field number → file.
    extensions: HashMap<String, BTreeMap<i32, usize>>,
    /// Full names of every service declared, sorted.
    services: Vec<String>,
}

impl Index {
    /// Indexes `sets` (each an encoded `FileDescriptorSet`). Fails on bytes
    /// that are not descriptors, on a name two files declare, and on an
    /// import no set provides.
    pub(crate) fn build(sets: &[Bytes]) -> Result<Index, Error> {
        let mut index = Index::default();
        // Dependencies by name, resolved once every file is known.
        let mut imports: Vec<Vec<String>> = Vec::new();
        for (set_number, set) in sets.iter().enumerate() {
            let invalid = |err: prost::DecodeError| Error::InvalidSet {
                set: set_number,
                reason: err.to_string(),
            };
            let raw = RawFileDescriptorSet::decode(set.clone()).map_err(invalid)?;
            for encoded in raw.file {
                let file = FileDescriptorProto::decode(encoded.clone()).map_err(invalid)?;
                let name = file.name().to_owned();
                if name.is_empty() {
                    return Err(Error::UnnamedFile { set: set_number });
                }
                if index.files_by_name.contains_key(&name) {
                    continue;
                }
                let number = index.files.len();
                index.files_by_name.insert(name.clone(), number);
                index.files.push(File {
                    name,
                    encoded,
                    dependencies: Vec::new(),
                });
                index.add_declarations(number, &file)?;
                imports.push(file.dependency);
            }
        }
        for (number, names) in imports.into_iter().enumerate() {
            let mut dependencies = Vec::with_capacity(names.len());
            for dependency in names {
                match index.files_by_name.get(&dependency) {
                    Some(&found) => dependencies.push(found),
                    None => {
                        return Err(Error::MissingDependency {
                            file: index.files[number].name.clone(),
                            dependency,
                        });
                    }
                }
            }
            index.files[number].dependencies = dependencies;
        }
        index.services.sort();
        Ok(index)
    }

    /// The file registered under `name`.
    pub(crate) fn file_by_name(&self, name: &str) -> Option<usize> {
        self.files_by_name.get(name).copied()
    }

    /// The declaration of a fully-qualified `name` (no leading dot).
    pub(crate) fn symbol(&self, name: &str) -> Option<Symbol> {
        self.symbols.get(name).copied()
    }

    /// The file declaring extension `number` of message `extendee`.
    pub(crate) fn extension(&self, extendee: &str, number: i32) -> Option<usize> {
        self.extensions.get(extendee)?.get(&number).copied()
    }

    /// The extension numbers of message `extendee`, ascending; empty for a
    /// known message nothing extends, `None` for a name that is no message.
    pub(crate) fn extension_numbers(&self, extendee: &str) -> Option<Vec<i32>> {
        match self.extensions.get(extendee) {
            Some(numbers) => Some(numbers.keys().copied().collect()),
            None => match self.symbol(extendee) {
                Some(Symbol {
                    kind: Kind::Message,
                    ..
                }) => Some(Vec::new()),
                _ => None,
            },
        }
    }

    /// Full names of the services the registered files declare, sorted.
    pub(crate) fn services(&self) -> &[String] {
        &self.services
    }

    /// How many files are registered.
    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    /// What a response for file `root` carries: `root` itself, always, then
    /// its transitive imports breadth first, leaving out those `sent` already
    /// holds (doc/server-reflection.md: "the requested file itself and all
    /// previously unsent transitive imports"; grpc-go's order). Marks them sent.
    ///
    /// `sent` stays closed under imports (a file is only marked together with
    /// everything it imports), so a sent file's imports need no second walk.
    pub(crate) fn files_to_send(&self, root: usize, sent: &mut SentFiles) -> Vec<&File> {
        let mut out = Vec::new();
        let mut queue = VecDeque::from([root]);
        while let Some(number) = queue.pop_front() {
            let first = out.is_empty();
            if !first && sent.contains(number) {
                continue;
            }
            sent.insert(number);
            out.push(&self.files[number]);
            queue.extend(self.files[number].dependencies.iter().copied());
        }
        out
    }

    /// Indexes everything `file` declares (module doc).
    fn add_declarations(&mut self, number: usize, file: &FileDescriptorProto) -> Result<(), Error> {
        let package = file.package();
        for message in &file.message_type {
            self.add_message(number, package, message)?;
        }
        for enumeration in &file.enum_type {
            self.add_enum(number, package, enumeration)?;
        }
        for extension in &file.extension {
            self.add_extension(number, package, extension)?;
        }
        for service in &file.service {
            let name = join(package, service.name());
            self.add_symbol(&name, number, Kind::Service)?;
            for method in &service.method {
                self.add_symbol(&join(&name, method.name()), number, Kind::Method)?;
            }
            self.services.push(name);
        }
        Ok(())
    }

    fn add_message(
        &mut self,
        number: usize,
        scope: &str,
        message: &DescriptorProto,
    ) -> Result<(), Error> {
        let name = join(scope, message.name());
        self.add_symbol(&name, number, Kind::Message)?;
        for field in &message.field {
            self.add_symbol(&join(&name, field.name()), number, Kind::Field)?;
        }
        for oneof in &message.oneof_decl {
            self.add_symbol(&join(&name, oneof.name()), number, Kind::Oneof)?;
        }
        for nested in &message.nested_type {
            self.add_message(number, &name, nested)?;
        }
        for enumeration in &message.enum_type {
            self.add_enum(number, &name, enumeration)?;
        }
        for extension in &message.extension {
            self.add_extension(number, &name, extension)?;
        }
        Ok(())
    }

    /// An enum's values live in the enum's own scope's parent, beside the
    /// enum (`pkg.BIG`, not `pkg.Kind.BIG`): protobuf's C++ scoping rule.
    fn add_enum(
        &mut self,
        number: usize,
        scope: &str,
        enumeration: &EnumDescriptorProto,
    ) -> Result<(), Error> {
        self.add_symbol(&join(scope, enumeration.name()), number, Kind::Enum)?;
        for value in &enumeration.value {
            self.add_symbol(&join(scope, value.name()), number, Kind::EnumValue)?;
        }
        Ok(())
    }

    fn add_extension(
        &mut self,
        number: usize,
        scope: &str,
        extension: &FieldDescriptorProto,
    ) -> Result<(), Error> {
        self.add_symbol(&join(scope, extension.name()), number, Kind::Extension)?;
        // protoc writes the extendee fully qualified, with a leading dot.
        let extendee = extension.extendee();
        let extendee = extendee.strip_prefix('.').unwrap_or(extendee).to_owned();
        let field_number = extension.number();
        let by_number = self.extensions.entry(extendee.clone()).or_default();
        if let Some(&first) = by_number.get(&field_number) {
            return Err(Error::DuplicateExtension {
                extendee,
                number: field_number,
                first: self.files[first].name.clone(),
                second: self.files[number].name.clone(),
            });
        }
        by_number.insert(field_number, number);
        Ok(())
    }

    fn add_symbol(&mut self, name: &str, file: usize, kind: Kind) -> Result<(), Error> {
        if let Some(first) = self.symbols.get(name) {
            return Err(Error::DuplicateSymbol {
                symbol: name.to_owned(),
                first: self.files[first.file].name.clone(),
                second: self.files[file].name.clone(),
            });
        }
        self.symbols.insert(name.to_owned(), Symbol { file, kind });
        Ok(())
    }
}

/// `scope.name`, or `name` at the root (a file with no package).
fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

/// Which files one reflection stream has sent (doc/server-reflection.md lets
/// a server skip those in later responses on the same stream).
#[derive(Debug)]
pub(crate) struct SentFiles(Vec<bool>);

impl SentFiles {
    /// Nothing sent yet, on a stream over `index`.
    pub(crate) fn new(index: &Index) -> Self {
        SentFiles(vec![false; index.len()])
    }

    fn contains(&self, number: usize) -> bool {
        self.0.get(number).copied().unwrap_or(false)
    }

    fn insert(&mut self, number: usize) {
        if let Some(slot) = self.0.get_mut(number) {
            *slot = true;
        }
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
