//! Custom metadata: the application's own headers and trailers.
//!
//! Wire layer, sans-IO. Implements PROTOCOL-HTTP2.md, "Custom-Metadata":
//!
//! ```text
//! Custom-Metadata → Binary-Header / ASCII-Header
//! Binary-Header   → {Header-Name "-bin" } {base64 encoded value}
//! ASCII-Header    → Header-Name ASCII-Value
//! Header-Name     → 1*( %x30-39 / %x61-7A / "_" / "-" / ".")   ; 0-9 a-z _ - .
//! ASCII-Value     → 1*( %x20-%x7E )                           ; printable ASCII
//!
//!   "trace-id: 4bf92f35"         ASCII key, value as is
//!   "token-bin: AAECAw"          binary key, value base64 of 00 01 02 03
//! ```
//!
//! [`Metadata`] keeps values in wire form (binary ones base64, unpadded
//! standard alphabet), so writing them to `h2` is a copy of a `HeaderMap`.
//! Binary values are decoded when read. On receive we accept padded and
//! unpadded base64, and a header that a peer or proxy has folded into
//! several comma-separated base64 values (the spec allows both).
//!
//! Names that gRPC or HTTP/2 own are [reserved](is_reserved) and refused on
//! send; [`Metadata::from_headers`] drops them on receive, except
//! `user-agent`, which handlers may want to read.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// Standard alphabet; encode without padding (what gRPC implementations send),
/// decode with or without it, and tolerate non-zero trailing bits as Go's and
/// C's decoders do.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Suffix that marks a key whose values are binary.
const BIN_SUFFIX: &str = "-bin";

/// Exact names gRPC or HTTP/2 reserve (besides the `:` and `grpc-` prefixes).
/// `content-type`, `te` and `user-agent` are set by the runtime; the rest are
/// connection-specific and forbidden in HTTP/2 (RFC 9113 §8.2.2), `host` is
/// replaced by `:authority`.
const RESERVED: [&str; 9] = [
    "content-type",
    "te",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
];

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

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::Reserved(k) => write!(f, "metadata key {k:?} is reserved"),
            MetadataError::InvalidKey(k) => write!(f, "metadata key {k:?} is not 0-9 a-z _ - ."),
            MetadataError::InvalidValue(v) => {
                write!(f, "metadata value {v:?} is not printable ASCII")
            }
            MetadataError::WrongKind(k) => {
                write!(
                    f,
                    "metadata key {k:?}: ASCII values need a key without -bin, binary ones with it"
                )
            }
            MetadataError::InvalidBase64(v) => write!(f, "metadata value {v:?} is not base64"),
        }
    }
}

impl std::error::Error for MetadataError {}

/// One metadata value: printable ASCII, or raw bytes for `-bin` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataValue<'a> {
    /// The value of an ASCII key.
    Ascii(&'a str),
    /// The decoded value of a `-bin` key.
    Binary(Bytes),
}

/// An ordered multimap of custom metadata, held in wire form (binary values base64).
///
/// ```
/// use h2grpc::Metadata;
///
/// let mut md = Metadata::new();
/// md.insert("x-request-id", "42").unwrap();
/// md.insert_bin("trace-bin", [0u8, 1, 2]).unwrap(); // sent as base64: "AAEC"
/// assert_eq!(md.get("x-request-id"), Some("42"));
/// assert_eq!(&md.get_bin("trace-bin").unwrap().unwrap()[..], &[0, 1, 2]);
/// assert!(md.insert("grpc-status", "0").is_err()); // reserved for gRPC itself
/// ```
#[derive(Clone, Default)]
pub struct Metadata {
    /// Wire form: exactly what goes into (or came out of) the HEADERS frame.
    headers: HeaderMap,
    /// Set when `headers` is a received head or trailers kept whole: its
    /// reserved entries (`content-type`, `te`, `grpc-*`, ...) are still in the
    /// map, and every accessor skips them. Hiding them on read instead of
    /// copying the rest on receive saves a map allocation and a copy on every
    /// call; most handlers never read their metadata.
    received: bool,
}

