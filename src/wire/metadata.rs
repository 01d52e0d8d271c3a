//! Custom metadata: CONTRACT STUB.

use bytes::Bytes;
use http::HeaderMap;

/// Why a metadata key or value was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataError {
    /// The key is reserved by gRPC or HTTP/2 (`:`-pseudo, `grpc-*`, `content-type`, `te`,
    /// `user-agent`, connection-specific headers).
    Reserved(String),
    /// The key is not a valid lowercase header name (`0-9 a-z _ - .`).
    InvalidKey(String),
    /// An ASCII value with a byte outside printable ASCII (0x20..=0x7E).
    InvalidValue(String),
    /// An ASCII method was used with a `-bin` key, or a binary one without it.
    WrongKind(String),
    /// A `-bin` value that is not valid base64.
    InvalidBase64(String),
}

/// One metadata value: printable ASCII, or raw bytes for `-bin` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataValue<'a> {
    /// The value of an ASCII key.
    Ascii(&'a str),
    /// The decoded value of a `-bin` key.
    Binary(Bytes),
}

/// An ordered multimap of custom metadata, held in wire form (binary values base64).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    headers: HeaderMap,
}

impl Metadata {
    /// An empty map.
    pub fn new() -> Metadata {
        Metadata { headers: HeaderMap::new() }
    }
    /// Keeps the non-reserved headers of a received head or trailers. Values that are
    /// not valid for their kind are kept as received; decoding reports them.
    pub fn from_headers(headers: HeaderMap) -> Metadata {
        todo!("{headers:?}")
    }
    /// Appends every entry to `dst` (already validated, so this cannot fail).
    pub fn write_to(&self, dst: &mut HeaderMap) {
        todo!("{dst:?}")
    }
    /// The wire-form headers.
    pub fn as_headers(&self) -> &HeaderMap {
        &self.headers
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        self.headers.len()
    }
    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
    /// Replaces the values of an ASCII key.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        todo!("{key}{value}")
    }
    /// Adds a value to an ASCII key.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        todo!("{key}{value}")
    }
    /// Replaces the values of a `-bin` key.
    pub fn insert_bin(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), MetadataError> {
        todo!("{key}{:?}", value.as_ref())
    }
    /// Adds a value to a `-bin` key.
    pub fn append_bin(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), MetadataError> {
        todo!("{key}{:?}", value.as_ref())
    }
    /// The first value of an ASCII key.
    pub fn get(&self, key: &str) -> Option<&str> {
        todo!("{key}")
    }
    /// Every value of an ASCII key, in order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        todo!("{key}")
    }
    /// The first decoded value of a `-bin` key.
    pub fn get_bin(&self, key: &str) -> Option<Result<Bytes, MetadataError>> {
        todo!("{key}")
    }
    /// Every decoded value of a `-bin` key; a header value holding several
    /// comma-separated base64 values yields each of them.
    pub fn get_all_bin(&self, key: &str) -> Result<Vec<Bytes>, MetadataError> {
        todo!("{key}")
    }
    /// Removes every value of a key; true if there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        todo!("{key}")
    }
    /// Every entry in order, binary values decoded (invalid base64 yields an error entry).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Result<MetadataValue<'_>, MetadataError>)> {
        std::iter::empty()
    }
}

/// True when `key` may not be sent as custom metadata.
pub fn is_reserved(key: &str) -> bool {
    todo!("{key}")
}

/// Decodes one base64 `-bin` value, padded or not.
pub fn decode_bin(value: &[u8]) -> Result<Bytes, MetadataError> {
    todo!("{value:?}")
}

/// Encodes binary metadata as unpadded standard base64.
pub fn encode_bin(value: &[u8]) -> String {
    todo!("{value:?}")
}
