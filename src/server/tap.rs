//! The server's socket tap: the bytes under h2, watched for keepalive
//! enforcement, and the one frame it rewrites.
//!
//! Layer: h2 glue (an `AsyncRead + AsyncWrite` wrapper; the frame scanning and
//! the strike counting it drives are sans-IO, in keepalive.rs and goaway.rs).
//! Spec: grpc/grpc doc/keepalive.md, gRFC A8; RFC 9113 §4.1 (frame layout),
//! §6.8 (GOAWAY).
//!
//! Under all of that, the frame trace's tap (`transport::FrameTap`) sees the
//! bytes as they cross the socket, the rewritten GOAWAY included.
//!
//! `h2` answers PINGs itself and tells nobody, so [`Tap`] scans what the
//! client sends for PINGs and what h2 sends for HEADERS and DATA (which reset
//! the strikes). When the client has pinged too often the connection task
//! asks h2 for GOAWAY ENHANCE_YOUR_CALM; h2 cannot give it the debug data
//! `too_many_pings` that clients back off on, so the tap writes h2's frame
//! with it added (goaway.rs).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use super::goaway;
use super::keepalive::{
    FLAG_ACK, FrameScanner, PingEnforcer, PingPolicy, TYPE_DATA, TYPE_HEADERS, TYPE_PING,
};
use crate::trace::Side;
use crate::transport::FrameTap;

/// What the tap shares with the connection task.
#[derive(Debug, Default)]
pub(crate) struct TapSignals {
    /// Calls open on this connection (kept by the connection task).
    pub(crate) active_calls: AtomicUsize,
    /// Set once the client has pinged too often.
    pub(crate) too_many_pings: AtomicBool,
    /// Wakes the connection task when `too_many_pings` is set.
    pub(crate) notify: Notify,
}

/// How long a closed connection keeps reading (and discarding) what the peer
/// still sends. Closing a socket with unread input makes the kernel answer
/// with RST, and a peer that receives RST may discard our last frames unread,
/// GOAWAY included (a PING flood showed it); grpc-go's server waits the same
/// second (`goAwayTimeout`) before it closes.
const LINGER: Duration = Duration::from_secs(1);

/// At most this much is read and discarded while lingering.
const LINGER_MAX_BYTES: usize = 4 << 20;

/// The server socket with a frame scanner in each direction.
///
/// `inner` is an `Option` only so that `Drop` can hand the socket to a
/// lingering-close task; it is `Some` for the whole life of the connection.
#[derive(Debug)]
pub(crate) struct Tap<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    inner: Option<FrameTap<S>>,
    read_scan: FrameScanner,
    write_scan: FrameScanner,
    enforcer: Option<PingEnforcer>,
    signals: Arc<TapSignals>,
    calm: CalmGoaway,
}

