//! HTTP/2 framing for the frame trace: the preface, frame headers, and the
//! fixed-layout payloads, read from a byte stream fed in any pieces.
//!
//! Layer: trace (sans-IO: no sockets, no async; bytes in, pieces out).
//! Spec: RFC 9113 §3.4 (preface), §4.1 (frame layout), §6 (frame types).
//!
//! ```text
//!  client → server:  PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n   (24 bytes, once)   then frames
//!  server → client:  frames from the first byte (its SETTINGS is its preface)
//!
//!  every frame:
//!  +-----------------------------------------------+
//!  |                 Length (24)                   |   payload bytes, after these 9
//!  +---------------+---------------+---------------+
//!  |   Type (8)    |   Flags (8)   |
//!  +-+-------------+---------------+-------------------------------+
//!  |R|                 Stream Identifier (31)                      |   0 = the connection
//!  +=+=============================================================+
//!  |                   Frame Payload (Length bytes)              ...
//!  +---------------------------------------------------------------+
//! ```
//!
//! [`FrameReader`] hands out [`Piece`]s: the preface, each frame header, the
//! payload in the pieces it arrived in, and the frame's end. It keeps nothing
//! but the 9-byte header, so a 16 MiB DATA frame costs it no memory; the
//! caller decides what to keep. The `parse_*` functions read the payloads
//! whose layout is fixed.

use std::fmt::{self, Write};

/// The client connection preface (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Length, type, flags, stream id.
pub(crate) const FRAME_HEADER_LEN: usize = 9;

// Frame types (RFC 9113 §6).
pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const PRIORITY: u8 = 0x2;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PUSH_PROMISE: u8 = 0x5;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const WINDOW_UPDATE: u8 = 0x8;
pub(crate) const CONTINUATION: u8 = 0x9;

// Flags; which apply depends on the type (RFC 9113 §6).
pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const PADDED: u8 = 0x8;
pub(crate) const PRIORITY_FLAG: u8 = 0x20;

/// SETTINGS_HEADER_TABLE_SIZE: the HPACK table the sender lets its peer use.
pub(crate) const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;

/// One frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// Payload length in bytes.
    pub(crate) len: usize,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    /// The stream, with the reserved bit cleared; 0 is the connection.
    pub(crate) stream: u32,
}

impl FrameHeader {
    /// Reads the 9 header bytes.
    pub(crate) fn parse(h: [u8; FRAME_HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            len: usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]),
            kind: h[3],
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        }
    }

    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// The name of a frame type.
pub(crate) fn kind_name(kind: u8) -> String {
    let name = match kind {
        DATA => "DATA",
        HEADERS => "HEADERS",
        PRIORITY => "PRIORITY",
        RST_STREAM => "RST_STREAM",
        SETTINGS => "SETTINGS",
        PUSH_PROMISE => "PUSH_PROMISE",
        PING => "PING",
        GOAWAY => "GOAWAY",
        WINDOW_UPDATE => "WINDOW_UPDATE",
        CONTINUATION => "CONTINUATION",
        other => return format!("type 0x{other:02x}"),
    };
    name.to_owned()
}

/// The flags of a header by name, `|`-separated; bits the type does not
/// define are shown in hex. Empty when none are set.
pub(crate) fn flag_names(header: &FrameHeader) -> String {
    let known: &[(u8, &str)] = match header.kind {
        DATA => &[(END_STREAM, "END_STREAM"), (PADDED, "PADDED")],
        HEADERS => &[
            (END_STREAM, "END_STREAM"),
            (END_HEADERS, "END_HEADERS"),
            (PADDED, "PADDED"),
            (PRIORITY_FLAG, "PRIORITY"),
        ],
        SETTINGS | PING => &[(ACK, "ACK")],
        PUSH_PROMISE => &[(END_HEADERS, "END_HEADERS"), (PADDED, "PADDED")],
        CONTINUATION => &[(END_HEADERS, "END_HEADERS")],
        _ => &[],
    };
    let mut out = String::new();
    let mut rest = header.flags;
    for &(bit, name) in known {
        if header.flags & bit != 0 {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        let _ = write!(out, "0x{rest:02x}");
    }
    out
}

/// A piece of the byte stream, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// The 24-byte client preface, whole and correct.
    Preface,
    /// The stream did not start with the preface; the reader reads no further.
    NotHttp2,
    /// A frame header; its payload follows.
    Header(FrameHeader),
    /// Bytes of the current frame's payload.
    Payload(&'a [u8]),
    /// The current frame's payload is complete.
    End,
}

/// Where the reader is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadState {
    /// Matching the preface; this many bytes of it matched so far.
    Preface(usize),
    /// Collecting a 9-byte frame header; this many bytes so far.
    Header(usize),
    /// Inside a payload; this many bytes left.
    Payload(usize),
    /// Not HTTP/2: everything after is ignored.
    Stopped,
}

