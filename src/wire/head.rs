//! Request and response heads: the HTTP/2 HEADERS that open and close a call.
//!
//! Layer: wire (sans-IO). Spec: PROTOCOL-HTTP2.md, "Requests" and "Responses".
//!
//! ```text
//! Request-Headers  :method POST                  Response-Headers  :status 200
//!                  :scheme http                                    content-type application/grpc
//!                  :path /pkg.Service/Method                       [custom metadata]
//!                  :authority host:port
//!                  te: trailers                  Trailers          grpc-status 0
//!                  [grpc-timeout 1S]                               [grpc-message ...]
//!                  content-type application/grpc                   [custom metadata]
//!                  [grpc-encoding gzip]
//!                  user-agent grpc-rust-h2grpc/… Trailers-Only     :status 200, content-type,
//!                  [custom metadata]                               grpc-status ... in ONE
//!                                                                  HEADERS frame with END_STREAM
//! ```
//!
//! The server checks a head in this order, and each failure has one answer:
//! wrong `:method` → HTTP 405; wrong `content-type` → HTTP 415 (the spec's
//! "SHOULD respond with HTTP status of 415"); then, at the gRPC level, a bad
//! `te` or `grpc-timeout` → `INTERNAL`, a malformed `:path` or an unknown
//! `grpc-encoding` → `UNIMPLEMENTED`, each as a trailers-only response, which
//! is what gRPC C-core answers for the same heads.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, header};

use super::compression::{self, ACCEPT_ENCODING, Encoding, GRPC_ACCEPT_ENCODING, GRPC_ENCODING};
use super::status::{Code, Status};
use super::timeout;

/// The content type every gRPC message stream carries (`+proto` is implied).
pub const CONTENT_TYPE: &str = "application/grpc";

/// The `te` value the spec requires on requests; it detects proxies that would drop trailers.
pub const TE_TRAILERS: &str = "trailers";

/// The `grpc-timeout` header (a `HeaderName`: looking up or inserting by `&str`
/// parses, and on insert copies, the name every time).
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The `user-agent` this crate sends, in the structure PROTOCOL-HTTP2.md
/// recommends (`"grpc-" Language ?("-" Variant) "/" Version`, like
/// `grpc-java-netty/1.0`): `grpc-rust-h2grpc/<version>`.
pub const USER_AGENT: &str = concat!("grpc-rust-h2grpc/", env!("CARGO_PKG_VERSION"));

/// True for `application/grpc`, `application/grpc+<codec>` and `application/grpc;<params>`.
pub fn is_grpc_content_type(value: &[u8]) -> bool {
    match value.strip_prefix(CONTENT_TYPE.as_bytes()) {
        Some(rest) => rest.is_empty() || rest[0] == b'+' || rest[0] == b';',
        None => false,
    }
}

/// Splits `/package.Service/Method` into (`package.Service`, `Method`).
///
/// Both parts must be non-empty and the path must have exactly two segments.
pub fn parse_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (service, method) = rest.split_once('/')?;
    if service.is_empty() || method.is_empty() || method.contains('/') {
        return None;
    }
    Some((service, method))
}

/// How a request head failed the server's checks.
#[derive(Clone, Debug, PartialEq)]
pub enum HeadError {
    /// Answered with a bare HTTP status (405 or 415): the peer may not be gRPC at all.
    Http(u16),
    /// Answered with a gRPC status in a trailers-only response.
    Grpc(Status),
}

/// What the server needs from a valid request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// `package.Service` from `:path`.
    pub service: &'a str,
    /// `Method` from `:path`.
    pub method: &'a str,
    /// The decoded `grpc-timeout`, if any.
    pub timeout: Option<Duration>,
    /// The client's `grpc-encoding` (`None` for identity).
    pub encoding: Option<Encoding>,
    /// The client's `grpc-accept-encoding`: what responses may be compressed with.
    pub accept_encoding: Option<&'a HeaderValue>,
}

/// The headers [`check_request`] reads, first value of each.
#[derive(Default)]
struct Seen<'a> {
    content_type: Option<&'a HeaderValue>,
    te: Option<&'a HeaderValue>,
    timeout: Option<&'a HeaderValue>,
    encoding: Option<&'a HeaderValue>,
    accept_encoding: Option<&'a HeaderValue>,
}

