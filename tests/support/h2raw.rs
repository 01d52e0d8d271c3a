//! A raw HTTP/2 client for hostile-input tests: writes any frame, well-formed
//! or not, and reads the server's frames back to see exactly what it did.
//!
//! `h2`'s own client refuses to send most of what these tests need (invalid
//! pseudo-headers, uppercase names, frames on stream 0, window overflows), so
//! this speaks RFC 9113 directly over a `TcpStream`. Every frame is:
//!
//! ```text
//!  +-----------------------------------------------+
//!  |                 Length (24)                   |
//!  +---------------+---------------+---------------+
//!  |   Type (8)    |   Flags (8)   |
//!  +-+-------------+---------------+-------------------------------+
//!  |R|                 Stream Identifier (31)                      |
//!  +=+=============================================================+
//!  |                   Frame Payload (Length octets)             ...
//!  +---------------------------------------------------------------+
//! ```
//!
//! The reader answers the server's SETTINGS with an ACK (RFC 9113 §6.5.3),
//! optionally returns flow-control credit for DATA it receives, decodes header
//! blocks with [`hpack`], and records per stream what arrived: response head,
//! body, trailers, END_STREAM, RST_STREAM code; per connection: GOAWAY and
//! whether the peer closed the socket. Every wait is bounded by a deadline.

#![allow(dead_code)]

#[path = "hpack.rs"]
pub mod hpack;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use hpack::Field;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// RFC 9113 §3.4: the client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame header length: 3 length + 1 type + 1 flags + 4 stream id.
pub const FRAME_HEADER_LEN: usize = 9;

// Frame types (RFC 9113 §6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

// Flags.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;

// Error codes (RFC 9113 §7).
pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const INTERNAL_ERROR: u32 = 0x2;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const STREAM_CLOSED: u32 = 0x5;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

// SETTINGS parameters (RFC 9113 §6.5.2).
pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// The name of an error code, for readable test output.
pub fn reason_name(code: u32) -> String {
    let name = match code {
        NO_ERROR => "NO_ERROR",
        PROTOCOL_ERROR => "PROTOCOL_ERROR",
        INTERNAL_ERROR => "INTERNAL_ERROR",
        FLOW_CONTROL_ERROR => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        STREAM_CLOSED => "STREAM_CLOSED",
        FRAME_SIZE_ERROR => "FRAME_SIZE_ERROR",
        REFUSED_STREAM => "REFUSED_STREAM",
        CANCEL => "CANCEL",
        COMPRESSION_ERROR => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        ENHANCE_YOUR_CALM => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        other => return format!("0x{other:x}"),
    };
    name.to_owned()
}

/// One frame: header fields and payload.
pub fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(ty);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// SETTINGS with the given parameters (6 bytes each: id, value).
pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in params {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &payload)
}

/// A HEADERS frame (END_HEADERS set) carrying `fields` as literal HPACK.
pub fn headers(stream: u32, end_stream: bool, fields: &[Field]) -> Vec<u8> {
    let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
    frame(HEADERS, flags, stream, &hpack::encode(fields))
}

/// A DATA frame.
pub fn data(stream: u32, end_stream: bool, payload: &[u8]) -> Vec<u8> {
    frame(
        DATA,
        if end_stream { END_STREAM } else { 0 },
        stream,
        payload,
    )
}

/// An RST_STREAM frame.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// A WINDOW_UPDATE frame (stream 0: the connection window).
pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

/// A PING frame.
pub fn ping(ack: bool, payload: [u8; 8]) -> Vec<u8> {
    frame(PING, if ack { ACK } else { 0 }, 0, &payload)
}

