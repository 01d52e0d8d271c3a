//! The frame trace's tap: a byte stream that shows the frame trace every
//! byte it reads and writes.
//!
//! Layer: I/O (an `AsyncRead + AsyncWrite` wrapper; the decoding is the
//! sans-IO `trace::frames`). It sits right on the transport, under h2 and
//! above TLS, so the trace is the plaintext HTTP/2 exactly as it crossed the
//! socket, in the order it did, and not a model of it. The client's channel
//! wraps each new connection ([`client_tap`]); the server's own socket tap
//! (`server::tap`) wraps its connections in the same type under its GOAWAY
//! rewriting, so what that rewrites is traced as it went out.
//!
//! With the frame trace off when the connection opens, there is no log and
//! every call passes straight through.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::BoxedIo;
use crate::trace::Side;
use crate::trace::frames::{self, ConnectionLog};

/// A byte stream whose traffic the frame trace sees.
#[derive(Debug)]
pub(crate) struct FrameTap<S> {
    inner: S,
    /// `None` when the frame trace was off as the connection opened.
    log: Option<Box<ConnectionLog>>,
}

impl<S> FrameTap<S> {
    /// Wraps `inner`, `side`'s end of a connection; logs only if the frame
    /// trace is on now.
    pub(crate) fn new(inner: S, side: Side) -> FrameTap<S> {
        let log = frames::enabled().then(|| Box::new(ConnectionLog::new(side)));
        FrameTap { inner, log }
    }
}

/// The client's connection with the frame trace on it, when the trace is on.
pub(crate) fn client_tap(io: BoxedIo) -> BoxedIo {
    if frames::enabled() {
        Box::new(FrameTap::new(io, Side::Client))
    } else {
        io
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameTap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(log)) = (&polled, this.log.as_mut()) {
            log.received(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameTap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if let (Poll::Ready(Ok(n)), Some(log)) = (&polled, this.log.as_mut()) {
            log.sent(&data[..(*n).min(data.len())]);
        }
        polled
    }

    /// Passes vectored writes through (h2 sends DATA payloads that way,
    /// without copying them); the log sees the bytes written, across slices.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let (Poll::Ready(Ok(n)), Some(log)) = (&polled, this.log.as_mut()) {
            let mut left = *n;
            for buf in bufs {
                if left == 0 {
                    break;
                }
                let take = left.min(buf.len());
                log.sent(&buf[..take]);
                left -= take;
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