impl<'a> Seen<'a> {
    /// One pass over the head instead of a hashed lookup per name: a request
    /// carries a handful of headers, and comparing names (an enum for the
    /// standard ones, a length and a few bytes for `grpc-*`) is cheaper than
    /// hashing five of them (callgrind: ~500 instructions per call).
    fn scan(headers: &'a HeaderMap) -> Seen<'a> {
        let mut seen = Seen::default();
        for (name, value) in headers {
            let slot = if name == header::CONTENT_TYPE {
                &mut seen.content_type
            } else if name == header::TE {
                &mut seen.te
            } else if name == GRPC_TIMEOUT {
                &mut seen.timeout
            } else if name == GRPC_ENCODING {
                &mut seen.encoding
            } else if name == GRPC_ACCEPT_ENCODING {
                &mut seen.accept_encoding
            } else {
                continue;
            };
            // `HeaderMap::get` answers with the first value; so does this.
            slot.get_or_insert(value);
        }
        seen
    }
}

/// Checks a request head, in the order documented at the top of this module.
pub fn check_request<'a>(
    method: &Method,
    path: &'a str,
    headers: &'a HeaderMap,
) -> Result<RequestHead<'a>, HeadError> {
    if method != Method::POST {
        return Err(HeadError::Http(405));
    }
    let seen = Seen::scan(headers);
    match seen.content_type {
        Some(ct) if is_grpc_content_type(ct.as_bytes()) => {}
        _ => return Err(HeadError::Http(415)),
    }
    match seen.te {
        Some(te) if te.as_bytes() == TE_TRAILERS.as_bytes() => {}
        Some(_) => return Err(grpc(Code::Internal, "bad te header: expected \"trailers\"")),
        None => return Err(grpc(Code::Internal, "missing te: trailers header")),
    }
    let Some((service, method)) = parse_path(path) else {
        return Err(grpc(
            Code::Unimplemented,
            format!("malformed method path {path:?}"),
        ));
    };
    let timeout = match seen.timeout {
        None => None,
        Some(value) => match timeout::decode(value.as_bytes()) {
            Ok(t) => Some(t),
            Err(e) => {
                return Err(grpc(
                    Code::Internal,
                    format!("invalid grpc-timeout {value:?}: {e:?}"),
                ));
            }
        },
    };
    let encoding =
        compression::negotiate(seen.encoding.map(|v| v.as_bytes())).map_err(HeadError::Grpc)?;
    Ok(RequestHead {
        service,
        method,
        timeout,
        encoding,
        accept_encoding: seen.accept_encoding,
    })
}

fn grpc(code: Code, message: impl Into<String>) -> HeadError {
    HeadError::Grpc(Status::new(code, message))
}

/// The fixed headers of a response head (`:status` is set by the caller's HTTP
/// layer), with `grpc-encoding` when the messages may be compressed. Every
/// response says what we accept, so a client whose `grpc-encoding` we
/// refused learns what to use instead (doc/compression.md).
pub fn response_headers(dst: &mut HeaderMap, encoding: Option<Encoding>) {
    dst.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Some(encoding) = encoding {
        dst.insert(GRPC_ENCODING, HeaderValue::from_static(encoding.as_str()));
    }
    dst.insert(
        GRPC_ACCEPT_ENCODING,
        HeaderValue::from_static(ACCEPT_ENCODING),
    );
}

/// What a well-formed response head says comes next.
#[derive(Debug)]
pub enum ResponseHead {
    /// `:status 200`, a gRPC content-type: messages (compressed with the
    /// given encoding when flagged) and trailers follow.
    Messages {
        /// The server's `grpc-encoding`.
        encoding: Option<Encoding>,
    },
    /// Trailers-Only with `grpc-status: 0`: no message follows; these are
    /// the trailers' metadata.
    TrailersOnly(super::metadata::Metadata),
}