/// Splits one direction of an HTTP/2 connection into [`Piece`]s.
#[derive(Debug)]
pub(crate) struct FrameReader {
    state: ReadState,
    header: [u8; FRAME_HEADER_LEN],
}

impl FrameReader {
    /// For the bytes a client sends: the preface first.
    pub(crate) fn client_to_server() -> FrameReader {
        FrameReader {
            state: ReadState::Preface(0),
            header: [0; FRAME_HEADER_LEN],
        }
    }

    /// For the bytes a server sends: frames from the first byte.
    pub(crate) fn server_to_client() -> FrameReader {
        FrameReader {
            state: ReadState::Header(0),
            header: [0; FRAME_HEADER_LEN],
        }
    }

    /// Feeds the next bytes of the stream; `on` gets each piece they complete.
    pub(crate) fn feed<'a>(&mut self, mut bytes: &'a [u8], mut on: impl FnMut(Piece<'a>)) {
        while !bytes.is_empty() {
            match self.state {
                ReadState::Stopped => return,
                ReadState::Preface(matched) => {
                    let n = (PREFACE.len() - matched).min(bytes.len());
                    if bytes[..n] != PREFACE[matched..matched + n] {
                        self.state = ReadState::Stopped;
                        on(Piece::NotHttp2);
                        return;
                    }
                    bytes = &bytes[n..];
                    self.state = if matched + n == PREFACE.len() {
                        on(Piece::Preface);
                        ReadState::Header(0)
                    } else {
                        ReadState::Preface(matched + n)
                    };
                }
                ReadState::Header(filled) => {
                    let n = (FRAME_HEADER_LEN - filled).min(bytes.len());
                    self.header[filled..filled + n].copy_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if filled + n < FRAME_HEADER_LEN {
                        self.state = ReadState::Header(filled + n);
                        continue;
                    }
                    let header = FrameHeader::parse(self.header);
                    on(Piece::Header(header));
                    if header.len == 0 {
                        on(Piece::End);
                        self.state = ReadState::Header(0);
                    } else {
                        self.state = ReadState::Payload(header.len);
                    }
                }
                ReadState::Payload(left) => {
                    let n = left.min(bytes.len());
                    on(Piece::Payload(&bytes[..n]));
                    bytes = &bytes[n..];
                    if n == left {
                        on(Piece::End);
                        self.state = ReadState::Header(0);
                    } else {
                        self.state = ReadState::Payload(left - n);
                    }
                }
            }
        }
    }
}

/// A payload whose layout does not match its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// SETTINGS: (identifier, value) pairs, 6 bytes each (§6.5.1).
pub(crate) fn parse_settings(payload: &[u8]) -> Result<Vec<(u16, u32)>, Malformed> {
    if !payload.len().is_multiple_of(6) {
        return Err(Malformed("SETTINGS length is not a multiple of 6"));
    }
    Ok(payload
        .chunks_exact(6)
        .map(|s| {
            let id = u16::from_be_bytes([s[0], s[1]]);
            (id, u32::from_be_bytes([s[2], s[3], s[4], s[5]]))
        })
        .collect())
}

