//! A counting global allocator, per side of a call, shared by `order-bench`
//! and the tonic peer's `tonic-order-bench` (which includes this file by path).
//!
//! Layer: benchmark tooling; the library never installs an allocator.
//!
//! Method. `--count-allocs` runs the server and the client in one process,
//! each on its own single-threaded tokio runtime on its own OS thread, and
//! tags each thread with a [`Side`]. Every task of a side (connection driver,
//! per-call task, the caller) runs on that side's thread, so an allocation is
//! charged to the side whose code asked for it. Counted: calls to `alloc`,
//! `alloc_zeroed` and `realloc` (a `realloc` counts as one allocation of its
//! new size); `dealloc` is free. Bytes are the sizes requested, not what
//! malloc rounds them up to.
//!
//! Off by default: until [`start`] the wrapper costs one relaxed load of a
//! flag nobody writes, then forwards to the system allocator, so the timed
//! modes of both bench clients run on plain system malloc.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The global allocator: system malloc, counting when switched on.
#[derive(Debug)]
pub struct Counting;

/// Which side of the call a thread works for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Not tagged: set-up, the bench harness itself.
    Other = 0,
    /// The server runtime's thread.
    Server = 1,
    /// The client runtime's thread.
    Client = 2,
}

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static BYTES: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

thread_local! {
    // const-initialised and without Drop: reading it never allocates and
    // never fails during thread teardown, which an allocator needs.
    static SIDE: Cell<Side> = const { Cell::new(Side::Other) };
}

fn count(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        let side = SIDE.try_with(Cell::get).unwrap_or(Side::Other) as usize;
        ALLOCS[side].fetch_add(1, Ordering::Relaxed);
        BYTES[side].fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; counting touches only atomics and a const thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Tags the current thread; call first thing on a side's runtime thread.
pub fn set_side(side: Side) {
    SIDE.with(|s| s.set(side));
}

/// Switches counting on (it stays on; measure with [`snapshot`] deltas).
pub fn start() {
    COUNTING.store(true, Ordering::SeqCst);
}

/// Allocations and bytes charged to `side` so far.
pub fn snapshot(side: Side) -> (u64, u64) {
    let i = side as usize;
    (
        ALLOCS[i].load(Ordering::SeqCst),
        BYTES[i].load(Ordering::SeqCst),
    )
}
