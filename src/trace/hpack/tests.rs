//! Tests on byte literals.

use super::*;

fn fields(instructions: &[Instruction]) -> Vec<(String, String)> {
    instructions
        .iter()
        .filter_map(|i| match i {
            Instruction::Field(f) => Some((
                String::from_utf8_lossy(&f.name).into_owned(),
                String::from_utf8_lossy(&f.value).into_owned(),
            )),
            Instruction::TableSize(_) => None,
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// RFC 7541 C.3: three requests on one connection, no Huffman; the
/// second and third reuse the dynamic table the first filled.
#[test]
fn rfc7541_c3_requests_without_huffman() {
    let mut dec = Decoder::default();
    let first = [
        0x82, // indexed 2  :method GET
        0x86, // indexed 6  :scheme http
        0x84, // indexed 4  :path /
        0x41, 0x0f, // literal, incremental, name index 1 (:authority), 15 raw bytes
        b'w', b'w', b'w', b'.', b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'c', b'o', b'm',
    ];
    let got = dec.decode(&first).unwrap();
    assert_eq!(
        fields(&got),
        pairs(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ])
    );
    assert_eq!(
        got[3],
        Instruction::Field(Field {
            name: b":authority".to_vec(),
            value: b"www.example.com".to_vec(),
            how: Representation::Literal {
                name: Some(1),
                indexing: Indexing::Incremental,
                huffman: false
            },
        })
    );
    assert_eq!(dec.table_bytes(), 57);
    let second = [
        0x82, 0x86, 0x84, // :method GET, :scheme http, :path /
        0xbe, // indexed 62: :authority www.example.com, from the dynamic table
        0x58, 0x08, // literal, incremental, name index 24 (cache-control), 8 raw bytes
        b'n', b'o', b'-', b'c', b'a', b'c', b'h', b'e',
    ];
    let got = dec.decode(&second).unwrap();
    assert_eq!(
        fields(&got)[3],
        pairs(&[(":authority", "www.example.com")])[0]
    );
    assert_eq!(fields(&got)[4], pairs(&[("cache-control", "no-cache")])[0]);
    assert!(matches!(
        got[3],
        Instruction::Field(Field {
            how: Representation::Indexed(62),
            ..
        })
    ));
    assert_eq!(dec.table_bytes(), 110);
    let third = [
        0x82, 0x87, 0x85, // :method GET, :scheme https, :path /index.html
        0xbf, // indexed 63: :authority www.example.com (now second newest)
        0x40, 0x0a, b'c', b'u', b's', b't', b'o', b'm', b'-', b'k', b'e', b'y', // new name
        0x0c, b'c', b'u', b's', b't', b'o', b'm', b'-', b'v', b'a', b'l', b'u', b'e',
    ];
    let got = dec.decode(&third).unwrap();
    assert_eq!(
        fields(&got),
        pairs(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ])
    );
    assert_eq!(dec.table_bytes(), 164);
}

/// RFC 7541 C.4.1: the first request of C.3, Huffman-coded.
#[test]
fn rfc7541_c4_huffman() {
    let mut dec = Decoder::default();
    let block = [
        0x82, 0x86, 0x84, // :method GET, :scheme http, :path /
        0x41, 0x8c, // literal, incremental, name 1; Huffman, 12 bytes
        0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
    ];
    let got = dec.decode(&block).unwrap();
    assert_eq!(
        fields(&got)[3],
        pairs(&[(":authority", "www.example.com")])[0]
    );
    assert!(matches!(
        got[3],
        Instruction::Field(Field {
            how: Representation::Literal { huffman: true, .. },
            ..
        })
    ));
    // C.4.2's "no-cache", Huffman: 6 bytes.
    let got = dec
        .decode(&[
            0x82, 0x86, 0x84, 0xbe, 0x58, 0x86, 0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf,
        ])
        .unwrap();
    assert_eq!(fields(&got)[4], pairs(&[("cache-control", "no-cache")])[0]);
}

/// RFC 7541 C.5.1–C.5.2 with a 256-byte table: the oldest entry is evicted.
#[test]
fn rfc7541_c5_eviction() {
    let mut dec = Decoder::default();
    dec.set_limit(256);
    let mut block = vec![0x3f, 0xe1, 0x01]; // table size update to 256 (5-bit prefix: 31 + 225)
    block.extend([0x48, 0x03, b'3', b'0', b'2']); // literal, incremental, name 8 (:status)
    block.extend([0x58, 0x07, b'p', b'r', b'i', b'v', b'a', b't', b'e']); // cache-control
    let date = b"Mon, 21 Oct 2013 20:13:21 GMT";
    block.extend([0x61, date.len() as u8]); // date
    block.extend(date);
    let location = b"https://www.example.com";
    block.extend([0x6e, location.len() as u8]); // location
    block.extend(location);
    let got = dec.decode(&block).unwrap();
    assert_eq!(got[0], Instruction::TableSize(256));
    assert_eq!(dec.table_bytes(), 222);
    // C.5.2: ":status 307" evicts ":status 302"; 63..=65 then shift by one.
    let got = dec
        .decode(&[0x48, 0x03, b'3', b'0', b'7', 0xc1, 0xc0, 0xbf])
        .unwrap();
    assert_eq!(
        fields(&got),
        pairs(&[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com"),
        ])
    );
    assert_eq!(dec.table_bytes(), 222);
}

#[test]
fn bad_blocks_are_errors_not_panics() {
    let mut dec = Decoder::default();
    assert_eq!(dec.decode(&[0x80]), Err(HpackError::BadIndex(0)));
    assert_eq!(dec.decode(&[0xbe]), Err(HpackError::BadIndex(62)));
    // A string that claims 5 bytes with 1 present.
    assert_eq!(dec.decode(&[0x00, 0x05, b'a']), Err(HpackError::Truncated));
    assert_eq!(dec.decode(&[0xff]), Err(HpackError::Truncated));
    assert_eq!(
        dec.decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        Err(HpackError::IntegerOverflow)
    );
    assert_eq!(
        dec.decode(&[0x3f, 0xe2, 0x1f]), // size update to 4097, limit 4096
        Err(HpackError::TableSizeAboveLimit {
            size: 4097,
            limit: 4096
        })
    );
    // Huffman: padding of 8 one bits, and padding that is not all ones.
    assert_eq!(
        dec.decode(&[0x00, 0x81, 0xff, 0x00]),
        Err(HpackError::BadHuffman)
    );
    assert_eq!(
        dec.decode(&[0x00, 0x81, 0x00, 0x00]),
        Err(HpackError::BadHuffman)
    );
}
