//! Length-prefixed message framing: the 5-byte prefix in front of every gRPC message.
//!
//! Layer: wire (sans-IO; bytes in, frames out). Spec: grpc/grpc `doc/PROTOCOL-HTTP2.md`,
//! "Length-Prefixed-Message":
//!
//! ```text
//! Length-Prefixed-Message → Compressed-Flag Message-Length Message
//! Compressed-Flag         → 0 / 1                   ; 1 byte unsigned
//! Message-Length          → {length of Message}     ; 4 bytes big-endian unsigned
//! Message                 → *{binary octet}
//! ```
//!
//! ```text
//! byte     0          1          2          3          4          5 ...
//!        +----------+----------+----------+----------+----------+---------------- - -
//!        |  Compr.  |      Message-Length (u32, big-endian)     | Message
//!        |   Flag   | MSB                                   LSB | (Message-Length bytes)
//!        +----------+----------+----------+----------+----------+---------------- - -
//!         0 = plain
//!         1 = compressed with the call's `grpc-encoding`
//!         2..=255 = invalid (InvalidFlag)
//!        |<------------------ HEADER_LEN = 5 ------------------>|
//! ```
//!
//! Message boundaries are independent of HTTP/2 DATA frame boundaries: one DATA
//! frame may carry many messages, and one message (even its 5-byte prefix) may be
//! split over many DATA frames. [`Decoder`] therefore queues the received chunks
//! and runs a small state machine over them:
//!
//! ```text
//!                      < 5 bytes buffered             < len bytes buffered
//!                        → Ok(None)                     → Ok(None)
//!                        +-----+                        +-----+
//!                        |     v                        |     v
//!                   +------------+  prefix valid   +------------------------------+
//!  Decoder::new --->| ReadHeader |---------------->| ReadBody { compressed, len } |
//!                   +------------+                 +------------------------------+
//!                      |     ^                                    |
//!   flag not allowed,  |     |   len bytes buffered               |
//!   or len > max       |     +------------------------------------+
//!                      v         → Ok(Some(Frame)); len 0 yields an empty payload
//!                   +--------+
//!                   | Failed |  sticky: every later decode() and finish() return
//!                   +--------+  the same error; buffered bytes are dropped
//! ```
//!
//! The length limit is checked as soon as the prefix is read, before any memory is
//! reserved for the body. A body that lies within one received chunk is handed out as
//! a slice of that chunk (no copy); only a body split across chunks is copied, once,
//! into a buffer of exactly its length.

use std::collections::VecDeque;
use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::status::{Code, Status};

/// Bytes in the prefix: 1 flag byte + 4 length bytes.
pub const HEADER_LEN: usize = 5;

/// Default receive limit per message, as in every major gRPC implementation.
pub const DEFAULT_MAX_RECV_BYTES: usize = 4 * 1024 * 1024;

/// Compressed-Flag value for a plain message.
const FLAG_PLAIN: u8 = 0;
/// Compressed-Flag value for a message compressed with the call's `grpc-encoding`.
const FLAG_COMPRESSED: u8 = 1;

/// One framed message as it came off the wire (payload still compressed when the flag says so).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The compressed flag (byte 0 == 1).
    pub compressed: bool,
    /// The payload.
    pub payload: Bytes,
}

/// Why the incoming byte stream is not valid framing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Declared length above the receive limit (→ RESOURCE_EXHAUSTED).
    TooLarge {
        /// The length in the prefix.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// Flag 1 on a call that negotiated no `grpc-encoding` (→ INTERNAL).
    CompressedWithoutEncoding,
    /// Flag byte other than 0 or 1 (→ INTERNAL).
    InvalidFlag(u8),
    /// The stream ended inside a prefix or a body (→ INTERNAL).
    Truncated {
        /// Bytes left over at end of stream.
        buffered: usize,
    },
}

