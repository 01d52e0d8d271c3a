//! HPACK decoding for the frame trace: header blocks back into fields, and how
//! each field was coded.
//!
//! Layer: trace (sans-IO: bytes in, fields out). Spec: RFC 7541. HTTP/2 sends
//! headers compressed against a table that both ends keep in step, so a
//! header block means nothing without every block before it in the same
//! direction (§2.2: "the decoding context"). The frame trace therefore keeps
//! one [`Decoder`] per direction of a connection and feeds it every block, as
//! the peer that receives them does. Each field comes out with the
//! representation it used, which is what a learner wants to see:
//!
//! ```text
//!   first byte   representation (§6)                       table
//!   1xxxxxxx     indexed field: index (7+ bits)            read
//!   01xxxxxx     literal, incremental indexing: name index  read, then added as entry 62
//!                (6+ bits, 0 = literal name), value
//!   001xxxxx     dynamic table size update (5+ bits)        resized
//!   0001xxxx     literal, never indexed (4+ bits)           read
//!   0000xxxx     literal, without indexing (4+ bits)        read
//! ```
//!
//! Indices 1–61 are the static table ([`super::hpack_table::STATIC_TABLE`]),
//! 62 and up the dynamic table, newest first (§2.3.3). A string literal is raw
//! or Huffman-coded (§5.2, the `H` bit). Lengths read off the wire are checked
//! against the bytes present before anything is allocated.

use std::collections::VecDeque;
use std::fmt;
use std::sync::OnceLock;

use super::hpack_table::{HUFFMAN, STATIC_TABLE};

/// SETTINGS_HEADER_TABLE_SIZE before a SETTINGS frame says otherwise (RFC 9113 §6.5.2).
pub(crate) const DEFAULT_TABLE_BYTES: usize = 4096;

/// Entries 1..=61 are static; the dynamic table starts after them (§2.3.3).
const STATIC_ENTRIES: usize = STATIC_TABLE.len();

/// One decoded header field and how it was coded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: Vec<u8>,
    pub(crate) value: Vec<u8>,
    pub(crate) how: Representation,
}

/// How a field was represented in the block (§6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Representation {
    /// §6.1: name and value from the table entry at this index.
    Indexed(usize),
    /// §6.2: a literal value; the name from the table entry `name`, or
    /// literal when `None`.
    Literal {
        name: Option<usize>,
        indexing: Indexing,
        /// The value was Huffman-coded.
        huffman: bool,
    },
}

/// What a literal does to the dynamic table (§6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Indexing {
    /// §6.2.1: added to the dynamic table.
    Incremental,
    /// §6.2.2: not added.
    Without,
    /// §6.2.3: not added, and intermediaries must never add it either.
    Never,
}

/// One instruction of a header block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Instruction {
    Field(Field),
    /// §6.3: the dynamic table's maximum size changed to this many bytes.
    TableSize(usize),
}

/// Why a header block could not be decoded. After any of these the
/// direction's table is out of step with the sender's, for good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HpackError {
    /// The block ended inside an integer or a string.
    Truncated,
    /// An integer longer than any index or length can be.
    IntegerOverflow,
    /// Index 0, or one past the end of the table.
    BadIndex(usize),
    /// A Huffman string with an invalid code, EOS, or bad padding.
    BadHuffman,
    /// A table size update above what the receiver allowed.
    TableSizeAboveLimit { size: usize, limit: usize },
}

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HpackError::Truncated => f.write_str("block ends inside a field"),
            HpackError::IntegerOverflow => f.write_str("integer overflow"),
            HpackError::BadIndex(i) => write!(f, "index {i} is not in the table"),
            HpackError::BadHuffman => f.write_str("invalid Huffman string"),
            HpackError::TableSizeAboveLimit { size, limit } => {
                write!(f, "table size update to {size} above the limit {limit}")
            }
        }
    }
}

/// The decoding context of one direction: its dynamic table (§2.3.2).
#[derive(Debug)]
pub(crate) struct Decoder {
    /// Newest entry first: index 62 is `table[0]`.
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    /// Sum of the entries' sizes (§4.1).
    size: usize,
    /// The size the encoder last set (§6.3), at most `limit`.
    max_size: usize,
    /// SETTINGS_HEADER_TABLE_SIZE of the receiving side: the most the
    /// encoder may set.
    limit: usize,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: DEFAULT_TABLE_BYTES,
            limit: DEFAULT_TABLE_BYTES,
        }
    }
}

impl Decoder {
    /// The receiving side advertised SETTINGS_HEADER_TABLE_SIZE `bytes`.
    /// A lower value also shrinks the table at once (the encoder must then
    /// signal a size update, §4.2, which this decoder does not insist on).
    pub(crate) fn set_limit(&mut self, bytes: usize) {
        self.limit = bytes;
        if self.max_size > bytes {
            self.max_size = bytes;
            self.evict();
        }
    }

    /// The dynamic table's current size in bytes (§4.1).
    #[cfg(test)]
    pub(crate) fn table_bytes(&self) -> usize {
        self.size
    }

