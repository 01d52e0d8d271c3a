//! Keepalive: pinging idle peers, and refusing peers that ping too often.
//!
//! Layer: h2 glue, with the bookkeeping sans-IO (time is passed in).
//! Spec: grpc/grpc doc/keepalive.md.
//!
//! Two jobs:
//!
//! - **Pinging** (server and client): every `keepalive_interval` a PING goes
//!   out; no ACK within `keepalive_timeout` means the peer or the path is
//!   dead, and the connection is closed, failing its calls with `UNAVAILABLE`.
//!   That is `h2`'s `PingPong`, driven by a small task.
//! - **Enforcement** (server): a client may not ping more often than
//!   `PERMIT_KEEPALIVE_TIME` (5 minutes unless configured), nor at all while it
//!   has no calls unless permitted. Each early PING is a strike; after
//!   [`MAX_PING_STRIKES`] the server sends GOAWAY `ENHANCE_YOUR_CALM` with the
//!   debug data `too_many_pings` (gRFC A8; the client doubles its keepalive
//!   time on it) and closes. Sending HEADERS or DATA resets the strikes, as in
//!   grpc-go, so pings that accompany real traffic (e.g. BDP estimation) are
//!   never punished.
//!
//! `h2` answers PINGs itself and tells nobody, so [`Tap`] watches the bytes
//! under it: [`FrameScanner`] finds HTTP/2 frame boundaries (RFC 9113 §4.1)
//! in both directions and reports PINGs received and HEADERS/DATA sent.
//! `h2` cannot put debug data in a GOAWAY either, so once the client has
//! pinged too often the tap adds it to h2's GOAWAY on the way out (goaway.rs).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use super::goaway;

/// Early PINGs tolerated before GOAWAY (grpc-go's `maxPingStrikes`).
pub(crate) const MAX_PING_STRIKES: u32 = 2;

/// The client connection preface (RFC 9113 §3.4), which precedes the first frame.
const PREFACE_LEN: usize = 24;

/// HTTP/2 frame header: length (24 bits), type, flags, stream id (RFC 9113 §4.1).
const FRAME_HEADER_LEN: usize = 9;

const TYPE_DATA: u8 = 0x0;
const TYPE_HEADERS: u8 = 0x1;
const TYPE_PING: u8 = 0x6;
const FLAG_ACK: u8 = 0x1;

/// A frame header seen by the scanner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHead {
    pub(crate) kind: u8,
    pub(crate) flags: u8,
}

/// Finds frame headers in a byte stream fed in arbitrary pieces.
#[derive(Debug)]
pub(crate) struct FrameScanner {
    /// Bytes still to skip: the preface, then each frame's payload.
    skip: usize,
    header: [u8; FRAME_HEADER_LEN],
    filled: usize,
}

impl FrameScanner {
    /// A scanner for bytes a client sends (they start with the preface).
    pub(crate) fn client_to_server() -> FrameScanner {
        FrameScanner {
            skip: PREFACE_LEN,
            header: [0; FRAME_HEADER_LEN],
            filled: 0,
        }
    }

    /// A scanner for bytes a server sends (frames from the first byte).
    pub(crate) fn server_to_client() -> FrameScanner {
        FrameScanner {
            skip: 0,
            header: [0; FRAME_HEADER_LEN],
            filled: 0,
        }
    }

    /// Feeds bytes; calls `seen` for every complete frame header.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], mut seen: impl FnMut(FrameHead)) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (FRAME_HEADER_LEN - self.filled).min(bytes.len());
            self.header[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == FRAME_HEADER_LEN {
                let h = self.header;
                self.skip = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                self.filled = 0;
                seen(FrameHead {
                    kind: h[3],
                    flags: h[4],
                });
            }
        }
    }

    /// How many bytes to feed before the scanner next knows where it is:
    /// the rest of the current payload, or of the current header (whose length
    /// field tells the payload's); 0 between frames.
    fn to_next_mark(&self) -> usize {
        if self.filled > 0 {
            FRAME_HEADER_LEN - self.filled
        } else {
            self.skip
        }
    }
}

/// Sends a PING every `interval`; if one is not acknowledged within `timeout`,
/// reports the connection dead through `dead` and stops. Used by both ends.
pub(crate) async fn ping_loop(
    mut ping_pong: h2::PingPong,
    interval: Duration,
    timeout: Duration,
    dead: tokio::sync::oneshot::Sender<()>,
) {
    loop {
        tokio::time::sleep(interval).await;
        match tokio::time::timeout(timeout, ping_pong.ping(h2::Ping::opaque())).await {
            Ok(Ok(_pong)) => {}
            // An h2 error means the connection is already gone; a timeout means it should be.
            Ok(Err(_)) | Err(_) => {
                let _ = dead.send(());
                return;
            }
        }
    }
}

