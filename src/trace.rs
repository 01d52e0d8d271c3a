//! The wire trace: one readable line per protocol event, with the gRPC meaning of the bytes.
//!
//! Layer: beside the h2 glue, which calls these functions at each event.
//! Everything goes to `tracing` under the target [`TARGET`] at `TRACE`
//! level, so it composes with any subscriber; when that target is disabled,
//! each call is one cheap `enabled!` check and nothing is formatted.
//! The binaries turn it on with `--trace` or `H2GRPC_TRACE=1`.
//!
//! ```text
//! client → HEADERS   :method POST  :path /ecommerce.OrderManagement/getOrder  content-type application/grpc  te trailers ...
//! client → MESSAGE   prefix 00 00000005 (compressed=0 len=5)  payload 0a 03 31 30 32
//!                    decoded "102"
//! server ← MESSAGE   ...
//! server → TRAILERS  grpc-status 5 (NOT_FOUND)  grpc-message "order%20999%20not%20found" = "order 999 not found"
//! ```
//!
//! `→` is a frame this side sends, `←` one it receives; the side is named first.

use std::fmt::{self, Write};

use http::HeaderMap;

use crate::wire::frame;
use crate::wire::status::{Code, decode_message};

/// The `tracing` target of the wire trace.
pub const TARGET: &str = "h2grpc::wire";

/// Which end of the call is speaking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// Whether this side sends or receives the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Send,
    Recv,
}

impl Dir {
    fn arrow(self) -> &'static str {
        match self {
            Dir::Send => "→",
            Dir::Recv => "←",
        }
    }
}

/// True when the trace is on; callers skip all formatting otherwise.
#[inline]
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::TRACE)
}

fn emit(side: Side, dir: Dir, what: &str, text: &str) {
    tracing::trace!(target: TARGET, "{} {} {:<9} {}", side.name(), dir.arrow(), what, text);
}

/// Payload bytes shown in full up to this many; longer payloads are cut with a count.
const HEX_BYTES: usize = 48;

/// Decoded messages are shown up to this many characters.
const DEBUG_CHARS: usize = 240;

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().min(HEX_BYTES) * 3 + 24);
    for (i, b) in bytes.iter().take(HEX_BYTES).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    if bytes.len() > HEX_BYTES {
        let _ = write!(out, " … ({} bytes)", bytes.len());
    }
    out
}

fn headers_line(out: &mut String, headers: &HeaderMap) {
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let _ = write!(out, "  {name} {value}");
    }
}

/// A request head: the pseudo-headers, then every header in order.
pub(crate) fn request_head(side: Side, dir: Dir, path: &str, authority: &str, headers: &HeaderMap) {
    let mut out = format!(":method POST  :scheme http  :path {path}  :authority {authority}");
    headers_line(&mut out, headers);
    emit(side, dir, "HEADERS", &out);
}

/// A response head (`:status`, content-type, metadata…), or a Trailers-Only one.
pub(crate) fn response_head(side: Side, dir: Dir, status: u16, headers: &HeaderMap) {
    let trailers_only = headers.contains_key("grpc-status");
    let mut out = format!(":status {status}");
    headers_line(&mut out, headers);
    if trailers_only {
        out.push_str("  [Trailers-Only: the whole response in one HEADERS, END_STREAM]");
        out.push_str(&status_note(headers));
    }
    emit(side, dir, "HEADERS", &out);
}

/// Trailers: `grpc-status` with its name, `grpc-message` raw and decoded.
pub(crate) fn trailers(side: Side, dir: Dir, headers: &HeaderMap) {
    let mut out = String::new();
    headers_line(&mut out, headers);
    out.push_str(&status_note(headers));
    emit(side, dir, "TRAILERS", out.trim_start());
}

fn status_note(headers: &HeaderMap) -> String {
    let mut out = String::new();
    if let Some(code) = headers.get("grpc-status") {
        let _ = write!(out, "  = {}", Code::from_bytes(code.as_bytes()).as_str());
    }
    if let Some(message) = headers.get("grpc-message") {
        let _ = write!(out, ", message {:?}", decode_message(message.as_bytes()));
    }
    out
}

/// One framed message: its 5-byte prefix decoded, the payload in hex, the decoded value.
///
/// `framed` is prefix + payload as it goes on (or came off) the wire; for a
/// compressed message `plain` is the inflated payload.
pub(crate) fn message(
    side: Side,
    dir: Dir,
    framed: &[u8],
    plain: Option<&[u8]>,
    decoded: &dyn fmt::Debug,
) {
    let (prefix, payload) = framed.split_at(frame::HEADER_LEN.min(framed.len()));
    let mut out = String::new();
    if let [flag, a, b, c, d] = *prefix {
        let len = u32::from_be_bytes([a, b, c, d]);
        let _ = write!(
            out,
            "prefix {flag:02x} {a:02x}{b:02x}{c:02x}{d:02x} (compressed={flag} len={len})"
        );
    }
    let _ = write!(out, "  payload {}", hex(payload));
    if let Some(plain) = plain {
        let _ = write!(out, "  inflated {}", hex(plain));
    }
    let mut shown = format!("{decoded:?}");
    if shown.chars().count() > DEBUG_CHARS {
        shown = shown.chars().take(DEBUG_CHARS).collect::<String>() + " …";
    }
    let _ = write!(out, "\n{:>20}decoded {shown}", "");
    emit(side, dir, "MESSAGE", &out);
}

/// RST_STREAM, with the reason and why.
pub(crate) fn reset(side: Side, dir: Dir, reason: h2::Reason, why: &str) {
    emit(side, dir, "RST_STREAM", &format!("{reason:?} ({why})"));
}

/// GOAWAY, with the reason and why.
pub(crate) fn goaway(side: Side, dir: Dir, why: &str) {
    emit(side, dir, "GOAWAY", why);
}

/// A sender that must wait for the peer's flow-control window.
pub(crate) fn window_wait(bytes: usize) {
    tracing::trace!(target: TARGET, "flow: waiting for the peer's window to take {bytes} bytes");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_spaced_and_cut() {
        assert_eq!(hex(&[0, 0x0a, 0xff]), "00 0a ff");
        let long = vec![1u8; 100];
        assert!(hex(&long).ends_with("… (100 bytes)"));
    }

    #[test]
    fn status_note_names_code_and_decodes_message() {
        let mut h = HeaderMap::new();
        h.insert("grpc-status", "5".parse().unwrap());
        h.insert("grpc-message", "order%20999".parse().unwrap());
        assert_eq!(status_note(&h), "  = NOT_FOUND, message \"order 999\"");
    }
}
