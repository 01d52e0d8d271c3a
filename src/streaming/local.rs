//! `Streaming<T>` built in process: for testing a handler, or a mock client,
//! without a network.
//!
//! Layer: the typed API. A handler under test takes the same
//! `Request<Streaming<T>>` the server hands it, built from a `Vec` or any
//! `Stream`; a mock of a generated client trait returns a
//! `Response<Streaming<T>>` the same way.
//!
//! ```
//! use h2grpc::{Status, Streaming};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mut stream = Streaming::from_vec(vec![1, 2]);
//! assert_eq!(stream.recv().await, Ok(Some(1)));
//! assert_eq!(stream.recv().await, Ok(Some(2)));
//! assert_eq!(stream.recv().await, Ok(None)); // the end, as a peer's END_STREAM
//!
//! // An `Err` item fails the stream, as a reset or a non-OK status would.
//! let items = vec![Ok(1), Err(Status::data_loss("cut"))];
//! let mut stream = Streaming::from_stream(futures::stream::iter(items));
//! assert_eq!(stream.recv().await, Ok(Some(1)));
//! assert_eq!(stream.recv().await.unwrap_err().message(), "cut");
//! assert_eq!(stream.recv().await.unwrap_err().message(), "cut"); // and keeps saying so
//! # });
//! ```
//!
//! The network path pays nothing for this: a local stream has no h2 body,
//! and it is read only where a network stream would have found its body
//! missing (`poll_local`).

use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::Stream;

use super::{State, Streaming};
use crate::BoxStream;
use crate::trace::Side;
use crate::wire::frame::{self, DEFAULT_MAX_RECV_BYTES, Decoder};
use crate::wire::metadata::Metadata;
use crate::wire::status::Status;

/// The source of a stream built in process.
pub(super) struct Local<T> {
    /// The messages. Behind a `Mutex` only so that `Streaming` stays `Sync`
    /// for any `Send` stream: it is reached through `get_mut`, never locked.
    items: Mutex<BoxStream<T>>,
    /// What `Streaming::trailers` reports once the messages have ended.
    trailers: Option<Metadata>,
}

/// Never called: a local stream has no bytes to decode.
fn no_bytes<T>(
    _: Side,
    _: [u8; frame::HEADER_LEN],
    _: Bytes,
    _: Option<Bytes>,
) -> Result<T, Status> {
    Err(Status::internal(
        "an in-process stream has no bytes to decode",
    ))
}

impl<T> Streaming<T> {
    /// A stream of `messages`, then a clean end; for tests and mocks.
    pub fn from_vec(messages: Vec<T>) -> Streaming<T>
    where
        T: Send + 'static,
    {
        Streaming::from_stream(futures::stream::iter(messages.into_iter().map(Ok)))
    }

    /// A stream of what `messages` yields; an `Err` item fails the stream
    /// with that status (nothing after it is read), as a peer's reset or
    /// non-OK status would. For tests and mocks.
    pub fn from_stream<S>(messages: S) -> Streaming<T>
    where
        S: Stream<Item = Result<T, Status>> + Send + 'static,
        T: 'static,
    {
        Streaming {
            body: None,
            head: None,
            head_metadata: None,
            decoder: Decoder::new(DEFAULT_MAX_RECV_BYTES, false),
            decode: Box::new(no_bytes::<T>),
            encoding: None,
            last_compressed: false,
            state: State::ReadData,
            expect_trailers: false,
            trailers: None,
            deadline: None,
            guard: None,
            before_first_read: None,
            failure: None,
            on_end: None,
            local: Some(Box::new(Local {
                items: Mutex::new(Box::pin(messages)),
                trailers: None,
            })),
        }
    }

    /// Sets the response-head metadata `head` and `metadata` report, as a
    /// client sees them (a mock client's response).
    pub fn with_metadata(mut self, metadata: Metadata) -> Streaming<T> {
        self.head_metadata = Some(metadata);
        self
    }

