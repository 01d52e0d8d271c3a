//! What is inside each kind of frame but DATA: SETTINGS, WINDOW_UPDATE,
//! PING, RST_STREAM, GOAWAY, PRIORITY, and the header blocks of HEADERS,
//! PUSH_PROMISE and CONTINUATION, decoded with the direction's HPACK table.

use std::fmt::Write;

use super::super::data;
use super::super::h2frame::{self as f, FrameHeader};
use super::super::hpack::{self, Indexing, Instruction, Representation};
use super::{DirectionLog, Effect, INDENT, LINE_COLUMNS, MAX_KEPT_BYTES, stream_entry};

impl DirectionLog {
    /// A non-DATA frame's summary and lines.
    pub(super) fn describe(
        &mut self,
        header: &FrameHeader,
        payload: &[u8],
        effects: &mut Vec<Effect>,
    ) -> (String, Vec<String>) {
        let mut lines = Vec::new();
        let summary = match header.kind {
            f::SETTINGS if header.has(f::ACK) => String::new(),
            f::SETTINGS => match f::parse_settings(payload) {
                Ok(settings) => {
                    for (id, value) in settings {
                        if id == f::SETTINGS_HEADER_TABLE_SIZE {
                            effects.push(Effect::TableLimit(
                                usize::try_from(value).unwrap_or(usize::MAX),
                            ));
                        }
                        lines.push(format!("{} {value}", f::setting_name(id)));
                    }
                    String::new()
                }
                Err(e) => format!("malformed: {e}"),
            },
            f::WINDOW_UPDATE => match f::parse_window_update(payload) {
                Ok(n) if header.stream == 0 => format!("connection window +{n}"),
                Ok(n) => format!("stream window +{n}"),
                Err(e) => format!("malformed: {e}"),
            },
            f::PING => {
                let mut s = String::from("opaque data ");
                for b in payload.iter().take(data::HEX_BYTES) {
                    let _ = write!(s, "{b:02x}");
                }
                s
            }
            f::RST_STREAM => match f::parse_rst_stream(payload) {
                Ok(code) => {
                    self.streams.remove(&header.stream);
                    effects.push(Effect::Reset(header.stream));
                    f::error_name(code)
                }
                Err(e) => format!("malformed: {e}"),
            },
            f::GOAWAY => match f::parse_goaway(payload) {
                Ok((last, code, debug)) => {
                    let mut s = format!("last stream {last}, {}", f::error_name(code));
                    if !debug.is_empty() {
                        let _ = write!(s, ", debug data {:?}", String::from_utf8_lossy(debug));
                    }
                    s
                }
                Err(e) => format!("malformed: {e}"),
            },
            f::PRIORITY => match f::parse_priority(payload) {
                Ok((exclusive, on, weight)) => {
                    let excl = if exclusive { "exclusive, " } else { "" };
                    format!("{excl}depends on stream {on}, weight {weight}")
                }
                Err(e) => format!("malformed: {e}"),
            },
            f::HEADERS | f::PUSH_PROMISE => match f::header_block(header, payload) {
                Ok((fields, fragment, _)) => {
                    // Decoded first: whether it holds a grpc-status tells Trailers-Only.
                    let status = if header.has(f::END_HEADERS) {
                        self.decode_block(fragment, &mut lines)
                    } else {
                        self.block = Some((*header, fragment.to_vec()));
                        lines.push("the header block continues in CONTINUATION".into());
                        None
                    };
                    let mut summary = self.block_role(header, status);
                    if header.kind == f::PUSH_PROMISE
                        && let Some(promised) = fields.get(..4)
                    {
                        let id = u32::from_be_bytes([
                            promised[0],
                            promised[1],
                            promised[2],
                            promised[3],
                        ]) & 0x7fff_ffff;
                        summary = format!("promised stream {id}");
                    }
                    if header.has(f::END_STREAM) {
                        self.streams.remove(&header.stream);
                    }
                    summary
                }
                Err(e) => {
                    self.hpack_lost = true;
                    format!("malformed: {e}")
                }
            },
            f::CONTINUATION => {
                let mut opened = self.block.take();
                let fits = opened
                    .as_ref()
                    .is_some_and(|(_, b)| b.len() + payload.len() <= MAX_KEPT_BYTES);
                match opened.as_mut() {
                    Some((_, block)) if fits => block.extend_from_slice(payload),
                    _ => {
                        self.hpack_lost = true;
                        opened = None;
                    }
                }
                match opened {
                    Some((_, block)) if header.has(f::END_HEADERS) => {
                        self.decode_block(&block, &mut lines);
                    }
                    Some(opened) => self.block = Some(opened),
                    None => lines.push("no header block to continue (or too long to keep)".into()),
                }
                String::new()
            }
            _ => format!(
                "payload {}",
                data::hex_head(
                    payload.get(..data::HEX_BYTES).unwrap_or(payload),
                    payload.len()
                )
            ),
        };
        (summary, lines)
    }

