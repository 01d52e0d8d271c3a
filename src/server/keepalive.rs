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
//!   That is `h2`'s `PingPong`, driven by a small task (`crate::keepalive`,
//!   shared with the client).
//! - **Enforcement** (server): a client may not ping more often than
//!   `PERMIT_KEEPALIVE_TIME` (5 minutes unless configured), nor at all while it
//!   has no calls unless permitted. Each early PING is a strike; after
//!   [`MAX_PING_STRIKES`] the server sends GOAWAY `ENHANCE_YOUR_CALM` with the
//!   debug data `too_many_pings` (gRFC A8; the client doubles its keepalive
//!   time on it) and closes. Sending HEADERS or DATA resets the strikes, as in
//!   grpc-go, so pings that accompany real traffic (e.g. BDP estimation) are
//!   never punished.
//!
//! `h2` answers PINGs itself and tells nobody, so the socket tap under it
//! (tap.rs) counts them, using [`FrameScanner`] here to find HTTP/2 frame
//! boundaries (RFC 9113 §4.1) in both directions.

use std::time::{Duration, Instant};

/// Early PINGs tolerated before GOAWAY (grpc-go's `maxPingStrikes`).
pub(crate) const MAX_PING_STRIKES: u32 = 2;

/// The client connection preface (RFC 9113 §3.4), which precedes the first frame.
const PREFACE_LEN: usize = 24;

/// HTTP/2 frame header: length (24 bits), type, flags, stream id (RFC 9113 §4.1).
const FRAME_HEADER_LEN: usize = 9;

pub(super) const TYPE_DATA: u8 = 0x0;
pub(super) const TYPE_HEADERS: u8 = 0x1;
pub(super) const TYPE_PING: u8 = 0x6;
pub(super) const FLAG_ACK: u8 = 0x1;

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
    pub(super) fn to_next_mark(&self) -> usize {
        if self.filled > 0 {
            FRAME_HEADER_LEN - self.filled
        } else {
            self.skip
        }
    }
}

/// The pinging loop both ends run lives with the connection code they share.
pub(crate) use crate::keepalive::ping_loop;

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
    /// Early PINGs since the server last sent HEADERS or DATA.
    pub(super) strikes: u32,
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::server::tap::tests::frame;

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
}
