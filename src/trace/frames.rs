//! The frame trace: every HTTP/2 frame a connection carries, read from the
//! socket, with its type, flags, stream and length, and what is inside.
//!
//! Layer: trace (sans-IO formatting; the taps that feed it sit on the
//! sockets: `server::tap` and `transport::frame_tap`). Spec: RFC 9113 (frames),
//! RFC 7541 (HPACK), PROTOCOL-HTTP2.md (the gRPC messages in DATA).
//!
//! The message trace (the parent module) reports what h2 handed us; this one
//! reports the bytes themselves, so it shows what h2 does on its own: the
//! preface, SETTINGS and their ACKs, WINDOW_UPDATE, PING, how DATA frames cut
//! the messages, and how HPACK coded each header. Lines go to `tracing` under
//! [`TARGET`] at `TRACE`, one event per frame; `--trace=frames` in the
//! binaries turns it on. A unary call, seen by the client:
//!
//! ```text
//! client → preface        PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n
//! client → SETTINGS       stream 0  len 12
//!            ENABLE_PUSH 0
//!            INITIAL_WINDOW_SIZE 2097152
//! client ← SETTINGS       stream 0  len 0     ACK
//! client → HEADERS        stream 1  len 122   END_HEADERS  request head
//!            :method POST                                     [static 3]
//!            :path /ecommerce.OrderManagement/getOrder        [literal not indexed, name static 4, huffman]
//!            te trailers                                      [literal, new name, huffman → dynamic 62]
//! client → DATA           stream 1  len 10    END_STREAM
//!            message 00 00000005 (5 bytes): 0a 03 31 30 32
//! client ← HEADERS        stream 1  len 12    END_STREAM|END_HEADERS  trailers
//!            grpc-status 0                                    [literal, new name, huffman → dynamic 62]
//! ```
//!
//! Header blocks are decoded as the receiving peer decodes them: one HPACK
//! table per direction, fed every block in order, its size limit taken from
//! the receiver's SETTINGS_HEADER_TABLE_SIZE. Payload hex is folded after
//! 16 bytes; lines stay within 120 columns.

use std::collections::HashMap;
use std::fmt::Write;

use super::data::{self, MessageScan};
use super::h2frame::{self as f, FrameHeader, FrameReader, Piece};
use super::hpack;
use super::{Dir, Side};

mod describe;

/// The `tracing` target of the frame trace.
pub const TARGET: &str = "h2grpc::frames";

/// No trace line is longer than this.
pub(crate) const LINE_COLUMNS: usize = 120;

/// Indentation of the lines under a frame's own line.
const INDENT: &str = "           ";

/// Non-DATA payloads are kept whole up to this size to be decoded (a header
/// block, with its CONTINUATIONs, is bounded by the peer's
/// SETTINGS_MAX_HEADER_LIST_SIZE, 16 KiB by h2's default); a bigger one is
/// skipped, which ends HPACK decoding in that direction.
const MAX_KEPT_BYTES: usize = 1 << 20;

/// At most this many streams per direction are followed at once (gRPC
/// message boundaries, which HEADERS is which); the server's
/// MAX_CONCURRENT_STREAMS keeps a well-behaved peer far below it.
const MAX_STREAMS: usize = 4096;

/// True when the frame trace is on.
#[inline]
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::TRACE)
}

/// One end's view of one connection: the bytes it sends and receives.
#[derive(Debug)]
pub(crate) struct ConnectionLog {
    sent: DirectionLog,
    received: DirectionLog,
}

impl ConnectionLog {
    /// The log of `side`'s end of a connection.
    pub(crate) fn new(side: Side) -> ConnectionLog {
        ConnectionLog {
            sent: DirectionLog::new(side, Dir::Send),
            received: DirectionLog::new(side, Dir::Recv),
        }
    }

    /// Bytes this end wrote to the socket.
    pub(crate) fn sent(&mut self, bytes: &[u8]) {
        for entry in self.feed(Dir::Send, bytes) {
            tracing::trace!(target: TARGET, "{entry}");
        }
    }

    /// Bytes this end read from the socket.
    pub(crate) fn received(&mut self, bytes: &[u8]) {
        for entry in self.feed(Dir::Recv, bytes) {
            tracing::trace!(target: TARGET, "{entry}");
        }
    }