    /// What a HEADERS frame is in the gRPC call (PROTOCOL-HTTP2.md, "Outline"):
    /// the first block of a stream is its request or response head, a second
    /// one its trailers; a first response block that ends the stream is
    /// Trailers-Only if it carries a `grpc-status` (`has_status`: `None`
    /// when the block is not decoded yet).
    fn block_role(&mut self, header: &FrameHeader, has_status: Option<bool>) -> String {
        let Some(stream) = stream_entry(&mut self.streams, header.stream) else {
            return String::new();
        };
        stream.header_blocks += 1;
        let role = match (
            stream.header_blocks,
            self.from_client,
            header.has(f::END_STREAM),
        ) {
            (1, true, _) => "request head",
            (1, false, true) if has_status == Some(true) => "Trailers-Only",
            (1, false, true) => "response head, ending the stream",
            (1, false, false) => "response head",
            _ => "trailers",
        };
        role.to_owned()
    }

    /// Decodes a complete header block into one line per field; says
    /// whether it holds a `grpc-status` (`None`: not decoded).
    fn decode_block(&mut self, block: &[u8], lines: &mut Vec<String>) -> Option<bool> {
        if self.hpack_lost {
            lines.push("(not decoded: this direction's HPACK table was lost earlier)".into());
            return None;
        }
        match self.hpack.decode(block) {
            Ok(instructions) => {
                let status = instructions.iter().any(
                    |i| matches!(i, Instruction::Field(field) if field.name == b"grpc-status"),
                );
                for instruction in instructions {
                    match instruction {
                        Instruction::TableSize(size) => {
                            lines.push(format!("[dynamic table size update: {size}]"));
                        }
                        Instruction::Field(field) => lines.extend(field_lines(&field)),
                    }
                }
                Some(status)
            }
            Err(e) => {
                self.hpack_lost = true;
                lines.push(format!(
                    "HPACK error: {e}; no further header blocks decoded this way"
                ));
                None
            }
        }
    }
}

/// `name value` and, aligned after it (or under it, when the field is
/// long), how HPACK coded the field.
fn field_lines(field: &hpack::Field) -> Vec<String> {
    let how = match field.how {
        Representation::Indexed(i) => format!("[{}]", table_index(i)),
        Representation::Literal {
            name,
            indexing,
            huffman,
        } => {
            let mut s = match indexing {
                Indexing::Incremental => "literal".to_owned(),
                Indexing::Without => "literal not indexed".to_owned(),
                Indexing::Never => "literal never indexed".to_owned(),
            };
            match name {
                Some(i) => {
                    let _ = write!(s, ", name {}", table_index(i));
                }
                None => s.push_str(", new name"),
            }
            if huffman {
                s.push_str(", huffman");
            }
            if indexing == Indexing::Incremental {
                s.push_str(" → dynamic 62");
            }
            format!("[{s}]")
        }
    };
    let name = String::from_utf8_lossy(&field.name);
    let value = String::from_utf8_lossy(&field.value);
    let text = format!("{name} {value}");
    let width = INDENT.len() + text.chars().count();
    if width.max(INDENT.len() + NOTE_COLUMN) + 1 + how.chars().count() <= LINE_COLUMNS {
        return vec![format!("{text:<NOTE_COLUMN$} {how}")];
    }
    // Too long for one line: the field on its own (its value folded if it
    // still does not fit), the note under it in the same column.
    let room = LINE_COLUMNS.saturating_sub(INDENT.len() + name.chars().count() + 1);
    let text = if value.chars().count() > room {
        let note = format!("… ({})", data::bytes(field.value.len()));
        let keep = room.saturating_sub(note.chars().count());
        format!(
            "{name} {}{note}",
            value.chars().take(keep).collect::<String>()
        )
    } else {
        text
    };
    vec![text, format!("{:NOTE_COLUMN$} {how}", "")]
}

/// Where a field's note starts, after the indentation.
const NOTE_COLUMN: usize = 48;

fn table_index(i: usize) -> String {
    if hpack::is_static(i) {
        format!("static {i}")
    } else {
        format!("dynamic {i}")
    }
}
