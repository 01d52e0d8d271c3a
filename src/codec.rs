//! Message codecs: how a typed message becomes the payload of a gRPC frame.
//!
//! Layer: between the wire framing ([`crate::wire::frame`]) and the call
//! patterns. A [`Codec`] only turns one message into bytes and back; the
//! 5-byte prefix, limits and compression are not its business. The default,
//! [`ProstCodec`], serves `application/grpc+proto` (PROTOCOL-HTTP2.md:
//! "Message → *{binary octet}", the protobuf encoding of the message).

use std::fmt;
use std::marker::PhantomData;

use bytes::{BufMut, Bytes, BytesMut};

use crate::trace::{self, Dir, Side};
use crate::wire::compression::{self, Encoding};
use crate::wire::frame;
use crate::wire::status::Status;

/// Encodes outgoing messages and decodes incoming ones for one call.
///
/// `Encode` is what this side sends, `Decode` what it receives: on a server
/// that is (response, request), on a client (request, response).
pub trait Codec: Clone + Send + Sync + 'static {
    /// The message type this side sends.
    type Encode: Send + fmt::Debug + 'static;
    /// The message type this side receives.
    type Decode: Send + fmt::Debug + 'static;

    /// Appends the encoding of `item` to `dst` (which already holds the frame prefix).
    fn encode(&self, item: &Self::Encode, dst: &mut BytesMut) -> Result<(), Status>;

    /// Decodes one whole message payload.
    fn decode(&self, src: Bytes) -> Result<Self::Decode, Status>;

    /// The encoded size of `item` if cheaply known, so the send buffer is
    /// reserved once instead of growing while encoding. 0 means unknown.
    fn encoded_len(&self, item: &Self::Encode) -> usize {
        let _ = item;
        0
    }
}

/// The protobuf codec, on `prost` messages.
pub struct ProstCodec<E, D>(PhantomData<fn(E) -> D>);

impl<E, D> Default for ProstCodec<E, D> {
    fn default() -> Self {
        ProstCodec(PhantomData)
    }
}

impl<E, D> Clone for ProstCodec<E, D> {
    fn clone(&self) -> Self {
        ProstCodec(PhantomData)
    }
}

impl<E, D> fmt::Debug for ProstCodec<E, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProstCodec")
    }
}

impl<E, D> Codec for ProstCodec<E, D>
where
    E: prost::Message + fmt::Debug + Send + 'static,
    D: prost::Message + fmt::Debug + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;

    fn encode(&self, item: &E, dst: &mut BytesMut) -> Result<(), Status> {
        // `Message::encode` would compute `encoded_len` only to check it against
        // the room left, and a `BytesMut` never runs out of room (it grows), so
        // this goes straight to `encode_raw`, the method every prost message
        // implements and prost's own `encode`/`encode_to_vec` end in. That saves
        // a second walk over the message: `encode_message` has already sized
        // the buffer with `encoded_len`.
        item.encode_raw(dst);
        Ok(())
    }

    fn encoded_len(&self, item: &E) -> usize {
        item.encoded_len()
    }

    #[inline]
    fn decode(&self, src: Bytes) -> Result<D, Status> {
        D::decode(src).map_err(|e| Status::internal(format!("failed to decode message: {e}")))
    }
}

/// Appends one uncompressed framed message (prefix + payload) to `buf`,
/// enforcing the send limit `max` on the payload: over it, `buf` is left as it
/// was and the error is `RESOURCE_EXHAUSTED`.
///
/// This is what a call does for each message it sends without compression; it
/// is public so the framing bench measures exactly this code. The buffer is
/// sized once from [`Codec::encoded_len`] and the message encoded in place
/// behind its prefix, with no intermediate copy.
pub fn encode_frame<C: Codec>(
    codec: &C,
    item: &C::Encode,
    buf: &mut BytesMut,
    max: usize,
) -> Result<(), Status> {
    // The 4-byte Message-Length caps every message, whatever the configured limit.
    let max = max.min(MAX_FRAMED);
    let start = buf.len();
    let size = frame::HEADER_LEN + codec.encoded_len(item);
    if buf.capacity() == 0 {
        // A fresh buffer (a unary reply): allocate it at its size directly,
        // cheaper than `reserve`'s grow path on an empty buffer.
        *buf = BytesMut::with_capacity(size);
    } else {
        buf.reserve(size);
    }
    // The prefix is written with the expected length, so a codec whose
    // `encoded_len` is exact (prost's is) needs no patch afterwards.
    let hint = u32::try_from(size - frame::HEADER_LEN).unwrap_or(u32::MAX);
    buf.put_slice(&frame::encode_header(false, hint));
    if let Err(status) = codec.encode(item, buf) {
        buf.truncate(start);
        return Err(status);
    }
    let len = buf.len() - start - frame::HEADER_LEN;
    if len > max {
        buf.truncate(start);
        return Err(too_large(len, max));
    }
    if len != size - frame::HEADER_LEN {
        // Fits: `len <= max <= u32::MAX`, checked above.
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        buf[start..start + frame::HEADER_LEN].copy_from_slice(&frame::encode_header(false, len));
    }
    Ok(())
}