/// The name of a setting (§6.5.2; 0x8 from RFC 8441).
pub(crate) fn setting_name(id: u16) -> String {
    let name = match id {
        0x1 => "HEADER_TABLE_SIZE",
        0x2 => "ENABLE_PUSH",
        0x3 => "MAX_CONCURRENT_STREAMS",
        0x4 => "INITIAL_WINDOW_SIZE",
        0x5 => "MAX_FRAME_SIZE",
        0x6 => "MAX_HEADER_LIST_SIZE",
        0x8 => "ENABLE_CONNECT_PROTOCOL",
        other => return format!("0x{other:04x}"),
    };
    name.to_owned()
}

/// A 4-byte big-endian word with the reserved top bit cleared.
fn word31(b: &[u8]) -> Option<u32> {
    let w: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(w) & 0x7fff_ffff)
}

fn word32(b: &[u8]) -> Option<u32> {
    let w: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(w))
}

/// WINDOW_UPDATE: the window size increment (§6.9).
pub(crate) fn parse_window_update(payload: &[u8]) -> Result<u32, Malformed> {
    match payload.len() {
        4 => word31(payload).ok_or(Malformed("WINDOW_UPDATE")),
        _ => Err(Malformed("WINDOW_UPDATE length is not 4")),
    }
}

/// RST_STREAM: the error code (§6.4).
pub(crate) fn parse_rst_stream(payload: &[u8]) -> Result<u32, Malformed> {
    match payload.len() {
        4 => word32(payload).ok_or(Malformed("RST_STREAM")),
        _ => Err(Malformed("RST_STREAM length is not 4")),
    }
}

/// GOAWAY: last stream id, error code, debug data (§6.8).
pub(crate) fn parse_goaway(payload: &[u8]) -> Result<(u32, u32, &[u8]), Malformed> {
    let bad = Malformed("GOAWAY shorter than 8 bytes");
    let last = word31(payload).ok_or(bad.clone())?;
    let code = payload.get(4..).and_then(word32).ok_or(bad)?;
    Ok((last, code, &payload[8..]))
}

/// PRIORITY (the frame, or the HEADERS priority fields): (exclusive,
/// stream dependency, weight 1–256) (§5.3.2 of RFC 7540; deprecated by RFC 9113 §5.3.2).
pub(crate) fn parse_priority(payload: &[u8]) -> Result<(bool, u32, u16), Malformed> {
    let bad = Malformed("PRIORITY fields shorter than 5 bytes");
    let exclusive = payload.first().ok_or(bad.clone())? & 0x80 != 0;
    let dependency = word31(payload).ok_or(bad.clone())?;
    let weight = *payload.get(4).ok_or(bad)?;
    Ok((exclusive, dependency, u16::from(weight) + 1))
}

/// The header block fragment of a whole HEADERS or PUSH_PROMISE payload:
/// padding (PADDED) and the priority fields or promised stream id removed.
/// Returns (extra fields, fragment, pad length).
pub(crate) fn header_block<'a>(
    header: &FrameHeader,
    payload: &'a [u8],
) -> Result<(&'a [u8], &'a [u8], usize), Malformed> {
    let (body, pad) = unpad(header, payload)?;
    let extra = match header.kind {
        HEADERS if header.has(PRIORITY_FLAG) => 5,
        PUSH_PROMISE => 4,
        _ => 0,
    };
    if body.len() < extra {
        return Err(Malformed("frame too short for its fields"));
    }
    let (fields, fragment) = body.split_at(extra);
    Ok((fields, fragment, pad))
}

/// Strips the padding of a whole payload (§6.1): the pad length byte in
/// front, that many bytes at the end.
pub(crate) fn unpad<'a>(
    header: &FrameHeader,
    payload: &'a [u8],
) -> Result<(&'a [u8], usize), Malformed> {
    if !header.has(PADDED) {
        return Ok((payload, 0));
    }
    let (&pad, rest) = payload
        .split_first()
        .ok_or(Malformed("PADDED frame without a pad length"))?;
    let pad = usize::from(pad);
    if pad > rest.len() {
        return Err(Malformed("padding longer than the payload"));
    }
    Ok((&rest[..rest.len() - pad], pad))
}

/// The name of an error code (RFC 9113 §7).
pub(crate) fn error_name(code: u32) -> String {
    let name = match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        other => return format!("0x{other:x}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests;