/// Checks a response head; `end_stream` is the END_STREAM flag of the
/// HEADERS frame that carried it. `Err` is the call's status for a failed
/// call: a Trailers-Only error, or (http-grpc-status-mapping.md) a non-200
/// `:status` without `grpc-status` mapped to a code, a 200 whose
/// content-type is not gRPC → `UNKNOWN`, an unsupported `grpc-encoding`.
///
/// Only a head that ends the stream is Trailers-Only. PROTOCOL-HTTP2.md:
/// "Response → (Response-Headers \*Length-Prefixed-Message Trailers) /
/// Trailers-Only", "Response-Headers & Trailers-Only are each delivered in a
/// single HTTP2 HEADERS frame block", and "For responses end-of-stream is
/// indicated by the presence of the END_STREAM flag on the last received
/// HEADERS frame that carries Trailers". A first HEADERS frame without
/// END_STREAM is therefore Response-Headers, whatever it holds: a
/// `grpc-status` in it is not the call's status (the trailers will carry
/// that), and the call reads on. grpc-go (`http2Client.operateHeaders`: a
/// first block `if !endStream` "carries a Response-Headers", with END_STREAM
/// "a Trailers-Only") and C-core (chttp2 `init_header_frame_parser`:
/// "parsing Trailers-Only" only `if (t->is_client && t->header_eof)`, else
/// initial metadata) read it the same way.
pub fn check_response(
    http_status: u16,
    headers: &HeaderMap,
    end_stream: bool,
) -> Result<ResponseHead, Status> {
    if let Some(status) = end_stream
        .then(|| Status::decode_trailers(headers))
        .flatten()
    {
        if status.code() == Code::Ok && http_status == 200 {
            return Ok(ResponseHead::TrailersOnly(status.metadata().clone()));
        }
        if status.code() != Code::Ok {
            return Err(status);
        }
    }
    if http_status != 200 {
        let code = Code::from_http_status(http_status);
        return Err(Status::new(
            code,
            format!("HTTP status {http_status} without grpc-status"),
        ));
    }
    match headers.get(header::CONTENT_TYPE) {
        Some(ct) if is_grpc_content_type(ct.as_bytes()) => {}
        other => {
            return Err(Status::unknown(format!(
                "invalid content-type {other:?} in response"
            )));
        }
    }
    let encoding = compression::negotiate(headers.get(GRPC_ENCODING).map(|v| v.as_bytes()))?;
    Ok(ResponseHead::Messages { encoding })
}