    /// Sets the trailers `trailers` reports once the messages have ended,
    /// as a client sees them. Only for a stream built with
    /// [`Streaming::from_vec`] or [`Streaming::from_stream`]: a received
    /// stream's trailers are the peer's, and this leaves them alone.
    pub fn with_trailers(mut self, trailers: Metadata) -> Streaming<T> {
        if let Some(local) = self.local.as_mut() {
            local.trailers = Some(trailers);
        }
        self
    }

    /// The next message of a stream built in process; a stream with neither
    /// an h2 body nor local messages is broken.
    pub(super) fn poll_local(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        let Some(local) = self.local.as_mut() else {
            return self.fail(Status::internal("no response body"));
        };
        let items = local
            .items
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        match ready!(items.as_mut().poll_next(cx)) {
            Some(Ok(message)) => Poll::Ready(Some(Ok(message))),
            Some(Err(status)) => self.fail(status),
            None => {
                self.trailers = local.trailers.take();
                self.state = State::Done;
                Poll::Ready(None)
            }
        }
    }
}

impl<T: Send + 'static> From<Vec<T>> for Streaming<T> {
    fn from(messages: Vec<T>) -> Streaming<T> {
        Streaming::from_vec(messages)
    }
}

impl<T: Send + 'static> FromIterator<T> for Streaming<T> {
    fn from_iter<I: IntoIterator<Item = T>>(messages: I) -> Streaming<T> {
        Streaming::from_vec(messages.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;

    use futures::StreamExt;

    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
            .block_on(f)
    }

    fn metadata(key: &str, value: &str) -> Metadata {
        let mut md = Metadata::new();
        md.insert(key, value).expect("a valid ASCII entry");
        md
    }

    #[test]
    fn a_vec_is_its_messages_then_the_end() {
        block_on(async {
            let mut stream: Streaming<u32> = vec![7, 8].into_iter().collect();
            assert_eq!(stream.message().await, Ok(Some(7)));
            assert_eq!(stream.recv().await, Ok(Some(8)));
            assert_eq!(stream.recv().await, Ok(None));
            // The end stays the end.
            assert_eq!(stream.recv().await, Ok(None));
            assert!(stream.next().await.is_none());
        });
    }

    #[test]
    fn an_err_item_fails_the_stream_and_ends_it() {
        block_on(async {
            let items = vec![
                Ok("a"),
                Err(Status::resource_exhausted("too many")),
                Ok("never read"),
            ];
            let mut stream = Streaming::from_stream(futures::stream::iter(items));
            assert_eq!(stream.recv().await, Ok(Some("a")));
            let err = stream.recv().await.unwrap_err();
            assert_eq!(err.message(), "too many");
            // `message` keeps returning the failure; as a Stream it has ended.
            assert_eq!(stream.message().await.unwrap_err(), err);
            assert!(stream.next().await.is_none());
        });
    }

    #[test]
    fn head_metadata_at_once_trailers_at_the_end() {
        block_on(async {
            let mut stream = Streaming::from_vec(vec![1u8])
                .with_metadata(metadata("x-head", "h"))
                .with_trailers(metadata("x-trailer", "t"));
            assert_eq!(stream.head().await.unwrap().get("x-head"), Some("h"));
            assert_eq!(stream.metadata().unwrap().get("x-head"), Some("h"));
            assert!(stream.trailers().is_none(), "trailers before the end");
            assert_eq!(stream.recv().await, Ok(Some(1)));
            assert_eq!(stream.recv().await, Ok(None));
            assert_eq!(stream.trailers().unwrap().get("x-trailer"), Some("t"));
        });
    }

    #[test]
    fn a_stream_that_is_not_ready_waits() {
        block_on(async {
            let (tx, rx) = futures::channel::mpsc::unbounded::<Result<u8, Status>>();
            let mut stream = Streaming::from_stream(rx);
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
            tx.unbounded_send(Ok(3)).expect("the stream is alive");
            drop(tx);
            assert_eq!(stream.recv().await, Ok(Some(3)));
            assert_eq!(stream.recv().await, Ok(None));
        });
    }

    #[test]
    fn streaming_is_sync_for_messages_that_are_not() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        // `Cell` is Send but not Sync: the stream still is both, as a network one.
        let stream = Streaming::from_vec(vec![std::cell::Cell::new(1u8)]);
        send_sync(&stream);
    }
}
