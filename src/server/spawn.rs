//! Where a call's future runs: a task of its own, or, on a connection
//! thread, first polled on its connection's task.
//!
//! Layer: h2 glue, below the call patterns (`call.rs` starts calls here) and
//! beside the connection loop (`connection.rs` opens and drains the inline
//! queue). It knows nothing of gRPC: it schedules `Future<Output = ()>`s.

use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Starts a call: its future is boxed, then spawned as its own task, or,
/// when a connection thread is dispatching (see [`dispatch_inline`]), queued
/// to be polled on the connection's own task.
///
/// Boxed: the future is large (handler, request, responder), and tokio
/// would otherwise copy it by value several times while spawning; one
/// allocation is cheaper (seen in callgrind). The box is allocated before the
/// future is built, so the future is built straight into it: built first and
/// then boxed, it was copied whole (1.5 KB) from the stack into the heap on
/// every call.
pub(super) fn start<F>(make: impl FnOnce() -> F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let slot = Box::<F>::new_uninit();
    let call = Box::into_pin(Box::write(slot, make()));
    if INLINE.with_borrow(|inline| inline.open) {
        INLINE.with_borrow_mut(|inline| inline.calls.push(call));
    } else {
        tokio::spawn(call);
    }
}

/// A started call, its future boxed.
type BoxedCall = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Calls started while a connection thread dispatches, waiting for their
/// first poll on the connection's task.
struct Inline {
    /// Set only while a connection thread's connection task dispatches: a
    /// `Call` moved elsewhere by a service and started there is spawned.
    open: bool,
    calls: Vec<BoxedCall>,
}

thread_local! {
    static INLINE: RefCell<Inline> = const {
        RefCell::new(Inline { open: false, calls: Vec::new() })
    };
}

/// Runs `dispatch` with every call it starts queued for [`run_inline`]
/// instead of spawned (connection threads only).
///
/// Why: on a connection thread the connection and its calls share one thread
/// anyway, so a spawned call only waits for the connection task to yield.
/// Polled inline, a unary call whose request arrived whole usually finishes
/// in that one poll, and no task is made or woken for it.
pub(super) fn dispatch_inline(dispatch: impl FnOnce()) {
    INLINE.with_borrow_mut(|inline| inline.open = true);
    // Reset even if dispatch unwinds, so later calls are spawned, not stranded.
    struct Close;
    impl Drop for Close {
        fn drop(&mut self) {
            INLINE.with_borrow_mut(|inline| inline.open = false);
        }
    }
    let _close = Close;
    dispatch();
}

/// Polls each queued call once, here on the connection's task; spawns the
/// ones that are not finished. The connection calls this when `h2` has no
/// further stream to hand out, not after each one: replies queued by one
/// batch of calls then leave in one write, as they do when every call has its
/// own task (run after each accept, it was one `writev` per call).
///
/// The poll uses a no-op waker: an unfinished call is spawned at once, and
/// its task's first poll registers the real waker wherever this poll left the
/// no-op one (the `Future` contract: only the latest poll's waker is woken).
/// A panic outside the handler's own guard drops just that call (`h2` resets
/// its stream), as it would in its own task.
pub(super) fn run_inline() {
    let mut calls = INLINE.with_borrow_mut(|inline| std::mem::take(&mut inline.calls));
    if calls.is_empty() {
        return;
    }
    let mut cx = Context::from_waker(Waker::noop());
    for mut call in calls.drain(..) {
        match std::panic::catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(&mut cx))) {
            Ok(Poll::Pending) => {
                tokio::spawn(call);
            }
            Ok(Poll::Ready(())) | Err(_) => {}
        }
    }
    // Hand the (empty) buffer back, so the next batch does not allocate.
    INLINE.with_borrow_mut(|inline| {
        if inline.calls.is_empty() {
            inline.calls = calls;
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A call future that counts its polls and finishes on the `ready_at`-th.
    fn counted(polls: Arc<AtomicUsize>, ready_at: usize) -> impl Future<Output = ()> + Send {
        std::future::poll_fn(move |cx| {
            if polls.fetch_add(1, Ordering::SeqCst) + 1 >= ready_at {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    #[tokio::test(flavor = "current_thread")]
    async fn calls_started_while_dispatching_inline_wait_for_run_inline() {
        let (quick, slow) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (q, s) = (quick.clone(), slow.clone());
        dispatch_inline(|| {
            start(|| counted(q, 1));
            start(|| counted(s, 3));
        });
        // Queued, not polled and not spawned: yielding runs nothing.
        tokio::task::yield_now().await;
        assert_eq!(quick.load(Ordering::SeqCst), 0);
        assert_eq!(slow.load(Ordering::SeqCst), 0);
        run_inline();
        // Both polled once here; the quick one is done, the slow one was
        // spawned and its task finishes it.
        assert_eq!(quick.load(Ordering::SeqCst), 1);
        assert_eq!(slow.load(Ordering::SeqCst), 1);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(quick.load(Ordering::SeqCst), 1);
        assert_eq!(slow.load(Ordering::SeqCst), 3);
        // The queue is empty again.
        run_inline();
        assert_eq!(slow.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn calls_started_outside_a_dispatch_are_spawned() {
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        dispatch_inline(|| {});
        // Started later, e.g. by a service that moved its `Call` elsewhere.
        start(|| counted(p, 1));
        tokio::task::yield_now().await;
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_call_polled_inline_is_dropped_alone() {
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        dispatch_inline(|| {
            start(|| async { panic!("call panicked") });
            start(|| counted(p, 1));
        });
        run_inline();
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }
}