    /// Feeds one direction; returns one entry (lines joined by `\n`) per
    /// frame completed. What a frame in one direction means for the other
    /// (a table size its receiver allows, a reset stream) is passed across.
    pub(crate) fn feed(&mut self, dir: Dir, bytes: &[u8]) -> Vec<String> {
        let (this, other) = match dir {
            Dir::Send => (&mut self.sent, &mut self.received),
            Dir::Recv => (&mut self.received, &mut self.sent),
        };
        let mut entries = Vec::new();
        let mut effects = Vec::new();
        this.feed(bytes, &mut entries, &mut effects);
        for effect in effects {
            match effect {
                // The sender of SETTINGS decodes what the other direction carries.
                Effect::TableLimit(bytes) => other.hpack.set_limit(bytes),
                Effect::Reset(stream) => {
                    other.streams.remove(&stream);
                }
            }
        }
        entries
    }
}

/// What one direction's frame changes in the other direction.
#[derive(Debug)]
enum Effect {
    /// SETTINGS_HEADER_TABLE_SIZE: the table the other direction may use.
    TableLimit(usize),
    /// RST_STREAM: the stream is gone both ways.
    Reset(u32),
}

/// One direction of a connection.
#[derive(Debug)]
struct DirectionLog {
    /// `client →`, `server ←`, …
    label: String,
    /// True for the bytes a client sends (requests), false for a server's.
    from_client: bool,
    reader: FrameReader,
    /// The HPACK decoding context of this direction.
    hpack: hpack::Decoder,
    /// Set once a block could not be decoded: the table is out of step for good.
    hpack_lost: bool,
    /// The frame whose payload is arriving.
    current: Option<Current>,
    /// A header block waiting for its CONTINUATION frames: the HEADERS or
    /// PUSH_PROMISE header that opened it, and the fragments so far.
    block: Option<(FrameHeader, Vec<u8>)>,
    /// Per open stream: header blocks seen, and the gRPC message scan.
    streams: HashMap<u32, Stream>,
}

#[derive(Debug, Default)]
struct Stream {
    header_blocks: usize,
    messages: MessageScan,
}

/// The frame being read.
#[derive(Debug)]
enum Current {
    /// Any frame but DATA: the payload kept (up to [`MAX_KEPT_BYTES`]).
    Kept {
        header: FrameHeader,
        payload: Vec<u8>,
        skipped: bool,
    },
    /// DATA: read as it comes, through the stream's [`MessageScan`].
    Data {
        header: FrameHeader,
        padding: Padding,
        lines: Vec<String>,
    },
}

/// Where a DATA frame's content ends (RFC 9113 §6.1).
#[derive(Debug)]
enum Padding {
    /// PADDED, pad length byte not read yet.
    Unknown,
    /// This much content is still to come; the rest is padding (or `malformed`).
    Content { left: usize, pad: usize },
    /// The pad length exceeds the frame.
    Malformed,
}

impl DirectionLog {
    fn new(side: Side, dir: Dir) -> DirectionLog {
        let from_client = (side == Side::Client) == (dir == Dir::Send);
        DirectionLog {
            label: format!("{} {}", side.name(), dir.arrow()),
            from_client,
            reader: if from_client {
                FrameReader::client_to_server()
            } else {
                FrameReader::server_to_client()
            },
            hpack: hpack::Decoder::default(),
            hpack_lost: false,
            current: None,
            block: None,
            streams: HashMap::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8], entries: &mut Vec<String>, effects: &mut Vec<Effect>) {
        let mut reader = std::mem::replace(&mut self.reader, FrameReader::server_to_client());
        reader.feed(bytes, |piece| match piece {
            Piece::Preface => entries.push(format!(
                "{} {:<14} PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n",
                self.label, "preface"
            )),
            Piece::NotHttp2 => entries.push(format!(
                "{} (no HTTP/2 preface: not traced further)",
                self.label
            )),
            Piece::Header(header) => self.start(header),
            Piece::Payload(bytes) => self.payload(bytes),
            Piece::End => {
                if let Some(entry) = self.end(effects) {
                    entries.push(entry);
                }
            }
        });
        self.reader = reader;
    }

