//! Message codecs: how a typed message becomes the payload of a gRPC frame.
//!
//! Layer: between the wire framing ([`crate::wire::frame`]) and the call
//! patterns. A [`Codec`] only turns one message into bytes and back; the
//! 5-byte prefix, limits and compression are not its business. The default,
//! [`ProstCodec`], serves `application/grpc+proto` (PROTOCOL-HTTP2.md:
//! "Message → *{binary octet}", the protobuf encoding of the message).

use std::fmt;
use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};

use crate::trace::{self, Dir, Side};
use crate::wire::compression::{self, Encoding};
use crate::wire::frame;
use crate::wire::status::Status;

/// Encodes outgoing messages and decodes incoming ones for one call.
///
/// `Encode` is what this side sends, `Decode` what it receives: on a server
/// that is (response, request), on a client (request, response).
pub trait Codec: Default + Send + Sync + 'static {
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
        // `BytesMut` grows as needed, so encoding cannot run out of room.
        item.encode(dst)
            .map_err(|e| Status::internal(format!("failed to encode message: {e}")))
    }

    fn encoded_len(&self, item: &E) -> usize {
        item.encoded_len()
    }

    fn decode(&self, src: Bytes) -> Result<D, Status> {
        D::decode(src).map_err(|e| Status::internal(format!("failed to decode message: {e}")))
    }
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
    let too_large = |len: usize| {
        Status::resource_exhausted(format!("message larger than max ({len} vs. {max})"))
    };
    let start = buf.len();
    let mut plain = None;
    match encoding {
        None => {
            buf.reserve(frame::HEADER_LEN + codec.encoded_len(item));
            frame::encode_with(buf, false, |dst| codec.encode(item, dst))?;
            let len = buf.len() - start - frame::HEADER_LEN;
            if len > max {
                buf.truncate(start);
                return Err(too_large(len));
            }
        }
        Some(encoding) => {
            let mut uncompressed = BytesMut::new();
            codec.encode(item, &mut uncompressed)?;
            if uncompressed.len() > max {
                return Err(too_large(uncompressed.len()));
            }
            frame::encode_with(buf, true, |dst| {
                compression::compress(encoding, &uncompressed, dst)
            })?;
            plain = Some(uncompressed);
        }
    }
    if trace::enabled() {
        trace::message(side, Dir::Send, &buf[start..], plain.as_deref(), item);
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
    fn garbage_is_internal() {
        let codec = ProstCodec::<String, String>::default();
        // Field 1, wire type 2, length 5 but only 1 byte follows.
        let err = codec.decode(Bytes::from_static(b"\x0a\x05x")).unwrap_err();
        assert_eq!(err.code(), crate::wire::status::Code::Internal);
    }
}
