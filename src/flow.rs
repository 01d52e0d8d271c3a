//! Sending DATA under HTTP/2 flow control, shared by both ends.
//!
//! Layer: h2 glue. RFC 9113 §5.2: a sender may not exceed the peer's window.
//! `h2` would accept any amount and buffer what the window does not cover;
//! we instead wait until the window has room before handing over the next
//! batch, so a peer that stops reading holds us at one batch beyond its
//! window rather than letting our memory grow with the handler's output.
//!
//! Batching: a stream's messages are encoded into one [`Batch`] and handed to
//! h2 together, up to [`COALESCE_BYTES`] at a time (one `send_data` per message
//! costs a wake-up of the connection task each; tonic batches the same way).

use std::future::poll_fn;

use bytes::{Bytes, BytesMut};
use h2::{Reason, SendStream};

/// Ready messages are coalesced into one DATA write of up to this many bytes.
pub(crate) const COALESCE_BYTES: usize = 32 * 1024;

/// HTTP/2's initial (and usual) SETTINGS_MAX_FRAME_SIZE, RFC 9113 §6.5.2: a
/// batch sent in multiples of it leaves h2 no short frame to split off.
const FRAME_BYTES: usize = 16 * 1024;

/// Room taken for each batch once a stream has filled one: a batch and one
/// more message of up to another batch fit without regrowing. A buffer left
/// to grow regrows by doubling from a few bytes in every batch once `split`
/// has handed the last one to h2 (callgrind: ~8 % of the server's
/// instructions per 64 B message, and twice the payload in `memcpy` for 4 KiB ones).
const BATCH_CAPACITY: usize = 2 * COALESCE_BYTES;

/// Room for the batches of a stream that has not filled one yet. Most
/// streams are short, and a batch's buffer stays allocated until h2 has
/// written it: 64 KiB per call would be a lot to hold for a few small
/// messages on each of a thousand streams (tonic starts at 8 KiB too).
const FIRST_BATCH_CAPACITY: usize = 8 * 1024;

/// The send buffer of one message stream (a server's streaming reply, a
/// client's request stream): messages are encoded into [`Batch::buf`] and
/// leave in batches.
#[derive(Debug)]
pub(crate) struct Batch {
    buf: BytesMut,
    room: usize,
}

impl Batch {
    pub(crate) fn new() -> Batch {
        Batch {
            buf: BytesMut::new(),
            room: FIRST_BATCH_CAPACITY,
        }
    }

    /// Takes room for a new batch if the buffer is empty and short of it, while
    /// nothing is there to copy (h2 may still hold the last batch's bytes).
    /// True when it did: the first call always does.
    pub(crate) fn make_room(&mut self) -> bool {
        let short = self.buf.is_empty() && self.buf.capacity() < self.room / 2;
        if short {
            self.buf.reserve(self.room);
        }
        short
    }

    /// Where the next message is encoded.
    pub(crate) fn buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// A whole batch is waiting: the sender should wait until it has gone.
    pub(crate) fn is_full(&self) -> bool {
        self.buf.len() >= COALESCE_BYTES
    }

    /// A full batch, once there is one: whole frames only; the tail (part of
    /// the last message) opens the next batch instead of going out as a runt
    /// DATA frame after every batch (one more write each).
    pub(crate) fn take_full(&mut self) -> Option<Bytes> {
        if self.buf.len() < COALESCE_BYTES {
            return None;
        }
        let whole = self.buf.len() - self.buf.len() % FRAME_BYTES;
        let batch = self.buf.split_to(whole).freeze();
        self.room = BATCH_CAPACITY;
        self.buf.reserve(self.room);
        Some(batch)
    }

    /// Everything buffered: nothing more is ready, or the stream has ended.
    pub(crate) fn take_all(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

/// Sends `data` (possibly empty) once the stream has send capacity.
pub(crate) async fn send_data(
    stream: &mut SendStream<Bytes>,
    data: Bytes,
    end_of_stream: bool,
) -> Result<(), h2::Error> {
    if !data.is_empty() {
        stream.reserve_capacity(data.len());
        if stream.capacity() == 0 && crate::trace::enabled() {
            crate::trace::window_wait(data.len());
        }
        while stream.capacity() == 0 {
            match poll_fn(|cx| stream.poll_capacity(cx)).await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Err(h2::Error::from(Reason::STREAM_CLOSED)),
            }
        }
    }
    stream.send_data(data, end_of_stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_leave_in_whole_frames_and_keep_their_room() {
        let mut batch = Batch::new();
        // The first message of a stream takes the small room, once.
        assert!(batch.make_room());
        assert!(batch.buf().capacity() >= FIRST_BATCH_CAPACITY);
        assert!(!batch.make_room(), "room is taken once per batch");
        batch.buf().extend_from_slice(&[7; 100]);
        assert_eq!(batch.take_full(), None, "not full yet");
        // A partial batch goes out whole when nothing more is ready.
        assert_eq!(batch.take_all().len(), 100);
        assert!(batch.is_empty());
        // What is left of the room serves the next batch: no new allocation.
        assert!(!batch.make_room());
        // A full batch: whole 16 KiB frames out, the tail stays for the next one,
        // and from now on batches get the big room.
        batch.buf().extend_from_slice(&[1; COALESCE_BYTES + 40]);
        let full = batch.take_full().unwrap();
        assert_eq!(full.len(), COALESCE_BYTES);
        assert_eq!(full.len() % FRAME_BYTES, 0);
        assert_eq!(batch.buf().len(), 40);
        assert!(batch.buf().capacity() >= BATCH_CAPACITY);
        assert_eq!(batch.take_all().len(), 40);
    }
}
