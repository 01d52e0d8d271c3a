//! Allocation counts of the message decoder (`h2grpc::wire::frame::Decoder`).
//!
//! Layer: wire, through the public API. Issue 6: a unary message that arrives in
//! one DATA chunk must cost the decoder no allocation at all (its payload is a
//! slice of the chunk, and the chunk queue is not allocated for one chunk).
//!
//! A counting global allocator counts per thread, so tests running in parallel
//! do not see each other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{Bytes, BytesMut};
use h2grpc::wire::frame::{self, DEFAULT_MAX_RECV_BYTES, Decoder};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the slot may already be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a const-initialised thread-local that never allocates itself.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

/// `messages` framed back to back, as one received chunk.
///
/// Made the way h2 makes a DATA payload (`split` off its read buffer, then
/// `freeze`): a refcounted `Bytes` whose clones and slices are a counter
/// increment. A `Bytes` frozen straight from a fresh `BytesMut` would instead
/// allocate its refcount on the first clone, which is not the decoder's doing.
fn wire(messages: &[&[u8]]) -> Bytes {
    let mut buf = BytesMut::new();
    for message in messages {
        frame::encode(&mut buf, false, message);
    }
    buf.split().freeze()
}

#[test]
fn one_chunk_message_allocates_nothing() {
    let chunk = wire(&[b"a unary request, whole in one DATA frame"]);
    let (n, payload) = allocations(|| {
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(chunk.clone());
        let frame = dec.decode().unwrap().unwrap();
        assert_eq!(dec.decode(), Ok(None));
        assert_eq!(dec.finish(), Ok(()));
        frame.payload
    });
    assert_eq!(&payload[..], b"a unary request, whole in one DATA frame");
    assert_eq!(n, 0, "decoding a one-chunk message allocated {n} times");
}

#[test]
fn batch_in_one_chunk_allocates_nothing() {
    // Many small streamed messages coalesced into one DATA frame, and an empty one.
    let chunk = wire(&[b"one", b"", b"three", &[7; 64]]);
    let (n, got) = allocations(|| {
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(chunk.clone());
        let mut lens = [0; 4];
        for len in &mut lens {
            *len = dec.decode().unwrap().unwrap().payload.len();
        }
        assert_eq!(dec.decode(), Ok(None));
        assert_eq!(dec.finish(), Ok(()));
        lens
    });
    assert_eq!(got, [3, 0, 5, 64]);
    assert_eq!(n, 0, "decoding a one-chunk batch allocated {n} times");
}

#[test]
fn one_chunk_at_a_time_allocates_nothing() {
    // A stream whose messages each come in their own DATA frame, each decoded
    // before the next arrives: the queue never holds more than one chunk.
    let chunks: Vec<Bytes> = (0..10u8).map(|i| wire(&[&[i; 100]])).collect();
    let (n, ()) = allocations(|| {
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        for (i, chunk) in chunks.iter().enumerate() {
            dec.push(chunk.clone());
            let frame = dec.decode().unwrap().unwrap();
            assert_eq!(frame.payload[..], [i as u8; 100]);
        }
        assert_eq!(dec.finish(), Ok(()));
    });
    assert_eq!(n, 0, "decoding one message per chunk allocated {n} times");
}

#[test]
fn the_counter_sees_decoder_allocations() {
    // Control: a message split over two chunks is copied once into a body
    // buffer, and the second chunk queued behind the first needs the queue,
    // so the counter must see allocations here.
    let whole = wire(&[b"split across two DATA frames"]);
    let (first, second) = (whole.slice(..10), whole.slice(10..));
    let (n, payload) = allocations(|| {
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(first);
        dec.push(second);
        dec.decode().unwrap().unwrap().payload
    });
    assert_eq!(&payload[..], b"split across two DATA frames");
    assert!(n >= 2, "expected the queue and the body copy, counted {n}");
}