    /// Decodes one complete header block.
    pub(crate) fn decode(&mut self, mut src: &[u8]) -> Result<Vec<Instruction>, HpackError> {
        let mut out = Vec::new();
        while let Some(&first) = src.first() {
            let instruction = if first & 0x80 != 0 {
                let index = decode_int(&mut src, 7)?;
                let (name, value) = self.entry(index)?;
                let how = Representation::Indexed(index);
                Instruction::Field(Field { name, value, how })
            } else if first & 0xc0 == 0x40 {
                let field = self.literal(&mut src, 6, Indexing::Incremental)?;
                self.insert(field.name.clone(), field.value.clone());
                Instruction::Field(field)
            } else if first & 0xe0 == 0x20 {
                let size = decode_int(&mut src, 5)?;
                if size > self.limit {
                    let limit = self.limit;
                    return Err(HpackError::TableSizeAboveLimit { size, limit });
                }
                self.max_size = size;
                self.evict();
                Instruction::TableSize(size)
            } else if first & 0xf0 == 0x10 {
                Instruction::Field(self.literal(&mut src, 4, Indexing::Never)?)
            } else {
                Instruction::Field(self.literal(&mut src, 4, Indexing::Without)?)
            };
            out.push(instruction);
        }
        Ok(out)
    }

    fn literal(
        &self,
        src: &mut &[u8],
        prefix: u32,
        indexing: Indexing,
    ) -> Result<Field, HpackError> {
        let index = decode_int(src, prefix)?;
        let (name, name_index) = if index == 0 {
            (decode_str(src)?.0, None)
        } else {
            (self.entry(index)?.0, Some(index))
        };
        let (value, huffman) = decode_str(src)?;
        let how = Representation::Literal {
            name: name_index,
            indexing,
            huffman,
        };
        Ok(Field { name, value, how })
    }

    fn entry(&self, index: usize) -> Result<(Vec<u8>, Vec<u8>), HpackError> {
        if index == 0 {
            return Err(HpackError::BadIndex(0));
        }
        if let Some((name, value)) = STATIC_TABLE.get(index - 1) {
            return Ok((name.to_vec(), value.to_vec()));
        }
        self.table
            .get(index - 1 - STATIC_ENTRIES)
            .cloned()
            .ok_or(HpackError::BadIndex(index))
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        // §4.4: an entry larger than the table empties it and is not added.
        self.size += entry_size(&name, &value);
        self.table.push_front((name, value));
        self.evict();
    }

    fn evict(&mut self) {
        while self.size > self.max_size {
            match self.table.pop_back() {
                Some((name, value)) => self.size -= entry_size(&name, &value),
                None => break,
            }
        }
    }
}

/// True for indices of the static table (1..=61).
pub(crate) fn is_static(index: usize) -> bool {
    (1..=STATIC_ENTRIES).contains(&index)
}

/// §4.1: an entry's size is its name and value lengths plus 32.
fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

/// Reads an integer with an `n`-bit prefix (§5.1).
fn decode_int(src: &mut &[u8], n: u32) -> Result<usize, HpackError> {
    let (&first, rest) = src.split_first().ok_or(HpackError::Truncated)?;
    *src = rest;
    let max = (1usize << n) - 1;
    let mut value = usize::from(first) & max;
    if value < max {
        return Ok(value);
    }
    // Up to 4 continuation bytes: 28 bits, far above any index or length
    // a header block of at most 16 MiB can hold.
    for shift in [0, 7, 14, 21] {
        let (&b, rest) = src.split_first().ok_or(HpackError::Truncated)?;
        *src = rest;
        value += usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(HpackError::IntegerOverflow)
}

/// Reads a string literal (§5.2); returns it and whether it was Huffman-coded.
fn decode_str(src: &mut &[u8]) -> Result<(Vec<u8>, bool), HpackError> {
    let huffman = src.first().ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = decode_int(src, 7)?;
    if src.len() < len {
        return Err(HpackError::Truncated);
    }
    let (raw, rest) = src.split_at(len);
    *src = rest;
    if huffman {
        Ok((huffman_decode(raw)?, true))
    } else {
        Ok((raw.to_vec(), false))
    }
}

/// The Huffman codes grouped by bit length, sorted, for lookup while decoding.
type CodesByLength = Vec<Vec<(u32, u8)>>;

fn codes_by_length() -> &'static CodesByLength {
    static CODES: OnceLock<CodesByLength> = OnceLock::new();
    CODES.get_or_init(|| {
        let mut by_len: CodesByLength = vec![Vec::new(); 31];
        for (symbol, &(len, code)) in (0u8..=255).zip(HUFFMAN.iter()) {
            if let Some(codes) = by_len.get_mut(usize::from(len)) {
                codes.push((code, symbol));
            }
        }
        for codes in &mut by_len {
            codes.sort_unstable();
        }
        by_len
    })
}

/// Decodes a Huffman string (§5.2, codes in Appendix B) bit by bit.
fn huffman_decode(src: &[u8]) -> Result<Vec<u8>, HpackError> {
    let codes = codes_by_length();
    // The shortest code is 5 bits, so at most 8/5 symbols per byte.
    let mut out = Vec::with_capacity(src.len() * 8 / 5);
    let (mut code, mut bits) = (0u32, 0usize);
    for &byte in src {
        for i in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> i) & 1);
            bits += 1;
            let found = codes.get(bits).and_then(|c| {
                c.binary_search_by_key(&code, |&(c, _)| c)
                    .ok()
                    .map(|i| c[i].1)
            });
            if let Some(symbol) = found {
                out.push(symbol);
                (code, bits) = (0, 0);
            } else if bits >= 30 {
                // 30 bits with no symbol: EOS (all ones), which a string must not contain.
                return Err(HpackError::BadHuffman);
            }
        }
    }
    // Padding: fewer than 8 bits, all ones (the start of EOS).
    if bits >= 8 || code != (1u32 << bits) - 1 {
        return Err(HpackError::BadHuffman);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
