//! Where a client call's response head comes from: the call's one HTTP/2
//! stream, or, for a call a retry policy may send again (gRFC A6), the
//! attempt the retry driver (`client::retry_stream`) committed to.
//!
//! Layer: h2 glue, under [`Streaming`](super::Streaming)'s AwaitHead state.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use h2::RecvStream;

use super::status_from_h2;
use crate::wire::status::Status;

/// The head a retried call commits to, or the status it ended with, as the
/// retry driver (`client::retry_stream`) hands it over.
pub(crate) type RetriedHead =
    tokio::sync::oneshot::Receiver<Result<http::Response<RecvStream>, Status>>;

/// Client only: where the response head comes from.
pub(super) enum HeadFuture {
    /// The call's one HTTP/2 stream.
    H2(h2::client::ResponseFuture),
    /// The attempt a retry policy's driver committed to.
    Retried(RetriedHead),
}

impl HeadFuture {
    pub(super) fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<http::Response<RecvStream>, Status>> {
        match self {
            HeadFuture::H2(response) => {
                let response = ready!(Pin::new(response).poll(cx));
                Poll::Ready(response.map_err(|e| status_from_h2(&e)))
            }
            HeadFuture::Retried(head) => Poll::Ready(match ready!(Pin::new(head).poll(cx)) {
                Ok(head) => head,
                // The driver ended without a word: the call was cancelled.
                Err(_) => Err(Status::cancelled("the call was cancelled")),
            }),
        }
    }
}
