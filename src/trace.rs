//! The wire trace: one readable line per protocol event, with the gRPC meaning of the bytes.
//!
//! Layer: beside the h2 glue, which calls these functions at each event.
//! Everything goes to `tracing` under the target [`TARGET`] at `TRACE`
//! level, so it composes with any subscriber; when that target is disabled,
//! each call is one cheap `enabled!` check and nothing is formatted.
//! The binaries turn it on with `--trace` or `H2GRPC_TRACE=1`.
//!
//! ```text
//! client → HEADERS   :method POST  :scheme http  :authority 127.0.0.1:50051  :path /ecommerce.OrderManagement/getOrder  te trailers ...
//! client → MESSAGE   prefix 00 00000005 (compressed=0 len=5)  payload 0a 03 31 30 32
//!                     decoded "102"
//! server → HEADERS   :status 200  content-type application/grpc  grpc-status 5  grpc-message order 999 not found  [END_STREAM: Trailers-Only]  = NOT_FOUND, message "order 999 not found"
//! ```
//!
//! `→` is a frame this side sends, `←` one it receives; the side is named first.
//! Each line shows what went on the wire, not a model of it: the request's
//! own `:method` and `:scheme`; the 5-byte prefix as received (the
//! decoder keeps it, `wire::frame::Decoder::last_prefix`), also when it is
//! refused; "Trailers-Only" only for a head whose HEADERS frame carried
//! END_STREAM (PROTOCOL-HTTP2.md: "Trailers-Only → HTTP-Status Content-Type
//! Trailers", one HEADERS frame that ends the stream), whether or not it
//! holds a `grpc-status`. `grpc-message` is shown raw and decoded: spaces
//! travel as they are (`Percent-Byte-Unencoded → 1*( %x20-%x24 / %x26-%x7E )`).
//!
//! What this trace cannot show is the HTTP/2 framing itself (which DATA frame
//! carried which bytes, SETTINGS, WINDOW_UPDATE, PING, HPACK): that is the
//! frame trace, [`frames`], captured at the socket.

mod data;
pub mod frames;
mod h2frame;
mod hpack;
mod hpack_table;

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

/// A request head: the pseudo-headers from the request itself, then every header in order.
pub(crate) fn request_head(
    side: Side,
    dir: Dir,
    method: &http::Method,
    uri: &http::Uri,
    headers: &HeaderMap,
) {
    emit(
        side,
        dir,
        "HEADERS",
        &request_head_line(method, uri, headers),
    );
}

/// The pseudo-headers in the order h2 writes them (`:method :scheme
/// :authority :path`: all before the other fields, RFC 9113 §8.3), each only
/// when present.
fn request_head_line(method: &http::Method, uri: &http::Uri, headers: &HeaderMap) -> String {
    let mut out = format!(":method {method}");
    if let Some(scheme) = uri.scheme_str() {
        let _ = write!(out, "  :scheme {scheme}");
    }
    if let Some(authority) = uri.authority() {
        let _ = write!(out, "  :authority {authority}");
    }
    let _ = write!(out, "  :path {}", uri.path());
    headers_line(&mut out, headers);
    out
}

/// A response head (`:status`, content-type, metadata…). `end_stream` is the
/// END_STREAM flag of its HEADERS frame: set, the head is the whole response
/// (Trailers-Only when it carries a `grpc-status`).
pub(crate) fn response_head(
    side: Side,
    dir: Dir,
    status: u16,
    headers: &HeaderMap,
    end_stream: bool,
) {
    emit(
        side,
        dir,
        "HEADERS",
        &response_head_line(status, headers, end_stream),
    );
}