/// The fixed headers of a request head, plus `grpc-timeout` when a deadline is
/// set and `grpc-encoding` when messages may be compressed.
///
/// In the order of the spec's grammar (PROTOCOL-HTTP2.md "Requests":
/// `Call-Definition → Method Scheme Path TE [Authority] [Timeout]
/// Content-Type [Message-Type] [Message-Encoding] [Message-Accept-Encoding]
/// [User-Agent]`); `h2` writes the pseudo-headers first and the rest in
/// insertion order.
pub fn request_headers(dst: &mut HeaderMap, timeout: Option<Duration>, encoding: Option<Encoding>) {
    dst.insert(header::TE, HeaderValue::from_static(TE_TRAILERS));
    if let Some(t) = timeout {
        // The encoder emits only digits and a unit letter, always a valid header value.
        if let Ok(v) = HeaderValue::from_str(&timeout::encode(t)) {
            dst.insert(GRPC_TIMEOUT, v);
        }
    }
    dst.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Some(encoding) = encoding {
        dst.insert(GRPC_ENCODING, HeaderValue::from_static(encoding.as_str()));
    }
    dst.insert(
        GRPC_ACCEPT_ENCODING,
        HeaderValue::from_static(ACCEPT_ENCODING),
    );
    dst.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grpc_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h
    }

    #[test]
    fn content_types() {
        assert!(is_grpc_content_type(b"application/grpc"));
        assert!(is_grpc_content_type(b"application/grpc+proto"));
        assert!(is_grpc_content_type(b"application/grpc;charset=utf-8"));
        assert!(!is_grpc_content_type(b"application/grpcx"));
        assert!(!is_grpc_content_type(b"application/json"));
        assert!(!is_grpc_content_type(b""));
    }

    #[test]
    fn paths() {
        assert_eq!(parse_path("/a.B/C"), Some(("a.B", "C")));
        assert_eq!(parse_path("/B/C"), Some(("B", "C")));
        assert_eq!(parse_path("a.B/C"), None);
        assert_eq!(parse_path("/a.B"), None);
        assert_eq!(parse_path("//C"), None);
        assert_eq!(parse_path("/a.B/"), None);
        assert_eq!(parse_path("/a/B/C"), None);
    }

    #[test]
    fn check_order_method_then_content_type_then_te() {
        let h = grpc_headers();
        assert_eq!(
            check_request(&Method::GET, "/a.B/C", &h),
            Err(HeadError::Http(405))
        );
        let mut bad_ct = h.clone();
        bad_ct.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(
            check_request(&Method::POST, "/a.B/C", &bad_ct),
            Err(HeadError::Http(415))
        );
        let mut no_ct = h.clone();
        no_ct.remove(header::CONTENT_TYPE);
        assert_eq!(
            check_request(&Method::POST, "/a.B/C", &no_ct),
            Err(HeadError::Http(415))
        );
        let mut no_te = h.clone();
        no_te.remove(header::TE);
        match check_request(&Method::POST, "/a.B/C", &no_te) {
            Err(HeadError::Grpc(s)) => assert_eq!(s.code(), Code::Internal),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn valid_head() {
        let h = grpc_headers();
        let head = check_request(&Method::POST, "/pkg.Svc/Do", &h).unwrap();
        assert_eq!(
            head,
            RequestHead {
                service: "pkg.Svc",
                method: "Do",
                timeout: None,
                encoding: None,
                accept_encoding: None,
            }
        );
    }

    #[test]
    fn first_value_of_each_header_counts_as_with_get() {
        let mut h = grpc_headers();
        h.append(GRPC_TIMEOUT, HeaderValue::from_static("1S"));
        h.append(GRPC_TIMEOUT, HeaderValue::from_static("bad"));
        h.append(header::TE, HeaderValue::from_static("gzip"));
        h.insert(GRPC_ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        h.append(GRPC_ACCEPT_ENCODING, HeaderValue::from_static("deflate"));
        let head = check_request(&Method::POST, "/pkg.Svc/Do", &h).unwrap();
        assert_eq!(head.timeout, Some(Duration::from_secs(1)));
        assert_eq!(head.accept_encoding, h.get(GRPC_ACCEPT_ENCODING));
        assert_eq!(head.accept_encoding.unwrap(), "gzip");
        // A later bad value of a header whose first value is fine changes nothing;
        // a bad first value fails the head.
        let mut bad_first = HeaderMap::new();
        for (name, value) in &grpc_headers() {
            bad_first.append(name.clone(), value.clone());
        }
        bad_first.append(GRPC_TIMEOUT, HeaderValue::from_static("bad"));
        bad_first.append(GRPC_TIMEOUT, HeaderValue::from_static("1S"));
        match check_request(&Method::POST, "/a.B/C", &bad_first) {
            Err(HeadError::Grpc(s)) => assert_eq!(s.code(), Code::Internal),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_encoding_is_unimplemented_gzip_accepted() {
        let mut h = grpc_headers();
        h.insert(GRPC_ENCODING, HeaderValue::from_static("snappy"));
        match check_request(&Method::POST, "/a.B/C", &h) {
            Err(HeadError::Grpc(s)) => assert_eq!(s.code(), Code::Unimplemented),
            other => panic!("{other:?}"),
        }
        h.insert(GRPC_ENCODING, HeaderValue::from_static("gzip"));
        let head = check_request(&Method::POST, "/a.B/C", &h).unwrap();
        assert_eq!(head.encoding, Some(Encoding::Gzip));
    }

    #[test]
    fn malformed_path_is_unimplemented() {
        match check_request(&Method::POST, "/nope", &grpc_headers()) {
            Err(HeadError::Grpc(s)) => assert_eq!(s.code(), Code::Unimplemented),
            other => panic!("{other:?}"),
        }
    }

    /// A response head as h2 hands it over: `:status` apart, the fields as they came.
    fn response(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in fields {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    const ERROR_HEAD: &[(&str, &str)] = &[
        ("content-type", "application/grpc"),
        ("grpc-status", "5"), // NOT_FOUND
        ("grpc-message", "order 999 not found"),
    ];

    #[test]
    fn grpc_status_with_end_stream_is_trailers_only() {
        match check_response(200, &response(ERROR_HEAD), true) {
            Err(s) => {
                assert_eq!(s.code(), Code::NotFound);
                assert_eq!(s.message(), "order 999 not found");
            }
            other => panic!("{other:?}"),
        }
        let ok = response(&[("content-type", "application/grpc"), ("grpc-status", "0")]);
        match check_response(200, &ok, true) {
            Ok(ResponseHead::TrailersOnly(_)) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn grpc_status_without_end_stream_is_response_headers() {
        // The same fields in a HEADERS frame that does not end the stream:
        // Response-Headers, messages and the real trailers follow.
        match check_response(200, &response(ERROR_HEAD), false) {
            Ok(ResponseHead::Messages { encoding: None }) => {}
            other => panic!("{other:?}"),
        }
        let ok = response(&[("content-type", "application/grpc"), ("grpc-status", "0")]);
        match check_response(200, &ok, false) {
            Ok(ResponseHead::Messages { encoding: None }) => {}
            other => panic!("{other:?}"),
        }
        // Its other checks still apply: a non-200 maps the HTTP status
        // (503 → UNAVAILABLE), not the grpc-status it carries.
        match check_response(503, &response(ERROR_HEAD), false) {
            Err(s) => assert_eq!(s.code(), Code::Unavailable),
            other => panic!("{other:?}"),
        }
        // With END_STREAM the head's own grpc-status wins over the 503.
        match check_response(503, &response(ERROR_HEAD), true) {
            Err(s) => assert_eq!(s.code(), Code::NotFound),
            other => panic!("{other:?}"),
        }
    }
}