/// Where the tap is in swapping h2's GOAWAY ENHANCE_YOUR_CALM for one that
/// carries `too_many_pings` (goaway.rs); only once the client pinged too often.
#[derive(Debug)]
enum CalmGoaway {
    /// Looking for h2's frame in what it writes.
    Watching,
    /// Writing the replacement; h2 is told its 17 bytes went out only when
    /// all of it has.
    Writing {
        frame: [u8; goaway::WITH_DEBUG_LEN],
        written: usize,
    },
    /// Sent (or never needed): writes pass straight through.
    Done,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Tap<S> {
    /// `policy: None` turns enforcement off (the scanners then do nothing).
    pub(crate) fn new(inner: S, policy: Option<PingPolicy>, signals: Arc<TapSignals>) -> Tap<S> {
        Tap {
            inner: Some(FrameTap::new(inner, Side::Server)),
            read_scan: FrameScanner::client_to_server(),
            write_scan: FrameScanner::server_to_client(),
            enforcer: policy.map(PingEnforcer::new),
            signals,
            calm: CalmGoaway::Watching,
        }
    }

    /// True while a GOAWAY for too many pings may still need its debug data.
    fn calm_pending(&self) -> bool {
        !matches!(self.calm, CalmGoaway::Done)
            && self.signals.too_many_pings.load(Ordering::Acquire)
    }

    /// Once the client has pinged too often: writes h2's GOAWAY
    /// ENHANCE_YOUR_CALM with `too_many_pings` added. `Ready(Some(n))` is the
    /// answer to h2's write of `data`; `Ready(None)` means write `data[..limit]`
    /// as usual (frames before the GOAWAY go first, so it starts a later write).
    fn poll_calm_goaway(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
        limit: &mut usize,
    ) -> Poll<io::Result<Option<usize>>> {
        loop {
            match &mut self.calm {
                CalmGoaway::Done => return Poll::Ready(Ok(None)),
                CalmGoaway::Watching => {
                    let mid_frame = self.write_scan.to_next_mark();
                    if mid_frame > 0 {
                        // Finish the frame under way first, so the GOAWAY starts a write.
                        *limit = mid_frame.min(data.len());
                        return Poll::Ready(Ok(None));
                    }
                    match goaway::find_plain_calm(data) {
                        Some(0) => match goaway::with_too_many_pings(data) {
                            Some(frame) => self.calm = CalmGoaway::Writing { frame, written: 0 },
                            None => return Poll::Ready(Ok(None)),
                        },
                        Some(at) => {
                            *limit = at;
                            return Poll::Ready(Ok(None));
                        }
                        None => return Poll::Ready(Ok(None)),
                    }
                }
                CalmGoaway::Writing { frame, written } => {
                    let socket = match self.inner.as_mut() {
                        Some(inner) => Pin::new(inner),
                        None => return Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
                    };
                    match socket.poll_write(cx, &frame[*written..]) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(0)) => return Poll::Ready(Ok(Some(0))),
                        Poll::Ready(Ok(n)) => *written += n,
                    }
                    if *written == frame.len() {
                        self.calm = CalmGoaway::Done;
                        let replaced = goaway::PLAIN_LEN.min(data.len());
                        self.scan_written(replaced, std::iter::once(data));
                        return Poll::Ready(Ok(Some(replaced)));
                    }
                }
            }
        }
    }

    fn socket(&mut self) -> io::Result<Pin<&mut FrameTap<S>>> {
        match self.inner.as_mut() {
            Some(inner) => Ok(Pin::new(inner)),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Reports the HEADERS and DATA among the first `n` bytes written.
    fn scan_written<'a>(&mut self, n: usize, bufs: impl Iterator<Item = &'a [u8]>) {
        let Some(enforcer) = self.enforcer.as_mut() else {
            return;
        };
        let mut left = n;
        for buf in bufs {
            if left == 0 {
                break;
            }
            let take = left.min(buf.len());
            left -= take;
            self.write_scan.feed(&buf[..take], |head| {
                if head.kind == TYPE_DATA || head.kind == TYPE_HEADERS {
                    enforcer.on_send_traffic();
                }
            });
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for Tap<S> {
    fn drop(&mut self) {
        let (Some(socket), Ok(runtime)) =
            (self.inner.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(linger(socket));
    }
}

/// Half-closes `socket`, then reads and discards until the peer closes too,
/// [`LINGER`] passes or [`LINGER_MAX_BYTES`] were read; then drops it.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(mut socket: S) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = socket.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 8192];
        let mut read = 0;
        while read < LINGER_MAX_BYTES {
            match socket.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for Tap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match this.socket() {
            Ok(socket) => socket.poll_read(cx, buf),
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let (Poll::Ready(Ok(())), Some(enforcer)) = (&polled, this.enforcer.as_mut()) {
            let signals = &this.signals;
            let mut violated = false;
            this.read_scan.feed(&buf.filled()[before..], |head| {
                if head.kind == TYPE_PING && head.flags & FLAG_ACK == 0 {
                    let active = signals.active_calls.load(Ordering::Acquire);
                    violated |= enforcer.on_ping(Instant::now(), active);
                }
            });
            if violated && !signals.too_many_pings.swap(true, Ordering::AcqRel) {
                signals.notify.notify_one();
            }
        }
        polled
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for Tap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut limit = data.len();
        if this.calm_pending() {
            match this.poll_calm_goaway(cx, data, &mut limit) {
                Poll::Ready(Ok(None)) => {}
                Poll::Ready(Ok(Some(n))) => return Poll::Ready(Ok(n)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let data = &data[..limit];
        let polled = match this.socket() {
            Ok(socket) => socket.poll_write(cx, data),
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Poll::Ready(Ok(n)) = polled {
            this.scan_written(n, std::iter::once(data));
        }
        polled
    }

    /// Vectored writes pass through (h2 then sends large DATA payloads
    /// without copying them into its write buffer); the scanner reads the
    /// written prefix across the slices.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.calm_pending() {
            // The connection is closing; one slice at a time lets the GOAWAY be found.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            return Pin::new(this).poll_write(cx, first);
        }
        let polled = match this.socket() {
            Ok(socket) => socket.poll_write_vectored(cx, bufs),
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Poll::Ready(Ok(n)) = polled {
            this.scan_written(n, bufs.iter().map(|b| &b[..]));
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().socket() {
            Ok(socket) => socket.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().socket() {
            Ok(socket) => socket.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

/// Counts a call as open on its connection until dropped (idle timeout and
/// ping enforcement both need to know whether calls are open).
pub(super) struct ActiveCall(Arc<TapSignals>);

impl ActiveCall {
    pub(super) fn new(signals: Arc<TapSignals>) -> ActiveCall {
        signals.active_calls.fetch_add(1, Ordering::AcqRel);
        ActiveCall(signals)
    }
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.active_calls.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A frame header with `payload_len` bytes of 0xee: length (24 bits), type, flags, stream 0.
    pub(in crate::server) fn frame(kind: u8, flags: u8, payload_len: usize) -> Vec<u8> {
        let len = payload_len as u32;
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            0,
        ];
        f.extend(std::iter::repeat_n(0xee, payload_len));
        f
    }

    /// Once the client has pinged too often, h2's GOAWAY ENHANCE_YOUR_CALM goes
    /// out with `too_many_pings`, after the frames written before it, even when
    /// the socket takes a few bytes at a time; writes before that pass unchanged.
    #[tokio::test]
    async fn calm_goaway_gets_its_debug_data() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let policy = PingPolicy {
            min_interval: Duration::from_secs(300),
            permit_without_calls: false,
        };
        let signals = Arc::new(TapSignals::default());
        // A 5-byte pipe: every write is partial.
        let (ours, mut peer) = tokio::io::duplex(5);
        let mut tap = Tap::new(ours, Some(policy), signals.clone());
        let settings_ack = frame(0x4, FLAG_ACK, 0);
        let goaway = [
            0x00, 0x00, 0x08, // length 8
            0x07, 0x00, // GOAWAY, no flags
            0x00, 0x00, 0x00, 0x00, // stream 0
            0x00, 0x00, 0x00, 0x03, // last stream id 3
            0x00, 0x00, 0x00, 0x0b, // ENHANCE_YOUR_CALM
        ];
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.map(|_| got)
        });
        // Before the strikes run out, even a GOAWAY is left as it is.
        tap.write_all(&goaway).await.unwrap();
        signals.too_many_pings.store(true, Ordering::Release);
        let mut h2_bytes = settings_ack.clone();
        h2_bytes.extend(goaway);
        tap.write_all(&h2_bytes).await.unwrap();
        tap.shutdown().await.unwrap();
        drop(tap);
        let got = reader.await.unwrap().unwrap();
        let mut want = goaway.to_vec();
        want.extend(&settings_ack);
        want.extend(&goaway[..2]);
        want.push(8 + 14);
        want.extend(&goaway[3..]);
        want.extend(b"too_many_pings");
        assert_eq!(got, want);
    }

    /// A vectored write is scanned across its slices, and only as far as it was written.
    #[tokio::test]
    async fn vectored_writes_are_scanned_across_slices() {
        let policy = PingPolicy {
            min_interval: Duration::from_secs(300),
            permit_without_calls: false,
        };
        let (ours, _peer) = tokio::io::duplex(1 << 16);
        let mut tap = Tap::new(ours, Some(policy), Arc::new(TapSignals::default()));
        let strikes = |tap: &Tap<tokio::io::DuplexStream>| tap.enforcer.as_ref().unwrap().strikes;
        tap.enforcer.as_mut().unwrap().strikes = 1;
        // A PING frame (not traffic), then a HEADERS frame whose 9-byte head
        // is split 4 + 5 over the second and third slices.
        let ping = frame(TYPE_PING, 0, 8);
        let headers = frame(TYPE_HEADERS, 0x4, 3);
        let slices = [&ping[..], &headers[..4], &headers[4..]];
        // Written only up to inside the split head: no HEADERS seen yet.
        tap.scan_written(ping.len() + 4, slices.iter().copied());
        assert_eq!(strikes(&tap), 1);
        // The rest arrives in a later write: now it is.
        tap.scan_written(headers.len() - 4, [&headers[4..]].into_iter());
        assert_eq!(strikes(&tap), 0);
        // And through the real AsyncWrite path, in one vectored write.
        tap.enforcer.as_mut().unwrap().strikes = 1;
        let more = frame(TYPE_DATA, 0, 2);
        let bufs = [io::IoSlice::new(&more[..3]), io::IoSlice::new(&more[3..])];
        let n = tokio::io::AsyncWriteExt::write_vectored(&mut tap, &bufs)
            .await
            .unwrap();
        assert_eq!(n, more.len());
        assert_eq!(strikes(&tap), 0);
    }
}