/// The largest payload the 5-byte prefix can describe (u32 length; usize is at
/// least 32 bits on every target we build for).
const MAX_FRAMED: usize = u32::MAX as usize;

fn too_large(len: usize, max: usize) -> Status {
    Status::resource_exhausted(format!("message larger than max ({len} vs. {max})"))
}

/// Appends one framed message (prefix + payload) to `buf`, enforcing the send
/// limit `max` on the payload: over it, `buf` is left as it was and the call
/// gets `RESOURCE_EXHAUSTED`.
///
/// With an encoding the message is encoded into a scratch buffer first and
/// compressed into `buf` behind a prefix with flag 1; the limit applies to the
/// uncompressed size, the one the receiver will hold.
pub(crate) fn encode_message<C: Codec>(
    codec: &C,
    item: &C::Encode,
    buf: &mut BytesMut,
    max: usize,
    encoding: Option<Encoding>,
    side: Side,
) -> Result<(), Status> {
    let start = buf.len();
    let mut plain = None;
    match encoding {
        None => encode_frame(codec, item, buf, max)?,
        Some(encoding) => {
            let mut uncompressed = BytesMut::with_capacity(codec.encoded_len(item));
            codec.encode(item, &mut uncompressed)?;
            if uncompressed.len() > max {
                return Err(too_large(uncompressed.len(), max));
            }
            frame::encode_with(buf, true, |dst| {
                compression::compress(encoding, &uncompressed, dst)
            })?;
            plain = Some(uncompressed);
        }
    }
    if trace::enabled()
        && let Some((prefix, payload)) = buf[start..].split_first_chunk::<{ frame::HEADER_LEN }>()
    {
        trace::message(side, Dir::Send, *prefix, payload, plain.as_deref(), item);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_value_round_trip() {
        // google.protobuf.StringValue{value:"102"}: field 1, wire type 2 (0x0a), len 3, "102".
        let codec = ProstCodec::<String, String>::default();
        let mut buf = BytesMut::new();
        codec.encode(&"102".to_string(), &mut buf).unwrap();
        assert_eq!(&buf[..], b"\x0a\x03102");
        assert_eq!(codec.decode(buf.freeze()).unwrap(), "102");
    }

    #[test]
    fn encode_frame_writes_prefix_and_payload() {
        let codec = ProstCodec::<String, String>::default();
        let mut buf = BytesMut::new();
        encode_frame(&codec, &"102".to_string(), &mut buf, 5).unwrap();
        assert_eq!(
            &buf[..],
            &[
                0x00, // Compressed-Flag: plain
                0x00, 0x00, 0x00, 0x05, // Message-Length: 5
                0x0a, 0x03, b'1', b'0', b'2', // StringValue{value:"102"}
            ]
        );
        // Sized exactly, so freezing it for h2 keeps the one allocation.
        assert_eq!(buf.capacity(), buf.len());

        // Appends behind what is there, growing the buffer.
        encode_frame(&codec, &String::new(), &mut buf, 5).unwrap();
        assert_eq!(&buf[10..], &[0x00, 0x00, 0x00, 0x00, 0x00]); // empty message
    }

    #[test]
    fn encode_frame_over_the_limit_leaves_the_buffer() {
        let codec = ProstCodec::<String, String>::default();
        let mut buf = BytesMut::from(&b"earlier"[..]);
        let err = encode_frame(&codec, &"102".to_string(), &mut buf, 4).unwrap_err();
        assert_eq!(err.code(), crate::wire::status::Code::ResourceExhausted);
        assert_eq!(err.message(), "message larger than max (5 vs. 4)");
        assert_eq!(&buf[..], b"earlier");
    }

    #[test]
    fn garbage_is_internal() {
        let codec = ProstCodec::<String, String>::default();
        // Field 1, wire type 2, length 5 but only 1 byte follows.
        let err = codec.decode(Bytes::from_static(b"\x0a\x05x")).unwrap_err();
        assert_eq!(err.code(), crate::wire::status::Code::Internal);
    }
}