impl FrameError {
    /// The status a peer receives for this error.
    ///
    /// An oversized message is RESOURCE_EXHAUSTED (the receiver's limit, not a broken
    /// peer); every other framing error is INTERNAL, as in PROTOCOL-HTTP2.md and the
    /// major implementations.
    pub fn to_status(&self) -> Status {
        let code = match self {
            FrameError::TooLarge { .. } => Code::ResourceExhausted,
            FrameError::CompressedWithoutEncoding
            | FrameError::InvalidFlag(_)
            | FrameError::Truncated { .. } => Code::Internal,
        };
        Status::new(code, self.to_string())
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Same wording as grpc-go and grpc-java, so logs read alike across peers.
            FrameError::TooLarge { len, max } => {
                write!(f, "received message larger than max ({len} vs. {max})")
            }
            FrameError::CompressedWithoutEncoding => {
                f.write_str("compressed flag set but no grpc-encoding negotiated")
            }
            FrameError::InvalidFlag(flag) => {
                write!(
                    f,
                    "invalid compressed flag {flag} in message prefix (want 0 or 1)"
                )
            }
            FrameError::Truncated { buffered } => {
                write!(
                    f,
                    "stream ended inside a message ({buffered} bytes left over)"
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Writes the 5-byte prefix for a payload of `len` bytes.
pub fn encode_header(compressed: bool, len: u32) -> [u8; HEADER_LEN] {
    let [l0, l1, l2, l3] = len.to_be_bytes();
    let flag = if compressed {
        FLAG_COMPRESSED
    } else {
        FLAG_PLAIN
    };
    [flag, l0, l1, l2, l3]
}

/// Appends one framed message to `dst`: reserves the prefix, lets `write_body`
/// append the payload in place, then patches the length. No intermediate copy.
///
/// If `write_body` fails, `dst` is truncated back to its length on entry (no half
/// message is left behind) and the error is returned unchanged.
///
/// The payload must fit the 4-byte length field (≤ `u32::MAX` bytes). This function
/// cannot report that through the caller's error type, so enforcing the send limit
/// (which is far below 4 GiB) is the caller's job; it is only `debug_assert!`ed here.
pub fn encode_with<E>(
    dst: &mut BytesMut,
    compressed: bool,
    write_body: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<(), E> {
    let start = dst.len();
    dst.put_slice(&[0; HEADER_LEN]);
    if let Err(err) = write_body(dst) {
        dst.truncate(start);
        return Err(err);
    }
    let payload_len = dst.len() - start - HEADER_LEN;
    debug_assert!(
        u32::try_from(payload_len).is_ok(),
        "payload of {payload_len} bytes does not fit the 4-byte length prefix"
    );
    let len = u32::try_from(payload_len).unwrap_or(u32::MAX);
    dst[start..start + HEADER_LEN].copy_from_slice(&encode_header(compressed, len));
    Ok(())
}

/// Appends one framed message carrying `payload` to `dst`.
///
/// Same length contract as [`encode_with`]: `payload.len()` must be ≤ `u32::MAX`.
pub fn encode(dst: &mut BytesMut, compressed: bool, payload: &[u8]) {
    dst.reserve(HEADER_LEN + payload.len());
    let Ok(()) = encode_with::<std::convert::Infallible>(dst, compressed, |body| {
        body.extend_from_slice(payload);
        Ok(())
    });
}

/// Where the decoder is within the current message.
#[derive(Debug)]
enum State {
    /// Waiting for the 5-byte prefix of the next message.
    ReadHeader,
    /// Prefix read and accepted; waiting for `len` body bytes.
    ReadBody { compressed: bool, len: usize },
    /// The stream broke the framing; kept so the error is sticky.
    Failed(FrameError),
}

/// Chunks shorter than this that queue behind others are copied together rather
/// than kept one handle each: copying 1 KiB costs less than a queue entry per tiny frame.
pub const SMALL_CHUNK_BYTES: usize = 1024;

/// How many chunks may wait as handles before small ones are copied together.
pub const QUEUED_CHUNKS_BEFORE_COPY: usize = 8;

/// Streaming decoder: DATA chunks in, frames out.
///
/// Errors are sticky: once [`decode`](Decoder::decode) has returned an error, the
/// buffered bytes are dropped, later chunks are ignored, and every further `decode`
/// and [`finish`](Decoder::finish) returns that same error. Past a framing error the
/// byte stream has no trustworthy message boundaries left, so the call must end.
///
/// ```
/// use bytes::Bytes;
/// use h2grpc::wire::frame::Decoder;
///
/// let mut decoder = Decoder::new(4 * 1024 * 1024, false);
/// // A message "hi" (flag 0, length 2) arriving split across two DATA frames.
/// decoder.push(Bytes::from_static(&[0, 0, 0, 0, 2, b'h']));
/// assert_eq!(decoder.decode(), Ok(None)); // need more bytes: not an error
/// decoder.push(Bytes::from_static(b"i"));
/// let frame = decoder.decode().unwrap().unwrap();
/// assert_eq!((frame.compressed, &frame.payload[..]), (false, &b"hi"[..]));
/// assert!(decoder.finish().is_ok()); // the stream may end here
/// ```
#[derive(Debug)]
pub struct Decoder {
    /// Received chunks, oldest first, none empty; kept as-is so payloads can be slices of them.
    chunks: Chunks,
    /// Small chunks that arrived behind others, copied together (see [`Decoder::push`]).
    tail: BytesMut,
    /// Sum of the chunk and tail lengths, so "are N bytes here?" costs nothing.
    buffered: usize,
    /// Position in the current message.
    state: State,
    /// Largest accepted Message-Length; checked before any body memory is reserved.
    max_recv_bytes: usize,
    /// Whether flag 1 is allowed: only if the call negotiated a `grpc-encoding`.
    compression_negotiated: bool,
    /// The last prefix read, as received, for the wire trace ([`Decoder::last_prefix`]).
    last_prefix: [u8; HEADER_LEN],
}

/// The queue of received chunks, with the oldest one held inline.
///
/// Most calls receive each message in one DATA chunk and decode it before the
/// next arrives, so at most one chunk waits at a time: holding that one outside
/// the `VecDeque` means the common case never allocates the queue (nor pays
/// for dropping an empty one).
#[derive(Debug, Default)]
struct Chunks {
    /// The oldest chunk; empty if and only if no chunk is queued.
    front: Bytes,
    /// The chunks behind `front`, oldest first, none empty; created when a
    /// second chunk first has to wait.
    rest: Option<VecDeque<Bytes>>,
}

impl Chunks {
    /// Number of chunks queued.
    fn len(&self) -> usize {
        if self.front.is_empty() {
            0
        } else {
            1 + self.rest.as_ref().map_or(0, VecDeque::len)
        }
    }

    /// Queues a non-empty chunk behind the others.
    fn push_back(&mut self, chunk: Bytes) {
        debug_assert!(!chunk.is_empty());
        if self.front.is_empty() {
            self.front = chunk;
        } else {
            self.rest.get_or_insert_default().push_back(chunk);
        }
    }

    /// The oldest chunk, if any.
    fn front_mut(&mut self) -> Option<&mut Bytes> {
        if self.front.is_empty() {
            None
        } else {
            Some(&mut self.front)
        }
    }

    /// Drops the oldest chunk (also when it has been advanced to empty: an empty
    /// slice still holds its buffer) and moves the next one up.
    fn pop_front(&mut self) {
        self.front = self
            .rest
            .as_mut()
            .and_then(VecDeque::pop_front)
            .unwrap_or_default();
    }

    /// Removes and returns the whole oldest chunk, moving the next one up.
    fn take_front(&mut self) -> Bytes {
        let front = std::mem::take(&mut self.front);
        if let Some(next) = self.rest.as_mut().and_then(VecDeque::pop_front) {
            self.front = next;
        }
        front
    }

    /// Drops every chunk and the queue's memory.
    fn clear(&mut self) {
        *self = Chunks::default();
    }
}

impl Decoder {
    /// A decoder with a receive limit; `compression_negotiated` says whether flag 1 is allowed.
    pub fn new(max_recv_bytes: usize, compression_negotiated: bool) -> Decoder {
        Decoder {
            chunks: Chunks::default(),
            tail: BytesMut::new(),
            buffered: 0,
            state: State::ReadHeader,
            max_recv_bytes,
            compression_negotiated,
            last_prefix: [0; HEADER_LEN],
        }
    }

    /// Queues one received chunk.
    ///
    /// A chunk is kept as it is (zero-copy) when few are waiting or it is at
    /// least [`SMALL_CHUNK_BYTES`] long. Smaller chunks that arrive behind
    /// [`QUEUED_CHUNKS_BEFORE_COPY`] others are copied into one growing buffer
    /// instead: a peer that splits a
    /// message into thousands of 1-byte DATA frames would otherwise make us hold
    /// a handle (and the h2 buffer behind it) per byte, many times the message
    /// size. This way memory stays within about twice the message.
    ///
    /// Empty chunks are skipped; after an error, chunks are dropped (see [`Decoder`]).
    /// The first chunk queued costs no allocation (see `Chunks`).
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() || matches!(self.state, State::Failed(_)) {
            return;
        }
        self.buffered += chunk.len();
        if self.chunks.front.is_empty() && self.tail.is_empty() {
            // Nothing waiting (the usual case): this chunk becomes the front.
            self.chunks.front = chunk;
            return;
        }
        let crowded = !self.tail.is_empty() || self.chunks.len() >= QUEUED_CHUNKS_BEFORE_COPY;
        if chunk.len() < SMALL_CHUNK_BYTES && crowded {
            self.tail.extend_from_slice(&chunk);
        } else {
            self.flush_tail();
            self.chunks.push_back(chunk);
        }
    }

    /// Moves the copied small chunks into the queue (zero-copy `freeze`).
    #[inline]
    fn flush_tail(&mut self) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<Frame>, FrameError> {
        // Fast path: at a message boundary with the whole message in the oldest
        // chunk (a unary message in one DATA frame, or the next of a batch of
        // small ones): read the prefix in place and slice the body out.
        if let State::ReadHeader = self.state
            && let Some(&header) = self.chunks.front.first_chunk::<HEADER_LEN>()
            && let Ok((compressed, len)) = self.parse_header(header)
            && self.chunks.front.len() - HEADER_LEN >= len
        {
            // Past the prefix, `take` slices the body out of the chunk (or hands
            // the rest of the chunk over whole, refcount untouched).
            self.last_prefix = header;
            self.chunks.front.advance(HEADER_LEN);
            self.buffered -= HEADER_LEN;
            let payload = self.take(len);
            return Ok(Some(Frame {
                compressed,
                payload,
            }));
        }
        // "Need more bytes", the usual answer while a message trickles in, also
        // stays out of the slow path.
        match self.state {
            State::ReadHeader if self.buffered < HEADER_LEN => Ok(None),
            State::ReadBody { len, .. } if self.buffered < len => Ok(None),
            _ => self.decode_slow(),
        }
    }

    /// [`decode`](Decoder::decode) for a prefix or body spread over chunks, and for errors.
    /// Kept out of line so the fast path stays a small function.
    #[inline(never)]
    fn decode_slow(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            match self.state {
                State::Failed(ref err) => return Err(err.clone()),
                State::ReadHeader => {
                    if self.buffered < HEADER_LEN {
                        return Ok(None);
                    }
                    self.flush_tail();
                    let mut header = [0; HEADER_LEN];
                    self.copy_out(&mut header);
                    self.last_prefix = header;
                    self.state = match self.parse_header(header) {
                        Ok((compressed, len)) => State::ReadBody { compressed, len },
                        Err(err) => {
                            // Nothing after a bad prefix can be framed; free it now.
                            self.chunks.clear();
                            self.tail = BytesMut::new();
                            self.buffered = 0;
                            State::Failed(err)
                        }
                    };
                }
                State::ReadBody { compressed, len } => {
                    if self.buffered < len {
                        return Ok(None);
                    }
                    self.flush_tail();
                    let payload = self.take(len);
                    self.state = State::ReadHeader;
                    return Ok(Some(Frame {
                        compressed,
                        payload,
                    }));
                }
            }
        }
    }

    /// Call at end of stream: an error if a partial frame is buffered.
    ///
    /// `Truncated { buffered }` counts the bytes left after the last whole message
    /// (a prefix already read is not counted). After a decode error, returns that error.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.state {
            State::Failed(ref err) => Err(err.clone()),
            State::ReadBody { .. } => Err(FrameError::Truncated {
                buffered: self.buffered,
            }),
            State::ReadHeader if self.buffered > 0 => Err(FrameError::Truncated {
                buffered: self.buffered,
            }),
            State::ReadHeader => Ok(()),
        }
    }

    /// Bytes queued and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// The 5-byte prefix read last, exactly as it came off the wire: that of
    /// the frame [`decode`](Decoder::decode) returned last, or of the one it
    /// refused (a bad flag, a length over the limit). All zeros before the
    /// first prefix. The wire trace shows these bytes, not a rebuilt prefix.
    pub fn last_prefix(&self) -> [u8; HEADER_LEN] {
        self.last_prefix
    }

    /// The receive limit this decoder enforces.
    pub fn max_recv_bytes(&self) -> usize {
        self.max_recv_bytes
    }

    /// Validates a prefix: the flag against the negotiation, the length against the limit.
    #[inline]
    fn parse_header(&self, header: [u8; HEADER_LEN]) -> Result<(bool, usize), FrameError> {
        let [flag, l0, l1, l2, l3] = header;
        let compressed = match flag {
            FLAG_PLAIN => false,
            FLAG_COMPRESSED if self.compression_negotiated => true,
            FLAG_COMPRESSED => return Err(FrameError::CompressedWithoutEncoding),
            other => return Err(FrameError::InvalidFlag(other)),
        };
        // A u32 always fits usize on the 32/64-bit targets we build for; saturating
        // keeps a hypothetical 16-bit target on the TooLarge path instead of wrapping.
        let len = usize::try_from(u32::from_be_bytes([l0, l1, l2, l3])).unwrap_or(usize::MAX);
        if len > self.max_recv_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_recv_bytes,
            });
        }
        Ok((compressed, len))
    }

    /// Removes the next `dst.len()` buffered bytes into `dst`; they may span chunks.
    /// The caller has checked that enough bytes are buffered.
    fn copy_out(&mut self, dst: &mut [u8]) {
        let mut filled = 0;
        while filled < dst.len() {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let n = front.len().min(dst.len() - filled);
            dst[filled..filled + n].copy_from_slice(&front[..n]);
            self.consume_front(n);
            filled += n;
        }
    }

    /// Removes the next `len` buffered bytes as one `Bytes`; the caller has checked
    /// that `len <= self.buffered` (and `len <= max_recv_bytes` via the prefix).
    fn take(&mut self, len: usize) -> Bytes {
        let front = &mut self.chunks.front;
        if front.len() >= len {
            // Zero-copy: the payload is a slice of the received chunk (or all of
            // it, without touching the refcount). Also covers len == 0.
            let payload = if front.len() == len {
                self.chunks.take_front()
            } else {
                front.split_to(len)
            };
            self.buffered -= len;
            return payload;
        }
        // The body spans chunks: one copy into a buffer of exactly `len` bytes. The
        // limit was checked and all bytes are present, so this allocation is bounded.
        let mut body = BytesMut::with_capacity(len);
        while body.len() < len {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let n = front.len().min(len - body.len());
            body.extend_from_slice(&front[..n]);
            self.consume_front(n);
        }
        body.freeze()
    }

    /// Advances the front chunk by `n` bytes, dropping it once empty.
    fn consume_front(&mut self, n: usize) {
        if let Some(front) = self.chunks.front_mut() {
            front.advance(n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            self.buffered -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A plain message "hi" as it appears on the wire.
    const HI: &[u8] = &[
        0x00, // Compressed-Flag: plain
        0x00, 0x00, 0x00, 0x02, // Message-Length: 2
        b'h', b'i', // Message
    ];

    fn plain(payload: &'static [u8]) -> Frame {
        Frame {
            compressed: false,
            payload: Bytes::from_static(payload),
        }
    }

    /// Pushes each chunk and decodes everything available after each push.
    fn decode_chunks(dec: &mut Decoder, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut out = Vec::new();
        for chunk in chunks {
            dec.push(Bytes::copy_from_slice(chunk));
            while let Some(frame) = dec.decode().expect("valid framing") {
                out.push(frame);
            }
        }
        out
    }

    #[test]
    fn known_message_decodes() {
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(Bytes::from_static(HI));
        assert_eq!(dec.decode(), Ok(Some(plain(b"hi"))));
        assert_eq!(dec.decode(), Ok(None));
        assert_eq!(dec.buffered(), 0);
        assert_eq!(dec.finish(), Ok(()));
    }

    #[test]
    fn header_layout_is_exact() {
        assert_eq!(
            encode_header(false, 0x0102_0304),
            [
                0x00, // Compressed-Flag: plain
                0x01, 0x02, 0x03, 0x04, // Message-Length, big-endian
            ]
        );
        assert_eq!(
            encode_header(true, u32::MAX),
            [
                0x01, // Compressed-Flag: compressed
                0xff, 0xff, 0xff, 0xff, // Message-Length: 4 GiB - 1
            ]
        );
        let mut dst = BytesMut::new();
        encode(&mut dst, false, b"hi");
        assert_eq!(&dst[..], HI);
    }

    #[test]
    fn empty_message() {
        let wire: &[u8] = &[
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x00, // Message-Length: 0
        ];
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(Bytes::from_static(wire));
        assert_eq!(dec.decode(), Ok(Some(plain(b""))));
        assert_eq!(dec.finish(), Ok(()));

        let mut dst = BytesMut::new();
        encode(&mut dst, false, b"");
        assert_eq!(&dst[..], wire);
    }

    #[test]
    fn many_messages_in_one_chunk() {
        let wire: &[u8] = &[
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x01, // Message-Length: 1
            b'a', // Message
            0x01, // Compressed-Flag: compressed
            0x00, 0x00, 0x00, 0x00, // Message-Length: 0
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x03, // Message-Length: 3
            b'x', b'y', b'z', // Message
        ];
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, true);
        dec.push(Bytes::from_static(wire));
        assert_eq!(dec.decode(), Ok(Some(plain(b"a"))));
        assert_eq!(dec.buffered(), wire.len() - 6);
        assert_eq!(
            dec.decode(),
            Ok(Some(Frame {
                compressed: true,
                payload: Bytes::new()
            }))
        );
        assert_eq!(dec.decode(), Ok(Some(plain(b"xyz"))));
        assert_eq!(dec.decode(), Ok(None));
        assert_eq!(dec.finish(), Ok(()));
    }

    #[test]
    fn split_at_every_point() {
        let wire: &[u8] = &[
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x05, // Message-Length: 5
            b'h', b'e', b'l', b'l', b'o', // Message
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x02, // Message-Length: 2
            b'!', b'?', // Message
        ];
        let want = vec![plain(b"hello"), plain(b"!?")];
        for cut in 0..=wire.len() {
            let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
            let (a, b) = wire.split_at(cut);
            assert_eq!(decode_chunks(&mut dec, &[a, b]), want, "cut at {cut}");
            assert_eq!(dec.finish(), Ok(()), "cut at {cut}");
        }
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode_chunks(&mut dec, &bytes), want);
        assert_eq!(dec.finish(), Ok(()));
    }

    /// The trace shows the prefix that came, so the decoder keeps it: on the
    /// fast path, split across chunks, and when it refuses the prefix.
    #[test]
    fn last_prefix_is_the_bytes_received() {
        let mut dec = Decoder::new(8, true);
        assert_eq!(dec.last_prefix(), [0; HEADER_LEN]);
        dec.push(Bytes::from_static(HI));
        assert_eq!(dec.decode(), Ok(Some(plain(b"hi"))));
        assert_eq!(dec.last_prefix(), [0x00, 0x00, 0x00, 0x00, 0x02]);
        // Flag 1 and a prefix split 2 + 3 over two chunks (the slow path).
        decode_chunks(&mut dec, &[&[0x01, 0x00], &[0x00, 0x00, 0x01, b'z']]);
        assert_eq!(dec.last_prefix(), [0x01, 0x00, 0x00, 0x00, 0x01]);
        // Refused: length 9 over the limit of 8; the trace can still show it.
        dec.push(Bytes::from_static(&[
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x09, // Message-Length: 9, over the limit
        ]));
        assert!(dec.decode().is_err());
        assert_eq!(dec.last_prefix(), [0x00, 0x00, 0x00, 0x00, 0x09]);
        // Refused: flag 2.
        let mut dec = Decoder::new(8, false);
        dec.push(Bytes::from_static(&[0x02, 0x00, 0x00, 0x00, 0x01, b'x']));
        assert_eq!(dec.decode(), Err(FrameError::InvalidFlag(2)));
        assert_eq!(dec.last_prefix(), [0x02, 0x00, 0x00, 0x00, 0x01]);
    }

    #[test]
    fn body_within_one_chunk_is_zero_copy() {
        // The body of the second message starts inside the first chunk, so it must be copied;
        // the third lies wholly inside the second chunk, so it must be a slice of it.
        let first = Bytes::from_static(&[
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x03, // Message-Length: 3
            b'a', b'b', b'c', // Message
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x02, // Message-Length: 2
            b'd', // Message, first byte
        ]);
        let second = Bytes::from_static(&[
            b'e', // Message, second byte
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x02, // Message-Length: 2
            b'f', b'g', // Message
        ]);
        let inside = |payload: &Bytes, chunk: &Bytes| {
            let range = chunk.as_ptr_range();
            range.contains(&payload.as_ptr()) && payload.as_ptr_range().end <= range.end
        };
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(first.clone());
        let abc = dec.decode().unwrap().unwrap();
        assert_eq!(abc.payload, &b"abc"[..]);
        assert!(inside(&abc.payload, &first));
        assert_eq!(dec.decode(), Ok(None));
        dec.push(second.clone());
        let de = dec.decode().unwrap().unwrap();
        assert_eq!(de.payload, &b"de"[..]);
        assert!(!inside(&de.payload, &first) && !inside(&de.payload, &second));
        let fg = dec.decode().unwrap().unwrap();
        assert_eq!(fg.payload, &b"fg"[..]);
        assert!(inside(&fg.payload, &second));
    }

    #[test]
    fn length_at_limit_is_accepted() {
        let wire: &[u8] = &[
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x04, // Message-Length: 4 == max
            1, 2, 3, 4, // Message
        ];
        let mut dec = Decoder::new(4, false);
        dec.push(Bytes::from_static(wire));
        assert_eq!(dec.decode(), Ok(Some(plain(&[1, 2, 3, 4]))));
    }

    #[test]
    fn length_above_limit_fails_on_the_prefix_alone() {
        let mut dec = Decoder::new(4, false);
        dec.push(Bytes::from_static(&[
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x05, // Message-Length: 5 == max + 1
        ]));
        assert_eq!(dec.decode(), Err(FrameError::TooLarge { len: 5, max: 4 }));

        // 4 GiB - 1 declared, nothing of the body sent: the error comes at once,
        // before the decoder waits for (or reserves room for) the body.
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(Bytes::from_static(&[
            0x00, // Compressed-Flag: plain
            0xff, 0xff, 0xff, 0xff, // Message-Length: 4 GiB - 1
        ]));
        let err = dec.decode().unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                len: 0xffff_ffff,
                max: DEFAULT_MAX_RECV_BYTES
            }
        );
        let status = err.to_status();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "received message larger than max (4294967295 vs. 4194304)"
        );
    }

    #[test]
    fn compressed_flag_needs_negotiation() {
        let wire: &[u8] = &[
            0x01, // Compressed-Flag: compressed
            0x00, 0x00, 0x00, 0x01, // Message-Length: 1
            0x7f, // Message
        ];
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, true);
        dec.push(Bytes::from_static(wire));
        assert_eq!(
            dec.decode(),
            Ok(Some(Frame {
                compressed: true,
                payload: Bytes::from_static(&[0x7f])
            }))
        );

        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(Bytes::from_static(wire));
        let err = dec.decode().unwrap_err();
        assert_eq!(err, FrameError::CompressedWithoutEncoding);
        let status = err.to_status();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(
            status.message(),
            "compressed flag set but no grpc-encoding negotiated"
        );
    }

    #[test]
    fn flags_above_one_are_invalid() {
        for flag in 2..=u8::MAX {
            for negotiated in [false, true] {
                let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, negotiated);
                dec.push(Bytes::copy_from_slice(&[
                    flag, // Compressed-Flag: out of range
                    0x00, 0x00, 0x00, 0x00, // Message-Length: 0
                ]));
                assert_eq!(dec.decode(), Err(FrameError::InvalidFlag(flag)));
            }
        }
        assert_eq!(
            FrameError::InvalidFlag(2).to_status().code(),
            Code::Internal
        );
    }

    #[test]
    fn finish_reports_truncation() {
        // Inside the prefix: 3 of 5 bytes.
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(Bytes::from_static(&[0x00, 0x00, 0x00]));
        assert_eq!(dec.decode(), Ok(None));
        assert_eq!(dec.finish(), Err(FrameError::Truncated { buffered: 3 }));

        // Inside the body: prefix read, 1 of 2 body bytes.
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(Bytes::from_static(&HI[..6]));
        assert_eq!(dec.decode(), Ok(None));
        assert_eq!(dec.finish(), Err(FrameError::Truncated { buffered: 1 }));

        // Prefix read, no body byte yet: still truncated although nothing is buffered.
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(Bytes::from_static(&HI[..5]));
        assert_eq!(dec.decode(), Ok(None));
        assert_eq!(dec.buffered(), 0);
        let err = dec.finish().unwrap_err();
        assert_eq!(err, FrameError::Truncated { buffered: 0 });
        assert_eq!(err.to_status().code(), Code::Internal);

        // Clean end, and a stream with no messages at all.
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        assert_eq!(dec.finish(), Ok(()));
        dec.push(Bytes::from_static(HI));
        assert!(dec.decode().unwrap().is_some());
        assert_eq!(dec.finish(), Ok(()));
    }

    #[test]
    fn errors_are_sticky() {
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(Bytes::from_static(&[
            0x02, // Compressed-Flag: invalid
            0x00, 0x00, 0x00, 0x00, // Message-Length: 0
        ]));
        dec.push(Bytes::from_static(HI));
        assert_eq!(dec.decode(), Err(FrameError::InvalidFlag(2)));
        // A valid message after the bad prefix is not decoded: boundaries are lost.
        assert_eq!(dec.decode(), Err(FrameError::InvalidFlag(2)));
        dec.push(Bytes::from_static(HI));
        assert_eq!(dec.decode(), Err(FrameError::InvalidFlag(2)));
        assert_eq!(dec.buffered(), 0);
        assert_eq!(dec.finish(), Err(FrameError::InvalidFlag(2)));
    }

    #[test]
    fn tiny_chunks_do_not_pile_up_handles() {
        // One 10 000-byte message fed 1 byte at a time, the way a hostile peer
        // could send 1-byte DATA frames: the queue must stay a few entries long.
        let mut wire = BytesMut::new();
        encode(&mut wire, false, &[7u8; 10_000]);
        let wire = wire.freeze();
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        let mut max_queue = 0;
        let mut frames = Vec::new();
        for i in 0..wire.len() {
            dec.push(wire.slice(i..i + 1));
            max_queue = max_queue.max(dec.chunks.len());
            if let Some(f) = dec.decode().unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].payload.len(), 10_000);
        assert!(
            max_queue <= QUEUED_CHUNKS_BEFORE_COPY + 1,
            "queue grew to {max_queue} entries"
        );
        assert_eq!(dec.finish(), Ok(()));
    }

    #[test]
    fn empty_message_ending_a_chunk_moves_the_next_one_up() {
        // The first chunk is exactly one empty message, and a second chunk is
        // already queued behind it when decoding starts: taking the empty body
        // must move the second chunk to the front, not lose it.
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(Bytes::from_static(&[
            0x00, // Compressed-Flag: plain
            0x00, 0x00, 0x00, 0x00, // Message-Length: 0
        ]));
        dec.push(Bytes::from_static(HI));
        assert_eq!(dec.decode(), Ok(Some(plain(b""))));
        assert_eq!(dec.buffered(), HI.len());
        assert_eq!(dec.chunks.len(), 1);
        assert_eq!(dec.decode(), Ok(Some(plain(b"hi"))));
        assert_eq!(dec.chunks.len(), 0);
        assert_eq!(dec.finish(), Ok(()));
    }

    #[test]
    fn empty_chunks_are_skipped() {
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        let out = decode_chunks(&mut dec, &[&[], &HI[..3], &[], &HI[3..], &[]]);
        assert_eq!(out, vec![plain(b"hi")]);
        assert_eq!(dec.finish(), Ok(()));
    }

    #[test]
    fn encode_with_round_trips_and_appends() {
        let mut dst = BytesMut::from(&b"pre"[..]);
        let res: Result<(), ()> = encode_with(&mut dst, true, |body| {
            body.extend_from_slice(b"abc");
            Ok(())
        });
        assert_eq!(res, Ok(()));
        assert_eq!(
            &dst[..],
            &[
                b'p', b'r', b'e', // earlier content, untouched
                0x01, // Compressed-Flag: compressed
                0x00, 0x00, 0x00, 0x03, // Message-Length: 3
                b'a', b'b', b'c', // Message
            ]
        );
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, true);
        dec.push(dst.freeze().slice(3..));
        assert_eq!(
            dec.decode(),
            Ok(Some(Frame {
                compressed: true,
                payload: Bytes::from_static(b"abc")
            }))
        );
    }

    #[test]
    fn encode_with_truncates_on_error() {
        let mut dst = BytesMut::new();
        encode(&mut dst, false, b"hi");
        let res = encode_with(&mut dst, false, |body| {
            body.extend_from_slice(b"half a message");
            Err("encoder failed")
        });
        assert_eq!(res, Err("encoder failed"));
        assert_eq!(&dst[..], HI);
    }

    proptest! {
        #[test]
        fn any_messages_any_chunking(
            messages in prop::collection::vec(
                (any::<bool>(), prop::collection::vec(any::<u8>(), 0..2000)),
                0..=20,
            ),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
        ) {
            let mut wire = BytesMut::new();
            for (compressed, payload) in &messages {
                encode(&mut wire, *compressed, payload);
            }
            let wire = wire.freeze();
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            cuts.push(wire.len());
            cuts.sort_unstable();

            let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, true);
            let mut got = Vec::new();
            let mut start = 0;
            for cut in cuts {
                dec.push(wire.slice(start..cut));
                start = cut;
                while let Some(frame) = dec.decode()? {
                    got.push((frame.compressed, frame.payload.to_vec()));
                }
            }
            prop_assert_eq!(got, messages);
            prop_assert_eq!(dec.finish(), Ok(()));
            prop_assert_eq!(dec.buffered(), 0);
        }
    }
}
