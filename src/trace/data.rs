//! The gRPC messages inside DATA frames, for the frame trace: where each
//! length-prefixed message starts and ends, across frame boundaries.
//!
//! Layer: trace (sans-IO). Spec: PROTOCOL-HTTP2.md, "Length-Prefixed-Message"
//! and "Data Frames": "DATA frame boundaries have no relation to
//! **Length-Prefixed-Message** boundaries". One [`MessageScan`] per stream
//! follows the 5-byte prefixes through the stream's DATA payloads, and says
//! per frame what the frame held of which message:
//!
//! ```text
//!  DATA frame 1 (16384 bytes)              DATA frame 2 (4000 bytes)
//!  |00 00000005|0a 03 31 30 32|01 0000…    …5000|…body…|
//!   message 1, whole            message 2 starts    its prefix ends, then its body
//! ```
//!
//! It keeps a fixed few bytes per stream (the prefix so far, the first
//! payload bytes shown), however long the messages are.

use std::fmt::Write;

/// Payload bytes shown in hex per message and frame before the rest is folded.
pub(crate) const HEX_BYTES: usize = 16;

/// The gRPC prefix: flag byte and 4-byte length.
const PREFIX_LEN: usize = 5;

/// Follows the message framing of one stream's DATA.
#[derive(Debug, Default)]
pub(crate) struct MessageScan {
    /// The prefix of the current message so far.
    prefix: [u8; PREFIX_LEN],
    prefix_have: usize,
    /// The current message's length (from its prefix) and how much of it came.
    body_len: usize,
    body_seen: usize,
    /// The stream's bytes are not gRPC framing (a flag other than 0 or 1).
    broken: bool,
    /// The part of the current message in the current frame.
    segment: Option<Segment>,
}

/// What one DATA frame holds of one message.
#[derive(Debug, Default)]
struct Segment {
    /// The message's first prefix byte is in this frame.
    started_here: bool,
    /// The prefix was completed in this frame.
    prefix_done_here: bool,
    /// The first payload bytes in this frame.
    head: [u8; HEX_BYTES],
    head_len: usize,
    /// Payload bytes of the message in this frame.
    body_here: usize,
}

impl MessageScan {
    /// Feeds the content of a DATA frame (padding removed), in any pieces;
    /// each message that ends within these bytes adds its line to `lines`.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], lines: &mut Vec<String>) {
        while !bytes.is_empty() && !self.broken {
            if self.prefix_have < PREFIX_LEN {
                let segment = self.segment.get_or_insert_with(|| Segment {
                    started_here: self.prefix_have == 0,
                    ..Segment::default()
                });
                let n = (PREFIX_LEN - self.prefix_have).min(bytes.len());
                self.prefix[self.prefix_have..self.prefix_have + n].copy_from_slice(&bytes[..n]);
                self.prefix_have += n;
                bytes = &bytes[n..];
                if self.prefix_have < PREFIX_LEN {
                    continue;
                }
                segment.prefix_done_here = true;
                let [flag, a, b, c, d] = self.prefix;
                if flag > 1 {
                    self.broken = true;
                    self.segment = None;
                    lines.push(format!(
                        "not gRPC framing: prefix {} has flag {flag} (want 0 or 1); not scanned further",
                        prefix_hex(self.prefix)
                    ));
                    return;
                }
                self.body_len =
                    usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
                self.body_seen = 0;
            } else {
                let segment = self.segment.get_or_insert_with(Segment::default);
                let n = (self.body_len - self.body_seen).min(bytes.len());
                let shown = (HEX_BYTES - segment.head_len).min(n);
                segment.head[segment.head_len..segment.head_len + shown]
                    .copy_from_slice(&bytes[..shown]);
                segment.head_len += shown;
                segment.body_here += n;
                self.body_seen += n;
                bytes = &bytes[n..];
            }
            if self.prefix_have == PREFIX_LEN && self.body_seen == self.body_len {
                if let Some(segment) = self.segment.take() {
                    lines.push(self.describe(&segment, true));
                }
                self.prefix_have = 0;
            }
        }
    }

    /// The DATA frame is complete: a message it did not finish gets its line.
    pub(crate) fn end_frame(&mut self, lines: &mut Vec<String>) {
        if let Some(segment) = self.segment.take() {
            lines.push(self.describe(&segment, false));
        }
    }

    /// True when the stream's bytes stopped inside a message.
    pub(crate) fn mid_message(&self) -> bool {
        self.prefix_have > 0 && !self.broken
    }

    fn describe(&self, s: &Segment, ended: bool) -> String {
        let mut out = String::new();
        if self.prefix_have < PREFIX_LEN {
            // Only part of the prefix so far (it continues in the next frame).
            let got = &self.prefix[..self.prefix_have];
            let _ = write!(
                out,
                "message starts: prefix {} ({} of its 5 bytes), continues",
                spaced_hex(got),
                got.len()
            );
            return out;
        }
        let len = self.body_len;
        let what = if self.prefix[0] == 1 {
            ", compressed"
        } else {
            ""
        };
        let prefix = format!("{} ({}{what})", prefix_hex(self.prefix), bytes(len));
        let body = hex_head(&s.head[..s.head_len], s.body_here);
        match (s.started_here, s.prefix_done_here, ended) {
            (true, _, true) => {
                let _ = write!(out, "message {prefix}");
                if len > 0 {
                    let _ = write!(out, ": {body}");
                }
            }
            (true, _, false) => {
                let _ = write!(out, "message {prefix} starts: {} here", s.body_here);
                if s.body_here > 0 {
                    let _ = write!(out, ": {body}");
                }
                out.push_str(", continues");
            }
            (false, true, _) => {
                let _ = write!(out, "message prefix ends: {prefix}");
                if s.body_here > 0 {
                    let _ = write!(out, "; {} bytes here: {body}", s.body_here);
                }
                out.push_str(if ended { "" } else { ", continues" });
            }
            (false, false, true) => {
                let _ = write!(
                    out,
                    "message ends: its last {} of {len} bytes: {body}",
                    s.body_here
                );
            }
            (false, false, false) => {
                let _ = write!(
                    out,
                    "message continues: {} bytes ({} of {len} so far): {body}",
                    s.body_here, self.body_seen
                );
            }
        }
        out
    }
}

