//! The `too_many_pings` GOAWAY: the debug data a client needs to back off.
//!
//! Layer: h2 glue, sans-IO (byte slices in, bytes out).
//! Spec: gRFC A8 (client-side keepalive) and grpc/grpc doc/keepalive.md; the
//! GOAWAY frame is RFC 9113 §6.8.
//!
//! A server that refuses a client for pinging too often sends GOAWAY with
//! ENHANCE_YOUR_CALM and the debug data ASCII `too_many_pings`. The debug data
//! is what a client acts on: grpc-go, grpc-java and gRPC core double their
//! keepalive time only when they see exactly those bytes; without them they
//! reconnect and are refused again on every round. `h2` cannot attach debug
//! data to a GOAWAY it is asked to send, so the socket tap below it
//! (`tap::Tap`) swaps h2's frame for [`with_too_many_pings`] of it on
//! its way out.
//!
//! ```text
//! +-----------------------------------------------+
//! |  Length (24) = 8 + 14  | Type (8) = 0x7 | 0x0 |
//! +-+---------------------------------------------+
//! |R|  Stream Identifier (31) = 0                 |
//! +-+---------------------------------------------+   h2's frame: these
//! |R|  Last-Stream-ID (31)                        |   17 bytes, Length 8
//! +-+---------------------------------------------+
//! |  Error Code (32) = 0xb ENHANCE_YOUR_CALM      |
//! +-----------------------------------------------+
//! |  Additional Debug Data = "too_many_pings"     |   added here
//! +-----------------------------------------------+
//! ```

/// HTTP/2 frame header: length (24 bits), type, flags, stream id (RFC 9113 §4.1).
const FRAME_HEADER_LEN: usize = 9;

/// GOAWAY frame type (RFC 9113 §6.8).
const TYPE_GOAWAY: u8 = 0x7;

/// Last-Stream-ID and Error Code: a GOAWAY payload without debug data.
const GOAWAY_FIXED_LEN: usize = 8;

/// ENHANCE_YOUR_CALM (RFC 9113 §7).
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The debug data gRFC A8 names; clients compare it byte for byte.
pub(crate) const TOO_MANY_PINGS: &[u8] = b"too_many_pings";

/// Length of the GOAWAY h2 writes: header and the fixed payload.
pub(crate) const PLAIN_LEN: usize = FRAME_HEADER_LEN + GOAWAY_FIXED_LEN;

/// Length of the same frame with [`TOO_MANY_PINGS`] added.
pub(crate) const WITH_DEBUG_LEN: usize = PLAIN_LEN + TOO_MANY_PINGS.len();

/// Where in `buf`, which starts at a frame boundary, the first whole GOAWAY
/// ENHANCE_YOUR_CALM without debug data begins. Walks frame headers; `None`
/// when there is none, or it is not wholly inside `buf`.
pub(crate) fn find_plain_calm(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(head) = buf.get(at..at + FRAME_HEADER_LEN) {
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        if head[3] == TYPE_GOAWAY && len == GOAWAY_FIXED_LEN {
            let frame = buf.get(at..at + PLAIN_LEN)?;
            let code = u32::from_be_bytes([frame[13], frame[14], frame[15], frame[16]]);
            if code == ENHANCE_YOUR_CALM {
                return Some(at);
            }
        }
        at += FRAME_HEADER_LEN + len;
    }
    None
}

/// `plain` (a frame [`find_plain_calm`] found, at its start) with the debug data
/// added: same flags, stream 0, last stream id and code; length 8 + 14.
pub(crate) fn with_too_many_pings(plain: &[u8]) -> Option<[u8; WITH_DEBUG_LEN]> {
    let plain = plain.get(..PLAIN_LEN)?;
    let mut out = [0u8; WITH_DEBUG_LEN];
    out[..PLAIN_LEN].copy_from_slice(plain);
    let len = u32::try_from(GOAWAY_FIXED_LEN + TOO_MANY_PINGS.len()).ok()?;
    out[..3].copy_from_slice(&len.to_be_bytes()[1..]);
    out[PLAIN_LEN..].copy_from_slice(TOO_MANY_PINGS);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// h2's GOAWAY: last stream 5, ENHANCE_YOUR_CALM, no debug data.
    const PLAIN: [u8; PLAIN_LEN] = [
        0x00, 0x00, 0x08, // length 8
        0x07, // type GOAWAY
        0x00, // flags
        0x00, 0x00, 0x00, 0x00, // stream 0
        0x00, 0x00, 0x00, 0x05, // last stream id 5
        0x00, 0x00, 0x00, 0x0b, // ENHANCE_YOUR_CALM
    ];

    #[test]
    fn adds_the_debug_data_and_fixes_the_length() {
        let out = with_too_many_pings(&PLAIN).unwrap();
        assert_eq!(
            &out[..],
            b"\x00\x00\x16\x07\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x0btoo_many_pings"
        );
        assert_eq!(with_too_many_pings(&PLAIN[..16]), None, "cut short");
    }

    #[test]
    fn finds_the_goaway_after_other_frames() {
        // A SETTINGS ACK (no payload), then a PING ACK (8 bytes), then the GOAWAY.
        let mut buf = vec![0, 0, 0, 0x4, 0x1, 0, 0, 0, 0];
        buf.extend([0, 0, 8, 0x6, 0x1, 0, 0, 0, 0]);
        buf.extend([0xee; 8]);
        buf.extend(PLAIN);
        assert_eq!(find_plain_calm(&buf), Some(26));
        assert_eq!(find_plain_calm(&PLAIN), Some(0));
    }

    #[test]
    fn ignores_other_goaways_and_partial_frames() {
        let mut no_error = PLAIN;
        no_error[16] = 0x00; // NO_ERROR: a graceful shutdown, left alone
        assert_eq!(find_plain_calm(&no_error), None);
        let mut with_data = PLAIN.to_vec();
        with_data[2] = 8 + 3; // already carries 3 bytes of debug data
        with_data.extend(b"abc");
        assert_eq!(find_plain_calm(&with_data), None);
        // Only part of the frame is here: not rewritable in this buffer.
        assert_eq!(find_plain_calm(&PLAIN[..12]), None);
        // A frame whose payload runs past the buffer hides what follows.
        let mut buf = vec![0, 0x10, 0, 0x0, 0, 0, 0, 0, 1];
        buf.extend(PLAIN);
        assert_eq!(find_plain_calm(&buf), None);
    }
}
