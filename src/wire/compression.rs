//! Message compression: `grpc-encoding`, `grpc-accept-encoding`, and gzip.
//!
//! Layer: wire (sans-IO). Spec: PROTOCOL-HTTP2.md ("Message-Encoding",
//! "Message-Accept-Encoding") and doc/compression.md.
//!
//! ```text
//!  request head   grpc-encoding: gzip              how THIS side's messages may be compressed
//!                 grpc-accept-encoding: gzip       what this side can decompress
//!  each message   [1][len][gzip bytes]             flag 1 = compressed with grpc-encoding
//!                 [0][len][plain bytes]            flag 0 = sent as is, allowed on any call
//! ```
//!
//! Compression is per message: a call that negotiated gzip may still send a
//! message uncompressed (flag 0). A receiver that gets flag 1 on a call whose
//! `grpc-encoding` it does not know answers `UNIMPLEMENTED` and lists what it
//! accepts. Decompression is bounded by the receive limit: a message that
//! inflates past it is `RESOURCE_EXHAUSTED`, found while inflating, so a
//! small "bomb" never costs more than the limit in memory.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderName;

use super::status::Status;

/// The `grpc-encoding` header. A `HeaderName` constant, not a `&str`: `http`
/// copies a `&str` name into a fresh allocation on every insert.
pub const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");

/// The `grpc-accept-encoding` header.
pub const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");

/// What this crate accepts, as advertised in `grpc-accept-encoding` (identity is implied).
pub const ACCEPT_ENCODING: &str = "gzip";

/// A message encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
}

impl Encoding {
    /// The name used in `grpc-encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
        }
    }

    /// The encoding for a `grpc-encoding` value; `None` if we do not support it.
    pub fn from_name(name: &[u8]) -> Option<Encoding> {
        match name.trim_ascii() {
            b"identity" => Some(Encoding::Identity),
            b"gzip" => Some(Encoding::Gzip),
            _ => None,
        }
    }

    /// True when `accept` (a `grpc-accept-encoding` value, comma separated)
    /// lists this encoding. Identity is always accepted.
    pub fn is_accepted_by(self, accept: Option<&[u8]>) -> bool {
        if self == Encoding::Identity {
            return true;
        }
        let Some(accept) = accept else { return false };
        accept
            .split(|&b| b == b',')
            .any(|name| name.trim_ascii() == self.as_str().as_bytes())
    }
}

/// Turns compression on or off per message on a call that negotiated an encoding.
///
/// The sending loop reads the switch as it encodes each message, so flipping it
/// before a request (or response) stream yields a message decides that
/// message's compressed flag. On by default.
#[derive(Clone, Debug)]
pub struct CompressionToggle(Arc<AtomicBool>);

impl Default for CompressionToggle {
    fn default() -> Self {
        CompressionToggle(Arc::new(AtomicBool::new(true)))
    }
}