/// A gRPC message: flag byte, 4-byte big-endian length, payload.
pub fn grpc_message(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A header field from two byte strings.
pub fn field(name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Field {
    (name.as_ref().to_vec(), value.as_ref().to_vec())
}

/// A well-formed gRPC request head for `path`.
pub fn grpc_head(path: &str) -> Vec<Field> {
    vec![
        field(":method", "POST"),
        field(":scheme", "http"),
        field(":path", path),
        field(":authority", "localhost"),
        field("content-type", "application/grpc"),
        field("te", "trailers"),
    ]
}

/// What the server sent on one stream.
#[derive(Clone, Debug, Default)]
pub struct StreamLog {
    /// The first header block (the response head, or Trailers-Only).
    pub head: Option<Vec<Field>>,
    /// The second header block (trailers).
    pub trailers: Option<Vec<Field>>,
    /// All DATA payload bytes, padding removed.
    pub body: Vec<u8>,
    /// How many DATA frames arrived.
    pub data_frames: usize,
    /// END_STREAM seen.
    pub end_stream: bool,
    /// RST_STREAM code, if the server reset the stream.
    pub reset: Option<u32>,
}

impl StreamLog {
    /// The first value of `name` in the head.
    pub fn head_value(&self, name: &str) -> Option<String> {
        lookup(self.head.as_ref()?, name)
    }

    /// `grpc-status` from the trailers, else from a Trailers-Only head.
    pub fn grpc_status(&self) -> Option<u32> {
        let from = |block: &Option<Vec<Field>>| lookup(block.as_ref()?, "grpc-status");
        from(&self.trailers)
            .or_else(|| from(&self.head))
            .and_then(|s| s.parse().ok())
    }

    /// The value of `name` in the trailers, else in the head.
    pub fn trailer(&self, name: &str) -> Option<String> {
        let from = |block: &Option<Vec<Field>>| lookup(block.as_ref()?, name);
        from(&self.trailers).or_else(|| from(&self.head))
    }
}

fn lookup(block: &[Field], name: &str) -> Option<String> {
    block
        .iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// How one exchange ended, as seen from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `:status 200` and this `grpc-status`.
    Grpc(u32),
    /// A non-200 `:status` (no gRPC status).
    Http(u16),
    /// RST_STREAM with this code, before any response head.
    Reset(u32),
    /// GOAWAY with this code (the connection is over).
    GoAway(u32),
    /// The socket closed with no GOAWAY.
    Closed,
    /// Nothing went wrong: the case's own checks passed and the connection
    /// still serves.
    Alive,
    /// Nothing decisive within the deadline.
    Silent,
    /// Something the case did not expect (a description).
    Other(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Grpc(code) => write!(f, "200 grpc-status {code}"),
            Outcome::Http(status) => write!(f, "HTTP {status}"),
            Outcome::Reset(code) => write!(f, "RST_STREAM {}", reason_name(*code)),
            Outcome::GoAway(code) => write!(f, "GOAWAY {}", reason_name(*code)),
            Outcome::Closed => f.write_str("closed, no GOAWAY"),
            Outcome::Alive => f.write_str("checks pass, connection serves"),
            Outcome::Silent => f.write_str("no answer"),
            Outcome::Other(s) => f.write_str(s),
        }
    }
}

/// A raw connection to the server.
#[derive(Debug)]
pub struct RawConn {
    tcp: TcpStream,
    buf: Vec<u8>,
    hpack: hpack::Decoder,
    /// A header block still waiting for CONTINUATION: stream, flags, fragment.
    partial: Option<(u32, u8, Vec<u8>)>,
    /// Per-stream log of what the server sent.
    pub streams: HashMap<u32, StreamLog>,
    /// GOAWAY (last stream id, code), once received.
    pub goaway: Option<(u32, u32)>,
    /// The socket reached EOF or failed.
    pub closed: bool,
    /// The server's SETTINGS ACKs (of ours).
    pub settings_acks: usize,
    /// PING ACKs received.
    pub ping_acks: usize,
    /// The server's own SETTINGS frames received.
    pub server_settings: usize,
    /// Give back flow-control credit for every DATA frame received.
    pub auto_window: bool,
    /// A header block the decoder could not read.
    pub hpack_error: Option<String>,
    /// Never write on our own (no SETTINGS/PING ACKs, no WINDOW_UPDATE): for
    /// connections that are not to speak HTTP/2 at all.
    pub passive: bool,
}

impl RawConn {
    /// Connects and sends the preface and an empty SETTINGS frame.
    pub async fn connect(addr: SocketAddr) -> RawConn {
        RawConn::connect_with(addr, &[]).await
    }

    /// Connects and sends the preface and SETTINGS with `params`.
    pub async fn connect_with(addr: SocketAddr, params: &[(u16, u32)]) -> RawConn {
        let mut conn = RawConn::tcp(addr).await;
        conn.passive = false;
        let mut hello = PREFACE.to_vec();
        hello.extend_from_slice(&settings(params));
        assert!(conn.send(&hello).await, "send preface");
        conn
    }

    /// Connects without sending anything, and stays passive (see [`RawConn::passive`]).
    pub async fn tcp(addr: SocketAddr) -> RawConn {
        let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let _ = tcp.set_nodelay(true);
        RawConn {
            tcp,
            buf: Vec::new(),
            hpack: hpack::Decoder::default(),
            partial: None,
            streams: HashMap::new(),
            goaway: None,
            closed: false,
            settings_acks: 0,
            ping_acks: 0,
            server_settings: 0,
            auto_window: true,
            hpack_error: None,
            passive: true,
        }
    }

    /// Writes bytes; false if the peer has gone (a hostile case may cause that).
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        let write = self.tcp.write_all(bytes);
        matches!(
            tokio::time::timeout(Duration::from_secs(5), write).await,
            Ok(Ok(()))
        )
    }

    /// Writes a large burst while reading whatever comes back (buffered, handled
    /// later), so neither side blocks on a full socket. Returns whether all of
    /// `bytes` went out within `within`.
    pub async fn flood(&mut self, bytes: &[u8], within: Duration) -> bool {
        let (mut rd, mut wr) = self.tcp.split();
        let buf = &mut self.buf;
        let write = async {
            let ok = wr.write_all(bytes).await.is_ok();
            let _ = wr.flush().await;
            ok
        };
        let read = async {
            let mut chunk = [0u8; 16 * 1024];
            loop {
                match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        };
        let both = async {
            tokio::pin!(write, read);
            tokio::select! {
                ok = &mut write => ok,
                // The peer closed: the rest of the burst cannot go out.
                () = &mut read => false,
            }
        };
        tokio::time::timeout(within, both).await.unwrap_or(false)
    }

    /// The log of `stream` (empty if nothing arrived on it).
    pub fn stream(&self, stream: u32) -> StreamLog {
        self.streams.get(&stream).cloned().unwrap_or_default()
    }

    /// Reads and handles frames until `done` holds, the socket closes, or
    /// `within` passes. Returns whether `done` held.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        mut done: impl FnMut(&RawConn) -> bool,
    ) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if done(self) {
                return true;
            }
            if self.closed || !self.pump(deadline).await {
                return done(self);
            }
        }
    }

    /// Waits until `stream` ends (END_STREAM or RST_STREAM), or the connection does.
    pub async fn wait_stream(&mut self, stream: u32, within: Duration) {
        self.wait_for(within, |c| {
            let log = c.streams.get(&stream);
            c.goaway.is_some() || log.is_some_and(|l| l.end_stream || l.reset.is_some())
        })
        .await;
    }

    /// Waits until the server closes the socket (after a GOAWAY or not).
    pub async fn wait_closed(&mut self, within: Duration) -> bool {
        self.wait_for(within, |c| c.closed).await
    }

    /// Reads frames until `within` passes with nothing decisive happening.
    pub async fn settle(&mut self, within: Duration) {
        self.wait_for(within, |_| false).await;
    }

    /// What happened to `stream`, in order of precedence: a response head,
    /// a stream reset, a connection error, a closed socket.
    pub fn outcome(&self, stream: u32) -> Outcome {
        let log = self.stream(stream);
        if let Some(status) = log.head_value(":status") {
            return match status.as_str() {
                "200" => match log.grpc_status() {
                    Some(code) => Outcome::Grpc(code),
                    None => {
                        Outcome::Other(format!("200 without grpc-status (reset {:?})", log.reset))
                    }
                },
                other => Outcome::Http(other.parse().unwrap_or(0)),
            };
        }
        if let Some(code) = log.reset {
            return Outcome::Reset(code);
        }
        self.connection_outcome()
    }

    /// What happened to the connection as a whole.
    pub fn connection_outcome(&self) -> Outcome {
        if let Some((_, code)) = self.goaway {
            return Outcome::GoAway(code);
        }
        if self.closed {
            return Outcome::Closed;
        }
        Outcome::Silent
    }

    /// Checks the connection still works: PING is answered with an ACK.
    pub async fn ping_pong(&mut self) -> bool {
        let before = self.ping_acks;
        if !self.send(&ping(false, *b"h2grpc!!")).await {
            return false;
        }
        self.wait_for(Duration::from_secs(2), |c| c.ping_acks > before)
            .await
    }

    /// Reads at least one frame (or EOF) before `deadline`; false on timeout.
    async fn pump(&mut self, deadline: Instant) -> bool {
        loop {
            if let Some(frame) = self.parse_frame() {
                self.handle(frame).await;
                return true;
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.tcp.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.closed = true;
                    return true;
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Takes one whole frame off the read buffer.
    fn parse_frame(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        if self.buf.len() < FRAME_HEADER_LEN {
            return None;
        }
        let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
        if self.buf.len() < FRAME_HEADER_LEN + len {
            return None;
        }
        let ty = self.buf[3];
        let flags = self.buf[4];
        let stream =
            u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]]) & 0x7fff_ffff;
        let payload = self.buf[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len].to_vec();
        self.buf.drain(..FRAME_HEADER_LEN + len);
        Some((ty, flags, stream, payload))
    }

    /// Records a frame, then sends the replies a client owes (unless passive):
    /// SETTINGS and PING ACKs, and flow-control credit when `auto_window`.
    async fn handle(&mut self, (ty, flags, stream, payload): (u8, u8, u32, Vec<u8>)) {
        self.record(ty, flags, stream, &payload);
        if self.passive {
            return;
        }
        let reply = match ty {
            DATA if self.auto_window && !payload.is_empty() => {
                let n = payload.len() as u32;
                let mut credit = window_update(0, n);
                credit.extend_from_slice(&window_update(stream, n));
                credit
            }
            SETTINGS if flags & ACK == 0 => frame(SETTINGS, ACK, 0, &[]),
            PING if flags & ACK == 0 => frame(PING, ACK, 0, &payload),
            _ => return,
        };
        let _ = self.send(&reply).await;
    }

    /// Updates the logs with one received frame.
    fn record(&mut self, ty: u8, flags: u8, stream: u32, payload: &[u8]) {
        match ty {
            DATA => {
                let body = unpad(flags, payload).unwrap_or_default();
                let log = self.streams.entry(stream).or_default();
                log.body.extend_from_slice(body);
                log.data_frames += 1;
                log.end_stream |= flags & END_STREAM != 0;
            }
            HEADERS => {
                let Some(mut block) = unpad(flags, payload).map(<[u8]>::to_vec) else {
                    return;
                };
                // PRIORITY flag: 4-byte dependency + 1-byte weight before the block.
                if flags & 0x20 != 0 && block.len() >= 5 {
                    block.drain(..5);
                }
                if flags & END_HEADERS == 0 {
                    self.partial = Some((stream, flags, block));
                } else {
                    self.header_block(stream, flags, &block);
                }
            }
            CONTINUATION => {
                if let Some((id, first_flags, mut block)) = self.partial.take() {
                    block.extend_from_slice(payload);
                    if flags & END_HEADERS == 0 {
                        self.partial = Some((id, first_flags, block));
                    } else {
                        self.header_block(id, first_flags, &block);
                    }
                }
            }
            RST_STREAM if payload.len() == 4 => {
                let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                self.streams.entry(stream).or_default().reset = Some(code);
            }
            SETTINGS if flags & ACK != 0 => self.settings_acks += 1,
            SETTINGS => self.server_settings += 1,
            PING if flags & ACK != 0 => self.ping_acks += 1,
            GOAWAY if payload.len() >= 8 => {
                let last = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                let code = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
                self.goaway = Some((last & 0x7fff_ffff, code));
            }
            _ => {}
        }
    }

    fn header_block(&mut self, stream: u32, flags: u8, block: &[u8]) {
        let fields = match self.hpack.decode(block) {
            Ok(fields) => fields,
            Err(e) => {
                self.hpack_error = Some(e);
                return;
            }
        };
        let log = self.streams.entry(stream).or_default();
        if log.head.is_none() {
            log.head = Some(fields);
        } else {
            log.trailers = Some(fields);
        }
        log.end_stream |= flags & END_STREAM != 0;
    }
}

/// Strips padding (RFC 9113 §6.1) when PADDED is set; `None` if malformed.
fn unpad(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    if flags & PADDED == 0 {
        return Some(payload);
    }
    let (&pad, rest) = payload.split_first()?;
    rest.len()
        .checked_sub(usize::from(pad))
        .map(|end| &rest[..end])
}
