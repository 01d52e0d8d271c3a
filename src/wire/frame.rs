//! Length-prefixed message framing: CONTRACT STUB.

use bytes::{Bytes, BytesMut};

use super::status::{Code, Status};

/// Bytes in the prefix: 1 flag byte + 4 length bytes.
pub const HEADER_LEN: usize = 5;

/// Default receive limit per message, as in every major gRPC implementation.
pub const DEFAULT_MAX_RECV_BYTES: usize = 4 * 1024 * 1024;

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
    pub fn to_status(&self) -> Status {
        let _ = Code::Internal;
        todo!()
    }
}

/// Writes the 5-byte prefix for a payload of `len` bytes.
pub fn encode_header(compressed: bool, len: u32) -> [u8; HEADER_LEN] {
    todo!("{compressed}{len}")
}

/// Appends one framed message to `dst`: reserves the prefix, lets `write_body`
/// append the payload in place, then patches the length. No intermediate copy.
pub fn encode_with<E>(
    dst: &mut BytesMut,
    compressed: bool,
    write_body: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<(), E> {
    todo!("{dst:?}{compressed}{:p}", &write_body)
}

/// Streaming decoder: DATA chunks in, frames out.
#[derive(Debug)]
pub struct Decoder {
    _todo: (),
}

impl Decoder {
    /// A decoder with a receive limit; `compression_negotiated` says whether flag 1 is allowed.
    pub fn new(max_recv_bytes: usize, compression_negotiated: bool) -> Decoder {
        todo!("{max_recv_bytes}{compression_negotiated}")
    }
    /// Queues one received chunk (zero-copy: the chunk is kept, not copied).
    pub fn push(&mut self, chunk: Bytes) {
        todo!("{chunk:?}")
    }
    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<Frame>, FrameError> {
        todo!()
    }
    /// Call at end of stream: an error if a partial frame is buffered.
    pub fn finish(&self) -> Result<(), FrameError> {
        todo!()
    }
    /// Bytes queued and not yet handed out.
    pub fn buffered(&self) -> usize {
        todo!()
    }
}