impl CompressionToggle {
    /// Compress the messages that follow (`true`) or send them plain (`false`).
    pub fn set(&self, enabled: bool) {
        self.0.store(enabled, Ordering::Release);
    }
    /// Whether the next message will be compressed.
    pub fn is_enabled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// How one call compresses what it sends: the encoding, and the per-message switch.
#[derive(Clone, Debug, Default)]
pub struct SendCompression {
    /// The negotiated encoding; `None` sends every message plain.
    pub encoding: Option<Encoding>,
    /// Per-message on/off.
    pub toggle: Option<CompressionToggle>,
}

impl SendCompression {
    /// The encoding to use for the next message, if any.
    pub fn for_next_message(&self) -> Option<Encoding> {
        let encoding = self.encoding.filter(|e| *e != Encoding::Identity)?;
        match &self.toggle {
            Some(toggle) if !toggle.is_enabled() => None,
            _ => Some(encoding),
        }
    }
}

/// Reads a received `grpc-encoding`: `Ok(None)` for none or identity, the
/// encoding if supported, else `UNIMPLEMENTED` naming what we accept.
pub fn negotiate(grpc_encoding: Option<&[u8]>) -> Result<Option<Encoding>, Status> {
    match grpc_encoding {
        None => Ok(None),
        Some(name) => match Encoding::from_name(name) {
            Some(Encoding::Identity) => Ok(None),
            Some(encoding) => Ok(Some(encoding)),
            None => Err(Status::unimplemented(format!(
                "grpc-encoding {:?} is not supported (accepted: identity,{ACCEPT_ENCODING})",
                String::from_utf8_lossy(name)
            ))),
        },
    }
}

/// Appends `src` compressed with `encoding` to `dst`.
pub fn compress(encoding: Encoding, src: &[u8], dst: &mut BytesMut) -> Result<(), Status> {
    match encoding {
        Encoding::Identity => {
            dst.extend_from_slice(src);
            Ok(())
        }
        Encoding::Gzip => {
            // Level 6 is zlib's default: the usual balance, and what grpc-go uses.
            let mut encoder =
                flate2::write::GzEncoder::new(dst.writer(), flate2::Compression::new(6));
            encoder
                .write_all(src)
                .and_then(|()| encoder.finish().map(drop))
                .map_err(|e| Status::internal(format!("gzip compression failed: {e}")))
        }
    }
}

/// Inflates `src`, refusing to produce more than `max` bytes.
///
/// Bad data → `INTERNAL`; over the limit → `RESOURCE_EXHAUSTED`.
pub fn decompress(encoding: Encoding, src: Bytes, max: usize) -> Result<Bytes, Status> {
    match encoding {
        Encoding::Identity => Ok(src),
        Encoding::Gzip => {
            let decoder = flate2::read::GzDecoder::new(&src[..]);
            // Read at most max+1 bytes: one byte past the limit proves it is exceeded.
            let mut limited = decoder.take(max as u64 + 1);
            // Start small; the vector grows only as real output appears.
            let mut out = Vec::with_capacity(src.len().saturating_mul(2).min(max).min(64 * 1024));
            limited
                .read_to_end(&mut out)
                .map_err(|e| Status::internal(format!("invalid gzip message: {e}")))?;
            if out.len() > max {
                return Err(Status::resource_exhausted(format!(
                    "decompressed message larger than max ({max} bytes)"
                )));
            }
            Ok(Bytes::from(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::status::Code;

    #[test]
    fn names() {
        assert_eq!(Encoding::from_name(b"gzip"), Some(Encoding::Gzip));
        assert_eq!(Encoding::from_name(b" identity "), Some(Encoding::Identity));
        assert_eq!(Encoding::from_name(b"br"), None);
        assert!(Encoding::Gzip.is_accepted_by(Some(b"deflate, gzip")));
        assert!(!Encoding::Gzip.is_accepted_by(Some(b"deflate,identity")));
        assert!(!Encoding::Gzip.is_accepted_by(None));
        assert!(Encoding::Identity.is_accepted_by(None));
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(None).unwrap(), None);
        assert_eq!(negotiate(Some(b"identity")).unwrap(), None);
        assert_eq!(negotiate(Some(b"gzip")).unwrap(), Some(Encoding::Gzip));
        assert_eq!(
            negotiate(Some(b"snappy")).unwrap_err().code(),
            Code::Unimplemented
        );
    }

    #[test]
    fn gzip_round_trip_and_magic() {
        let mut buf = BytesMut::new();
        compress(Encoding::Gzip, b"hello hello hello", &mut buf).unwrap();
        // gzip member header: magic 1f 8b, method 08 (deflate).
        assert_eq!(&buf[..3], &[0x1f, 0x8b, 0x08]);
        assert_eq!(
            &decompress(Encoding::Gzip, buf.freeze(), 100).unwrap()[..],
            b"hello hello hello"
        );
    }

    #[test]
    fn not_gzip_is_internal() {
        let err = decompress(Encoding::Gzip, Bytes::from_static(b"plain text"), 100).unwrap_err();
        assert_eq!(err.code(), Code::Internal);
    }

    #[test]
    fn bomb_is_resource_exhausted_at_the_limit() {
        // 64 MiB of zeros compresses to ~64 KiB; the limit stops inflation at 1 MiB + 1.
        let zeros = vec![0u8; 64 << 20];
        let mut bomb = BytesMut::new();
        compress(Encoding::Gzip, &zeros, &mut bomb).unwrap();
        assert!(bomb.len() < 100 * 1024);
        let err = decompress(Encoding::Gzip, bomb.freeze(), 1 << 20).unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted);
    }

    #[test]
    fn exactly_the_limit_is_fine() {
        let data = vec![7u8; 1000];
        let mut buf = BytesMut::new();
        compress(Encoding::Gzip, &data, &mut buf).unwrap();
        assert_eq!(
            decompress(Encoding::Gzip, buf.clone().freeze(), 1000)
                .unwrap()
                .len(),
            1000
        );
        assert!(decompress(Encoding::Gzip, buf.freeze(), 999).is_err());
    }
}