impl PartialEq for Metadata {
    /// Equal when the visible entries are: the same values per key, in order
    /// (keys in any order, like `HeaderMap`'s own equality).
    fn eq(&self, other: &Metadata) -> bool {
        self.len() == other.len()
            && self.visible().all(|(name, _)| {
                self.headers
                    .get_all(name)
                    .iter()
                    .eq(other.headers.get_all(name).iter())
            })
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.visible()).finish()
    }
}

impl Metadata {
    /// An empty map.
    pub fn new() -> Metadata {
        Metadata {
            headers: HeaderMap::new(),
            received: false,
        }
    }
    /// The metadata of a received head or trailers: the map is kept whole (no
    /// copy) and its reserved entries are hidden from every accessor. Values
    /// that are not valid for their kind are kept as received; decoding reports them.
    ///
    /// `user-agent` stays visible although it cannot be sent as metadata: it is
    /// the only reserved header a handler has a use for. `grpc-*`,
    /// `content-type`, `te` and the connection-specific headers are hidden.
    pub fn from_headers(headers: HeaderMap) -> Metadata {
        Metadata {
            headers,
            received: true,
        }
    }
    /// Appends every entry to `dst` (already validated, so this cannot fail).
    pub fn write_to(&self, dst: &mut HeaderMap) {
        for (name, value) in self.visible() {
            dst.append(name.clone(), value.clone());
        }
    }
    /// The entries a caller may see: all of them, minus the reserved ones
    /// still held in a received map.
    fn visible(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        let received = self.received;
        self.headers
            .iter()
            .filter(move |(name, _)| !received || !is_dropped_on_receive(name.as_str()))
    }
    /// True when `key` is a reserved entry hidden in a received map.
    fn hides(&self, key: &str) -> bool {
        self.received && is_dropped_on_receive(key)
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        if self.received {
            self.visible().count()
        } else {
            self.headers.len()
        }
    }
    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.visible().next().is_none()
    }
    /// Replaces the values of an ASCII key.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let (name, value) = ascii_entry(key, value)?;
        self.headers.insert(name, value);
        Ok(())
    }
    /// Adds a value to an ASCII key.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let (name, value) = ascii_entry(key, value)?;
        self.headers.append(name, value);
        Ok(())
    }
    /// Replaces the values of a `-bin` key.
    pub fn insert_bin(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), MetadataError> {
        let (name, value) = bin_entry(key, value.as_ref())?;
        self.headers.insert(name, value);
        Ok(())
    }
    /// Adds a value to a `-bin` key.
    pub fn append_bin(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), MetadataError> {
        let (name, value) = bin_entry(key, value.as_ref())?;
        self.headers.append(name, value);
        Ok(())
    }
    /// The first value of an ASCII key. `None` for a `-bin` key, or when the
    /// first received value is not visible ASCII.
    pub fn get(&self, key: &str) -> Option<&str> {
        if is_bin_key(key) || self.hides(key) {
            return None;
        }
        self.headers
            .get(key)
            .and_then(|v| received_ascii(v.as_bytes()))
    }
    /// Every value of an ASCII key, in order. Empty for a `-bin` key; received
    /// values that are not visible ASCII are skipped (see [`Metadata::iter`]).
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        if is_bin_key(key) || self.hides(key) {
            return Vec::new();
        }
        self.headers
            .get_all(key)
            .iter()
            .filter_map(|v| received_ascii(v.as_bytes()))
            .collect()
    }
    /// The first decoded value of a `-bin` key.
    ///
    /// `Some(Err(WrongKind))` for an ASCII key. When the first header holds
    /// several comma-separated values, this is the first of them.
    pub fn get_bin(&self, key: &str) -> Option<Result<Bytes, MetadataError>> {
        if !is_bin_key(key) {
            return Some(Err(MetadataError::WrongKind(key.to_owned())));
        }
        if self.hides(key) {
            return None;
        }
        let first = self.headers.get(key)?;
        let piece = first
            .as_bytes()
            .split(|&b| b == b',')
            .next()
            .unwrap_or_default();
        Some(decode_bin(piece.trim_ascii()))
    }
    /// Every decoded value of a `-bin` key; a header value holding several
    /// comma-separated base64 values yields each of them.
    pub fn get_all_bin(&self, key: &str) -> Result<Vec<Bytes>, MetadataError> {
        if !is_bin_key(key) {
            return Err(MetadataError::WrongKind(key.to_owned()));
        }
        if self.hides(key) {
            return Ok(Vec::new());
        }
        self.headers
            .get_all(key)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(|piece| decode_bin(piece.trim_ascii()))
            .collect()
    }
    /// Removes every value of a key; true if there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        if self.hides(key) || !self.headers.contains_key(key) {
            return false;
        }
        // `HeaderMap::remove` swaps the last key into the gap; rebuild instead
        // so `iter` keeps the order the entries were added in (and drop the
        // hidden reserved entries while at it).
        let old = std::mem::take(self);
        for (name, value) in old.visible() {
            if !name.as_str().eq_ignore_ascii_case(key) {
                self.headers.append(name.clone(), value.clone());
            }
        }
        true
    }
    /// Every entry in order, binary values decoded (invalid base64 yields an error entry).
    ///
    /// Keys come in insertion order, the values of one key together. A `-bin`
    /// header holding comma-separated values yields one entry per value. A
    /// received ASCII value that is not visible ASCII yields `InvalidValue`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Result<MetadataValue<'_>, MetadataError>)> {
        self.visible().flat_map(|(name, value)| {
            let key = name.as_str();
            let binary = is_bin_key(key);
            // An ASCII value is never split: a comma is an ordinary character there.
            value
                .as_bytes()
                .split(move |&b| binary && b == b',')
                .map(move |piece| {
                    let entry = if binary {
                        decode_bin(piece.trim_ascii()).map(MetadataValue::Binary)
                    } else {
                        received_ascii(piece)
                            .map(MetadataValue::Ascii)
                            .ok_or_else(|| MetadataError::InvalidValue(lossy(piece)))
                    };
                    (key, entry)
                })
        })
    }
}