/// "1 byte", "5 bytes".
pub(crate) fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".to_owned()
    } else {
        format!("{n} bytes")
    }
}

/// `00 0000004a`: the flag byte, then the length's four bytes together.
fn prefix_hex([flag, a, b, c, d]: [u8; PREFIX_LEN]) -> String {
    format!("{flag:02x} {a:02x}{b:02x}{c:02x}{d:02x}")
}

fn spaced_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The first bytes in hex; ` …` when `total` is more than they are.
pub(crate) fn hex_head(head: &[u8], total: usize) -> String {
    let mut out = spaced_hex(head);
    if total > head.len() {
        out.push_str(" …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds frames (each a list of pieces); returns the lines per frame.
    fn scan(frames: &[&[&[u8]]]) -> Vec<Vec<String>> {
        let mut scan = MessageScan::default();
        frames
            .iter()
            .map(|pieces| {
                let mut lines = Vec::new();
                for piece in *pieces {
                    scan.feed(piece, &mut lines);
                }
                scan.end_frame(&mut lines);
                lines
            })
            .collect()
    }

    #[test]
    fn whole_messages_in_one_frame() {
        let frame: &[u8] = &[
            0x00, 0x00, 0x00, 0x00, 0x05, // prefix: plain, 5 bytes
            0x0a, 0x03, 0x31, 0x30, 0x32, // StringValue "102"
            0x01, 0x00, 0x00, 0x00, 0x00, // prefix: compressed, 0 bytes
        ];
        assert_eq!(
            scan(&[&[frame]]),
            vec![vec![
                "message 00 00000005 (5 bytes): 0a 03 31 30 32".to_owned(),
                "message 01 00000000 (0 bytes, compressed)".to_owned(),
            ]]
        );
    }

    /// A message split over three DATA frames, its prefix cut 2 + 3, the
    /// pieces inside each frame cut again: every line says which part it is.
    #[test]
    fn a_message_split_across_frames_is_shown_so() {
        let mut body = vec![0x11; 20];
        body.extend([0x22; 20]);
        let got = scan(&[
            &[&[0x00], &[0x00]],                                   // prefix, 2 of 5 bytes
            &[&[0x00, 0x00, 0x28], &body[..10], &body[10..17]],    // prefix ends, 17 body bytes
            &[&body[17..30]],                                      // 13 more
            &[&body[30..], &[0x00, 0x00, 0x00, 0x00, 0x01, 0x7f]], // the last 10, then a whole one
        ]);
        assert_eq!(
            got,
            vec![
                vec!["message starts: prefix 00 00 (2 of its 5 bytes), continues".to_owned()],
                vec![
                    "message prefix ends: 00 00000028 (40 bytes); 17 bytes here: \
                     11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 …, continues"
                        .to_owned()
                ],
                vec![
                    "message continues: 13 bytes (30 of 40 so far): \
                     11 11 11 22 22 22 22 22 22 22 22 22 22"
                        .to_owned()
                ],
                vec![
                    "message ends: its last 10 of 40 bytes: 22 22 22 22 22 22 22 22 22 22"
                        .to_owned(),
                    "message 00 00000001 (1 byte): 7f".to_owned(),
                ],
            ]
        );
    }

    #[test]
    fn a_message_that_starts_in_a_frame_and_goes_on() {
        let got = scan(&[
            &[&[0x00, 0x00, 0x00, 0x01, 0x00, 0xaa, 0xbb]],
            &[&[0xcc; 254]],
        ]);
        assert_eq!(
            got[0],
            vec!["message 00 00000100 (256 bytes) starts: 2 here: aa bb, continues"]
        );
        assert_eq!(got[1].len(), 1);
        assert!(
            got[1][0].starts_with("message ends: its last 254 of 256 bytes: cc cc"),
            "{got:?}"
        );
        assert!(got[1][0].ends_with(" …"), "{got:?}");
    }

    #[test]
    fn a_bad_flag_stops_the_scan() {
        let mut scan = MessageScan::default();
        let mut lines = Vec::new();
        scan.feed(b"GET / HTTP/1.1", &mut lines);
        scan.end_frame(&mut lines);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("not gRPC framing: prefix 47 4554202f has flag 71"),
            "{lines:?}"
        );
        assert!(!scan.mid_message());
    }
}