fn response_head_line(status: u16, headers: &HeaderMap, end_stream: bool) -> String {
    let mut out = format!(":status {status}");
    headers_line(&mut out, headers);
    if end_stream {
        if headers.contains_key("grpc-status") {
            out.push_str("  [END_STREAM: Trailers-Only, the whole response in one HEADERS]");
        } else {
            out.push_str("  [END_STREAM, and no grpc-status]");
        }
    }
    out.push_str(&status_note(headers));
    out
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
/// `prefix` is the 5-byte prefix as it went on (or came off) the wire and
/// `payload` the bytes after it; for a compressed message `plain` is the
/// inflated payload.
pub(crate) fn message(
    side: Side,
    dir: Dir,
    prefix: [u8; frame::HEADER_LEN],
    payload: &[u8],
    plain: Option<&[u8]>,
    decoded: &dyn fmt::Debug,
) {
    emit(
        side,
        dir,
        "MESSAGE",
        &message_line(prefix, payload, plain, decoded),
    );
}

/// A prefix the receiver refused (bad flag, length over the limit), as it came.
pub(crate) fn refused_prefix(side: Side, prefix: [u8; frame::HEADER_LEN], why: &dyn fmt::Display) {
    emit(
        side,
        Dir::Recv,
        "MESSAGE",
        &format!("{}  refused: {why}", prefix_text(prefix)),
    );
}

fn prefix_text([flag, a, b, c, d]: [u8; frame::HEADER_LEN]) -> String {
    let len = u32::from_be_bytes([a, b, c, d]);
    format!("prefix {flag:02x} {a:02x}{b:02x}{c:02x}{d:02x} (compressed={flag} len={len})")
}

fn message_line(
    prefix: [u8; frame::HEADER_LEN],
    payload: &[u8],
    plain: Option<&[u8]>,
    decoded: &dyn fmt::Debug,
) -> String {
    let mut out = prefix_text(prefix);
    let _ = write!(out, "  payload {}", hex(payload));
    if let Some(plain) = plain {
        let _ = write!(out, "  inflated {}", hex(plain));
    }
    let mut shown = format!("{decoded:?}");
    if shown.chars().count() > DEBUG_CHARS {
        shown = shown.chars().take(DEBUG_CHARS).collect::<String>() + " …";
    }
    let _ = write!(out, "\n{:>20}decoded {shown}", "");
    out
}

/// RST_STREAM, with the reason and why.
pub(crate) fn reset(side: Side, dir: Dir, reason: h2::Reason, why: &str) {
    emit(side, dir, "RST_STREAM", &format!("{reason:?} ({why})"));
}

/// The deadline passed and the call was dropped. Dropping is all this layer
/// knows: h2 sends RST_STREAM(CANCEL) only for a stream that is still open
/// when its handles go (the server's trailers may have closed it first);
/// the frame trace shows which it was.
pub(crate) fn deadline_dropped(side: Side) {
    emit(
        side,
        Dir::Send,
        "DEADLINE",
        "exceeded: call dropped (h2 resets the stream with CANCEL if it is still open)",
    );
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
        // Spaces travel as they are; `%` and non-printable bytes are escaped.
        h.insert("grpc-message", "order 999: 50%25 done%0A".parse().unwrap());
        assert_eq!(
            status_note(&h),
            "  = NOT_FOUND, message \"order 999: 50% done\\n\""
        );
    }

    /// The request's own method and scheme are traced, not `POST http`.
    #[test]
    fn request_head_shows_the_method_and_scheme_it_had() {
        let uri: http::Uri = "https://example.com:8443/pkg.Svc/Get".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("te", "trailers".parse().unwrap());
        assert_eq!(
            request_head_line(&http::Method::GET, &uri, &h),
            ":method GET  :scheme https  :authority example.com:8443  :path /pkg.Svc/Get  te trailers"
        );
        // A server sees no scheme or authority when the request had none.
        let bare: http::Uri = "/pkg.Svc/Get".parse().unwrap();
        assert_eq!(
            request_head_line(&http::Method::POST, &bare, &HeaderMap::new()),
            ":method POST  :path /pkg.Svc/Get"
        );
    }

    /// Trailers-Only is what END_STREAM on the HEADERS frame says, not the
    /// presence of `grpc-status`.
    #[test]
    fn trailers_only_comes_from_end_stream() {
        let mut with_status = HeaderMap::new();
        with_status.insert("grpc-status", "5".parse().unwrap());
        let ended = response_head_line(200, &with_status, true);
        assert!(ended.contains("[END_STREAM: Trailers-Only"), "{ended}");
        // The same fields without END_STREAM: a head, more may follow.
        let open = response_head_line(200, &with_status, false);
        assert!(
            !open.contains("END_STREAM") && !open.contains("Trailers-Only"),
            "{open}"
        );
        assert!(open.ends_with("= NOT_FOUND"), "{open}");
        // END_STREAM without a status (a 503 from a proxy, say) is no Trailers-Only.
        let bare = response_head_line(503, &HeaderMap::new(), true);
        assert_eq!(bare, ":status 503  [END_STREAM, and no grpc-status]");
    }

    /// The prefix shown is the one given, byte for byte, including one a
    /// rebuilt prefix could never show (flag 2).
    #[test]
    fn message_shows_the_prefix_it_was_given() {
        let line = message_line([0, 0, 0, 0, 3], b"\x0a\x01x", None, &"x");
        assert!(
            line.starts_with("prefix 00 00000003 (compressed=0 len=3)  payload 0a 01 78\n"),
            "{line}"
        );
        assert!(line.ends_with("decoded \"x\""), "{line}");
        assert_eq!(
            prefix_text([2, 0, 0, 0x01, 0x00]),
            "prefix 02 00000100 (compressed=2 len=256)"
        );
    }
}