/// True when `key` may not be sent as custom metadata.
pub fn is_reserved(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes.first() == Some(&b':')
        || (bytes
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"grpc-"))
            && !RETRY_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(key)))
        || RESERVED.iter().any(|r| r.eq_ignore_ascii_case(key))
}

/// gRFC A6's two `grpc-` headers meant for applications: a server handler
/// reads `grpc-previous-rpc-attempts` and sets `grpc-retry-pushback-ms` in
/// its trailers (as grpc-go lets them through too).
const RETRY_HEADERS: [&str; 2] = ["grpc-previous-rpc-attempts", "grpc-retry-pushback-ms"];

/// Reserved names minus `user-agent`: what [`Metadata::from_headers`] drops.
fn is_dropped_on_receive(key: &str) -> bool {
    is_reserved(key) && !key.eq_ignore_ascii_case("user-agent")
}

/// Decodes one base64 `-bin` value, padded or not.
pub fn decode_bin(value: &[u8]) -> Result<Bytes, MetadataError> {
    BASE64
        .decode(value)
        .map(Bytes::from)
        .map_err(|_| MetadataError::InvalidBase64(lossy(value)))
}

/// Encodes binary metadata as unpadded standard base64.
pub fn encode_bin(value: &[u8]) -> String {
    BASE64.encode(value)
}

fn is_bin_key(key: &str) -> bool {
    key.ends_with(BIN_SUFFIX)
}

/// Checks a key for sending: not reserved, only `0-9 a-z _ - .`, right kind.
fn checked_name(key: &str, binary: bool) -> Result<HeaderName, MetadataError> {
    if is_reserved(key) {
        return Err(MetadataError::Reserved(key.to_owned()));
    }
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.'));
    if !valid {
        return Err(MetadataError::InvalidKey(key.to_owned()));
    }
    if is_bin_key(key) != binary {
        return Err(MetadataError::WrongKind(key.to_owned()));
    }
    HeaderName::from_bytes(key.as_bytes()).map_err(|_| MetadataError::InvalidKey(key.to_owned()))
}