    fn start(&mut self, header: FrameHeader) {
        self.current = Some(if header.kind == f::DATA {
            let padding = if header.has(f::PADDED) {
                Padding::Unknown
            } else {
                Padding::Content {
                    left: header.len,
                    pad: 0,
                }
            };
            Current::Data {
                header,
                padding,
                lines: Vec::new(),
            }
        } else {
            let skipped = header.len > MAX_KEPT_BYTES;
            Current::Kept {
                header,
                payload: Vec::new(),
                skipped,
            }
        });
    }

    fn payload(&mut self, mut bytes: &[u8]) {
        match &mut self.current {
            Some(Current::Kept {
                payload,
                skipped: false,
                ..
            }) => payload.extend_from_slice(bytes),
            Some(Current::Data {
                header,
                padding,
                lines,
            }) => {
                if let Padding::Unknown = padding
                    && let Some((&pad, rest)) = bytes.split_first()
                {
                    let pad = usize::from(pad);
                    *padding = match (header.len - 1).checked_sub(pad) {
                        Some(left) => Padding::Content { left, pad },
                        None => Padding::Malformed,
                    };
                    bytes = rest;
                }
                let Padding::Content { left, .. } = padding else {
                    return;
                };
                let content = &bytes[..(*left).min(bytes.len())];
                *left -= content.len();
                if let Some(stream) = stream_entry(&mut self.streams, header.stream) {
                    stream.messages.feed(content, lines);
                }
            }
            Some(Current::Kept { skipped: true, .. }) | None => {}
        }
    }

    /// The frame is complete: its entry.
    fn end(&mut self, effects: &mut Vec<Effect>) -> Option<String> {
        match self.current.take()? {
            Current::Data {
                header,
                padding,
                mut lines,
            } => {
                if let Some(stream) = self.streams.get_mut(&header.stream) {
                    stream.messages.end_frame(&mut lines);
                }
                match padding {
                    Padding::Content { pad, .. } if pad > 0 => {
                        lines.push(format!("{pad} bytes of padding"))
                    }
                    Padding::Malformed => {
                        lines.push("malformed: padding longer than the frame".into())
                    }
                    _ => {}
                }
                if header.has(f::END_STREAM) {
                    let ended = self.streams.remove(&header.stream);
                    if ended.is_some_and(|s| s.messages.mid_message()) {
                        lines.push("the stream ends inside a message".into());
                    }
                }
                Some(self.entry(&header, "", &lines))
            }
            Current::Kept {
                header,
                payload,
                skipped,
            } => {
                if skipped {
                    if matches!(header.kind, f::HEADERS | f::PUSH_PROMISE | f::CONTINUATION) {
                        self.hpack_lost = true;
                    }
                    let line = format!("payload of {} not kept", data::bytes(header.len));
                    return Some(self.entry(&header, "", &[line]));
                }
                let (summary, lines) = self.describe(&header, &payload, effects);
                Some(self.entry(&header, &summary, &lines))
            }
        }
    }

    /// A frame's own line, then its lines under it, each cut to [`LINE_COLUMNS`].
    fn entry(&self, header: &FrameHeader, summary: &str, lines: &[String]) -> String {
        let mut out = format!(
            "{} {:<14} stream {:<2} len {:<5}",
            self.label,
            f::kind_name(header.kind),
            header.stream,
            header.len
        );
        let flags = f::flag_names(header);
        if !flags.is_empty() {
            let _ = write!(out, " {flags}");
        }
        if !summary.is_empty() {
            let _ = write!(out, "  {summary}");
        }
        let mut out = fit(out.trim_end());
        for line in lines {
            out.push('\n');
            out.push_str(&fit(&format!("{INDENT}{line}")));
        }
        out
    }
}

/// The state of `stream`, created on first sight while fewer than
/// [`MAX_STREAMS`] are followed; stream 0 is the connection, never a stream.
fn stream_entry(streams: &mut HashMap<u32, Stream>, id: u32) -> Option<&mut Stream> {
    if id == 0 || (streams.len() >= MAX_STREAMS && !streams.contains_key(&id)) {
        return None;
    }
    Some(streams.entry(id).or_default())
}

/// Cuts a line to [`LINE_COLUMNS`] characters.
fn fit(line: &str) -> String {
    if line.chars().count() <= LINE_COLUMNS {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(LINE_COLUMNS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests;