/// Which client PINGs a server accepts (doc/keepalive.md, "server enforcement").
#[derive(Clone, Copy, Debug)]
pub(crate) struct PingPolicy {
    /// The shortest interval between client PINGs that is not a strike.
    pub(crate) min_interval: Duration,
    /// Whether PINGs are allowed while the connection has no calls.
    pub(crate) permit_without_calls: bool,
}

/// Counts strikes against one connection's client.
#[derive(Debug)]
pub(crate) struct PingEnforcer {
    policy: PingPolicy,
    last_ping: Option<Instant>,
    strikes: u32,
}

impl PingEnforcer {
    pub(crate) fn new(policy: PingPolicy) -> PingEnforcer {
        PingEnforcer {
            policy,
            last_ping: None,
            strikes: 0,
        }
    }

    /// A PING arrived at `now`; true when the client has now used up its strikes.
    pub(crate) fn on_ping(&mut self, now: Instant, active_calls: usize) -> bool {
        let early = match self.last_ping {
            _ if active_calls == 0 && !self.policy.permit_without_calls => true,
            Some(last) => now.saturating_duration_since(last) < self.policy.min_interval,
            None => false,
        };
        self.last_ping = Some(now);
        if early {
            self.strikes += 1;
        }
        self.strikes > MAX_PING_STRIKES
    }

    /// The server sent HEADERS or DATA: pings around real traffic are fine.
    pub(crate) fn on_send_traffic(&mut self) {
        self.strikes = 0;
        self.last_ping = None;
    }
}

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
    inner: Option<S>,
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
            inner: Some(inner),
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

    fn socket(&mut self) -> io::Result<Pin<&mut S>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload_len: usize) -> Vec<u8> {
        let len = payload_len as u32;
        // length (24 bits) | type | flags | stream id 0
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

    fn kinds(scanner: &mut FrameScanner, bytes: &[u8], step: usize) -> Vec<(u8, u8)> {
        let mut seen = Vec::new();
        for chunk in bytes.chunks(step) {
            scanner.feed(chunk, |h| seen.push((h.kind, h.flags)));
        }
        seen
    }

    #[test]
    fn scanner_finds_frames_after_the_preface_at_any_chunking() {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(0x4, 0, 6)); // SETTINGS
        bytes.extend(frame(TYPE_PING, 0, 8));
        bytes.extend(frame(TYPE_PING, FLAG_ACK, 8));
        bytes.extend(frame(TYPE_DATA, 1, 0));
        for step in [1, 2, 5, 9, 17, 1000] {
            let seen = kinds(&mut FrameScanner::client_to_server(), &bytes, step);
            assert_eq!(
                seen,
                [
                    (0x4, 0),
                    (TYPE_PING, 0),
                    (TYPE_PING, FLAG_ACK),
                    (TYPE_DATA, 1)
                ],
                "step {step}"
            );
        }
    }

    fn policy(min_secs: u64, without_calls: bool) -> PingPolicy {
        PingPolicy {
            min_interval: Duration::from_secs(min_secs),
            permit_without_calls: without_calls,
        }
    }

    #[test]
    fn third_early_ping_is_too_many() {
        let t0 = Instant::now();
        let mut e = PingEnforcer::new(policy(300, false));
        assert!(!e.on_ping(t0, 1), "first ping is fine");
        assert!(!e.on_ping(t0 + Duration::from_secs(1), 1), "strike 1");
        assert!(!e.on_ping(t0 + Duration::from_secs(2), 1), "strike 2");
        assert!(
            e.on_ping(t0 + Duration::from_secs(3), 1),
            "strike 3: GOAWAY"
        );
    }

    #[test]
    fn spaced_pings_and_traffic_reset_are_fine() {
        let t0 = Instant::now();
        let mut e = PingEnforcer::new(policy(10, false));
        for i in 0..10 {
            assert!(!e.on_ping(t0 + Duration::from_secs(11 * i), 1));
        }
        let mut e = PingEnforcer::new(policy(300, false));
        for i in 0..10 {
            e.on_send_traffic();
            assert!(
                !e.on_ping(t0 + Duration::from_millis(i), 1),
                "pings with traffic are never strikes"
            );
        }
    }

    #[test]
    fn pings_without_calls_need_permission() {
        let t0 = Instant::now();
        let mut strict = PingEnforcer::new(policy(1, false));
        let mut lenient = PingEnforcer::new(policy(1, true));
        let mut violated = false;
        for i in 0..3 {
            violated = strict.on_ping(t0 + Duration::from_secs(10 * i), 0);
            assert!(!lenient.on_ping(t0 + Duration::from_secs(10 * i), 0));
        }
        assert!(violated);
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