fn ascii_entry(key: &str, value: &str) -> Result<(HeaderName, HeaderValue), MetadataError> {
    let name = checked_name(key, false)?;
    // Stricter than HTTP (which also allows tab and obs-text): the spec's ASCII-Value.
    if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(MetadataError::InvalidValue(value.to_owned()));
    }
    let value =
        HeaderValue::from_str(value).map_err(|_| MetadataError::InvalidValue(value.to_owned()))?;
    Ok((name, value))
}

fn bin_entry(key: &str, value: &[u8]) -> Result<(HeaderName, HeaderValue), MetadataError> {
    let name = checked_name(key, true)?;
    let encoded = encode_bin(value);
    // Base64 output is always a valid header value; the error arm cannot happen.
    let value =
        HeaderValue::from_str(&encoded).map_err(|_| MetadataError::InvalidValue(encoded))?;
    Ok((name, value))
}

/// A received ASCII value as text: visible ASCII plus space and tab (what
/// HTTP fields allow). Anything else (obs-text) is `None`.
fn received_ascii(value: &[u8]) -> Option<&str> {
    if value
        .iter()
        .all(|&b| b == b'\t' || (0x20..=0x7e).contains(&b))
    {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

fn lossy(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &[u8]) -> HeaderValue {
        HeaderValue::from_bytes(s).unwrap()
    }

    /// What `md` puts on the wire.
    fn wire(md: &Metadata) -> HeaderMap {
        let mut map = HeaderMap::new();
        md.write_to(&mut map);
        map
    }

    #[test]
    fn ascii_insert_get_append() {
        let mut md = Metadata::new();
        md.insert("trace-id", "abc 123").unwrap();
        assert_eq!(md.get("trace-id"), Some("abc 123"));
        md.append("trace-id", "second").unwrap();
        assert_eq!(md.get_all("trace-id"), vec!["abc 123", "second"]);
        assert_eq!(md.len(), 2);
        // insert replaces every value.
        md.insert("trace-id", "only").unwrap();
        assert_eq!(md.get_all("trace-id"), vec!["only"]);
        // Wire form is the value itself.
        assert_eq!(wire(&md).get("trace-id").unwrap().as_bytes(), b"only");
        assert_eq!(md.get("missing"), None);
        // Every printable byte, including space and `~`, is allowed.
        let printable: String = (0x20u8..=0x7e).map(char::from).collect();
        md.insert("all_printable.x", &printable).unwrap();
        assert_eq!(md.get("all_printable.x"), Some(printable.as_str()));
    }

    #[test]
    fn binary_values_are_unpadded_base64_on_the_wire() {
        let mut md = Metadata::new();
        md.insert_bin("token-bin", [0x00, 0x01, 0x02, 0x03])
            .unwrap();
        // 00 01 02 03 → "AAECAw" (padded would be "AAECAw==").
        assert_eq!(wire(&md).get("token-bin").unwrap().as_bytes(), b"AAECAw");
        assert_eq!(
            md.get_bin("token-bin"),
            Some(Ok(Bytes::from_static(&[0, 1, 2, 3])))
        );
        md.append_bin("token-bin", b"\xff\xfe").unwrap();
        // ff fe → "//4".
        assert_eq!(
            wire(&md)
                .get_all("token-bin")
                .iter()
                .nth(1)
                .unwrap()
                .as_bytes(),
            b"//4"
        );
        assert_eq!(
            md.get_all_bin("token-bin"),
            Ok(vec![
                Bytes::from_static(&[0, 1, 2, 3]),
                Bytes::from_static(&[0xff, 0xfe])
            ])
        );
        md.insert_bin("token-bin", b"").unwrap();
        assert_eq!(md.get_all_bin("token-bin"), Ok(vec![Bytes::new()]));
    }

    #[test]
    fn wrong_kind() {
        let mut md = Metadata::new();
        assert_eq!(
            md.insert("a-bin", "x"),
            Err(MetadataError::WrongKind("a-bin".into()))
        );
        assert_eq!(
            md.append("a-bin", "x"),
            Err(MetadataError::WrongKind("a-bin".into()))
        );
        assert_eq!(
            md.insert_bin("a", b"x"),
            Err(MetadataError::WrongKind("a".into()))
        );
        assert_eq!(
            md.append_bin("a", b"x"),
            Err(MetadataError::WrongKind("a".into()))
        );
        md.insert("a", "text").unwrap();
        md.insert_bin("a-bin", b"\x01").unwrap();
        assert_eq!(md.get("a-bin"), None);
        assert!(md.get_all("a-bin").is_empty());
        assert_eq!(
            md.get_bin("a"),
            Some(Err(MetadataError::WrongKind("a".into())))
        );
        assert_eq!(
            md.get_all_bin("a"),
            Err(MetadataError::WrongKind("a".into()))
        );
        assert_eq!(md.len(), 2);
    }

    #[test]
    fn reserved_keys_are_refused() {
        let mut md = Metadata::new();
        for key in [
            ":path",
            ":authority",
            "grpc-status",
            "grpc-message",
            "grpc-timeout",
            "grpc-custom",
            "content-type",
            "te",
            "user-agent",
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
            "host",
        ] {
            assert!(is_reserved(key), "{key}");
            assert_eq!(
                md.insert(key, "v"),
                Err(MetadataError::Reserved(key.into())),
                "{key}"
            );
            assert_eq!(
                md.append(key, "v"),
                Err(MetadataError::Reserved(key.into())),
                "{key}"
            );
        }
        assert_eq!(
            md.insert_bin("grpc-status-details-bin", b"x"),
            Err(MetadataError::Reserved("grpc-status-details-bin".into()))
        );
        assert_eq!(
            md.append_bin("grpc-trace-bin", b"x"),
            Err(MetadataError::Reserved("grpc-trace-bin".into()))
        );
        assert!(is_reserved("Grpc-Foo"));
        assert!(is_reserved("Content-Type"));
        // Near misses are fine.
        for key in [
            "grpc",
            "grpcx-a",
            "tee",
            "hosts",
            "x-user-agent",
            "content-types",
            "",
        ] {
            assert!(!is_reserved(key), "{key}");
        }
        assert!(md.is_empty());
    }

    #[test]
    fn invalid_keys_and_values() {
        let mut md = Metadata::new();
        for key in ["", "Upper", "sp ace", "semi;colon", "ütf8", "tab\t"] {
            assert_eq!(
                md.insert(key, "v"),
                Err(MetadataError::InvalidKey(key.into())),
                "{key}"
            );
        }
        assert_eq!(
            md.insert_bin("X-bin", b"v"),
            Err(MetadataError::InvalidKey("X-bin".into()))
        );
        for value in ["tab\there", "new\nline", "del\x7f", "é"] {
            assert_eq!(
                md.insert("k", value),
                Err(MetadataError::InvalidValue(value.into())),
                "{value:?}"
            );
        }
        // Every allowed key byte.
        md.insert("0123456789abcdefghijklmnopqrstuvwxyz_-.", "v")
            .unwrap();
        assert_eq!(md.len(), 1);
    }

    #[test]
    fn decode_bin_padding() {
        // "hi" = 68 69 → "aGk" unpadded, "aGk=" padded.
        assert_eq!(decode_bin(b"aGk"), Ok(Bytes::from_static(b"hi")));
        assert_eq!(decode_bin(b"aGk="), Ok(Bytes::from_static(b"hi")));
        // "h" → "aA" / "aA==".
        assert_eq!(decode_bin(b"aA"), Ok(Bytes::from_static(b"h")));
        assert_eq!(decode_bin(b"aA=="), Ok(Bytes::from_static(b"h")));
        // Partial padding is tolerated too (the engine is padding-indifferent).
        assert_eq!(decode_bin(b"aA="), Ok(Bytes::from_static(b"h")));
        assert_eq!(decode_bin(b""), Ok(Bytes::new()));
        assert_eq!(encode_bin(b"hi"), "aGk");
        assert_eq!(encode_bin(b"h"), "aA");
        assert_eq!(encode_bin(b"\xfb\xff"), "+/8");
    }

    #[test]
    fn decode_bin_invalid() {
        for bad in [
            &b"a"[..],
            b"!!!!",
            b"aGk=x",
            b"aG k",
            b"-_8",
            b"=aGk",
            b"aGk==",
        ] {
            assert_eq!(
                decode_bin(bad),
                Err(MetadataError::InvalidBase64(lossy(bad))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn comma_joined_bin_values() {
        let mut h = HeaderMap::new();
        // Two values folded into one header, one padded, with spaces around the comma.
        h.append("blob-bin", hv(b"AAECAw== , //4"));
        h.append("blob-bin", hv(b"aGk"));
        let md = Metadata::from_headers(h);
        assert_eq!(
            md.get_all_bin("blob-bin"),
            Ok(vec![
                Bytes::from_static(&[0, 1, 2, 3]),
                Bytes::from_static(&[0xff, 0xfe]),
                Bytes::from_static(b"hi"),
            ])
        );
        assert_eq!(
            md.get_bin("blob-bin"),
            Some(Ok(Bytes::from_static(&[0, 1, 2, 3])))
        );
        // One bad piece fails the whole list, naming the piece.
        let mut h = HeaderMap::new();
        h.append("blob-bin", hv(b"aGk,!!"));
        let md = Metadata::from_headers(h);
        assert_eq!(
            md.get_all_bin("blob-bin"),
            Err(MetadataError::InvalidBase64("!!".into()))
        );
        // ...but the first one alone is still readable.
        assert_eq!(md.get_bin("blob-bin"), Some(Ok(Bytes::from_static(b"hi"))));
        assert_eq!(md.get_bin("other-bin"), None);
    }

    #[test]
    fn from_headers_drops_reserved_keeps_user_agent() {
        let mut h = HeaderMap::new();
        h.append("content-type", hv(b"application/grpc"));
        h.append("te", hv(b"trailers"));
        h.append("grpc-timeout", hv(b"1S"));
        h.append("grpc-encoding", hv(b"gzip"));
        h.append("user-agent", hv(b"grpc-go/1.60"));
        h.append("x-a", hv(b"1"));
        h.append("x-a", hv(b"2"));
        h.append("connection", hv(b"close"));
        h.append("x-b-bin", hv(b"AQ"));
        let md = Metadata::from_headers(h);
        assert_eq!(md.len(), 4);
        assert_eq!(md.get("user-agent"), Some("grpc-go/1.60"));
        assert_eq!(md.get_all("x-a"), vec!["1", "2"]);
        assert_eq!(md.get("content-type"), None);
        assert_eq!(md.get("te"), None);
        assert_eq!(md.get("grpc-timeout"), None);
        assert_eq!(md.get("connection"), None);
        assert_eq!(md.get_bin("x-b-bin"), Some(Ok(Bytes::from_static(&[1]))));
        // The hidden entries stay hidden from every other view too.
        let keys: Vec<&str> = md.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["user-agent", "x-a", "x-a", "x-b-bin"]);
        assert_eq!(wire(&md).len(), 4);
        assert!(wire(&md).get("grpc-timeout").is_none());
        let mut sent = Metadata::new();
        sent.append("x-a", "1").unwrap();
        sent.append("x-a", "2").unwrap();
        sent.append_bin("x-b-bin", [1]).unwrap();
        assert_ne!(md, sent, "user-agent still differs");
        let mut md = md;
        assert!(!md.remove("te"), "a hidden key is not there to remove");
        assert!(md.remove("user-agent"));
        assert_eq!(md, sent);
        assert_eq!(format!("{md:?}"), format!("{sent:?}"));
        let mut h = HeaderMap::new();
        h.append("grpc-status-details-bin", hv(b"AQ"));
        let md = Metadata::from_headers(h);
        assert!(md.is_empty());
        assert_eq!(md.get_bin("grpc-status-details-bin"), None);
        assert_eq!(md.get_all_bin("grpc-status-details-bin"), Ok(vec![]));
    }

    #[test]
    fn from_headers_keeps_invalid_values_and_iter_reports_them() {
        let mut h = HeaderMap::new();
        h.append("bad-bin", hv(b"***"));
        h.append("text", hv(b"caf\xc3\xa9"));
        h.append("tabbed", hv(b"a\tb"));
        let md = Metadata::from_headers(h);
        assert_eq!(md.len(), 3);
        let entries: Vec<_> = md.iter().collect();
        assert_eq!(
            entries,
            vec![
                ("bad-bin", Err(MetadataError::InvalidBase64("***".into()))),
                ("text", Err(MetadataError::InvalidValue("café".into()))),
                // HTTP allows a tab inside a field value; we read it back as is.
                ("tabbed", Ok(MetadataValue::Ascii("a\tb"))),
            ]
        );
        assert_eq!(md.get("text"), None);
        assert!(md.get_all("text").is_empty());
        assert_eq!(
            md.get_bin("bad-bin"),
            Some(Err(MetadataError::InvalidBase64("***".into())))
        );
    }

    #[test]
    fn iter_yields_every_entry_in_order() {
        let mut md = Metadata::new();
        md.insert("b", "1").unwrap();
        md.append_bin("a-bin", [7]).unwrap();
        md.append("b", "x,y").unwrap();
        md.append_bin("a-bin", [8, 9]).unwrap();
        md.insert("c", "3").unwrap();
        let entries: Vec<_> = md.iter().collect();
        assert_eq!(
            entries,
            vec![
                ("b", Ok(MetadataValue::Ascii("1"))),
                // A comma in an ASCII value is just a character.
                ("b", Ok(MetadataValue::Ascii("x,y"))),
                ("a-bin", Ok(MetadataValue::Binary(Bytes::from_static(&[7])))),
                (
                    "a-bin",
                    Ok(MetadataValue::Binary(Bytes::from_static(&[8, 9])))
                ),
                ("c", Ok(MetadataValue::Ascii("3"))),
            ]
        );
        // A folded -bin header yields one entry per value.
        let mut h = HeaderMap::new();
        h.append("z-bin", hv(b"Bw,CAk"));
        let md = Metadata::from_headers(h);
        let entries: Vec<_> = md.iter().collect();
        assert_eq!(
            entries,
            vec![
                ("z-bin", Ok(MetadataValue::Binary(Bytes::from_static(&[7])))),
                (
                    "z-bin",
                    Ok(MetadataValue::Binary(Bytes::from_static(&[8, 9])))
                ),
            ]
        );
    }

    #[test]
    fn remove_keeps_order() {
        let mut md = Metadata::new();
        md.insert("a", "1").unwrap();
        md.insert("b", "2").unwrap();
        md.append("b", "3").unwrap();
        md.insert("c", "4").unwrap();
        md.insert("d", "5").unwrap();
        assert!(md.remove("b"));
        assert!(!md.remove("b"));
        assert!(!md.remove("never"));
        let keys: Vec<_> = md.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["a", "c", "d"]);
        assert_eq!(md.len(), 3);
    }

    #[test]
    fn write_to_appends_wire_form() {
        let mut md = Metadata::new();
        md.insert("x", "1").unwrap();
        md.append("x", "2").unwrap();
        md.insert_bin("y-bin", b"hi").unwrap();
        let mut dst = HeaderMap::new();
        dst.insert("x", hv(b"0"));
        md.write_to(&mut dst);
        let xs: Vec<_> = dst
            .get_all("x")
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect();
        // Appended after what was already there, not replacing it.
        assert_eq!(xs, vec![b"0".to_vec(), b"1".to_vec(), b"2".to_vec()]);
        assert_eq!(dst.get("y-bin").unwrap().as_bytes(), b"aGk");
        assert_eq!(dst.len(), 4);
    }
}
