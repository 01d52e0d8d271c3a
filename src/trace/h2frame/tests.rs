//! Tests on byte literals.

use super::*;

/// Collects what the reader hands out, payload pieces as owned bytes.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Preface,
    NotHttp2,
    Header(FrameHeader),
    Payload(Vec<u8>),
    End,
}

fn read(reader: &mut FrameReader, bytes: &[u8], step: usize) -> Vec<Got> {
    let mut got = Vec::new();
    for chunk in bytes.chunks(step) {
        reader.feed(chunk, |p| {
            got.push(match p {
                Piece::Preface => Got::Preface,
                Piece::NotHttp2 => Got::NotHttp2,
                Piece::Header(h) => Got::Header(h),
                Piece::Payload(b) => Got::Payload(b.to_vec()),
                Piece::End => Got::End,
            });
        });
    }
    // Join consecutive payload pieces: chunking must not change the bytes.
    let mut joined: Vec<Got> = Vec::new();
    for g in got {
        match (joined.last_mut(), g) {
            (Some(Got::Payload(a)), Got::Payload(b)) => a.extend(b),
            (_, g) => joined.push(g),
        }
    }
    joined
}

/// What h2's client writes first: the preface, SETTINGS with ENABLE_PUSH=0
/// and INITIAL_WINDOW_SIZE=2 MiB, and a WINDOW_UPDATE for the connection.
const CLIENT_START: &[u8] = &[
    b'P', b'R', b'I', b' ', b'*', b' ', b'H', b'T', b'T', b'P', b'/', b'2', b'.', b'0', b'\r',
    b'\n', b'\r', b'\n', b'S', b'M', b'\r', b'\n', b'\r', b'\n', // preface
    0x00, 0x00, 0x0c, // length 12
    0x04, 0x00, // SETTINGS, no flags
    0x00, 0x00, 0x00, 0x00, // stream 0
    0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // ENABLE_PUSH = 0
    0x00, 0x04, 0x00, 0x20, 0x00, 0x00, // INITIAL_WINDOW_SIZE = 2097152
    0x00, 0x00, 0x04, // length 4
    0x08, 0x00, // WINDOW_UPDATE, no flags
    0x00, 0x00, 0x00, 0x00, // stream 0
    0x00, 0x4f, 0x00, 0x01, // increment 5177345
];

#[test]
fn reads_preface_and_frames_at_every_chunking() {
    let settings = FrameHeader {
        len: 12,
        kind: SETTINGS,
        flags: 0,
        stream: 0,
    };
    let update = FrameHeader {
        len: 4,
        kind: WINDOW_UPDATE,
        flags: 0,
        stream: 0,
    };
    let want = vec![
        Got::Preface,
        Got::Header(settings),
        Got::Payload(CLIENT_START[33..45].to_vec()),
        Got::End,
        Got::Header(update),
        Got::Payload(vec![0x00, 0x4f, 0x00, 0x01]),
        Got::End,
    ];
    for step in 1..=CLIENT_START.len() {
        let mut reader = FrameReader::client_to_server();
        assert_eq!(read(&mut reader, CLIENT_START, step), want, "step {step}");
    }
    assert_eq!(
        parse_settings(&CLIENT_START[33..45]),
        Ok(vec![(0x2, 0), (0x4, 2_097_152)])
    );
    assert_eq!(parse_window_update(&CLIENT_START[54..]), Ok(5_177_345));
}

#[test]
fn empty_frames_end_at_once_and_reserved_bit_is_cleared() {
    let bytes = [
        0x00, 0x00, 0x00, // length 0
        0x04, 0x01, // SETTINGS, ACK
        0x80, 0x00, 0x00, 0x00, // stream 0 with the reserved bit set
    ];
    let mut reader = FrameReader::server_to_client();
    let header = FrameHeader {
        len: 0,
        kind: SETTINGS,
        flags: ACK,
        stream: 0,
    };
    assert_eq!(
        read(&mut reader, &bytes, 4),
        vec![Got::Header(header), Got::End]
    );
    assert_eq!(flag_names(&header), "ACK");
}

#[test]
fn anything_but_the_preface_stops_the_reader() {
    let mut reader = FrameReader::client_to_server();
    let got = read(
        &mut reader,
        b"GET / HTTP/1.1\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        3,
    );
    assert_eq!(got, vec![Got::NotHttp2]);
}

#[test]
fn flags_by_type() {
    let h = |kind, flags| FrameHeader {
        len: 0,
        kind,
        flags,
        stream: 1,
    };
    assert_eq!(
        flag_names(&h(HEADERS, 0x25)),
        "END_STREAM|END_HEADERS|PRIORITY"
    );
    assert_eq!(flag_names(&h(DATA, 0x09)), "END_STREAM|PADDED");
    // 0x4 means END_HEADERS on HEADERS but nothing on DATA.
    assert_eq!(flag_names(&h(DATA, 0x04)), "0x04");
    assert_eq!(flag_names(&h(DATA, 0)), "");
}

#[test]
fn fixed_payloads() {
    // GOAWAY: last stream 3, ENHANCE_YOUR_CALM, "too_many_pings".
    let mut goaway = vec![0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0b];
    goaway.extend(b"too_many_pings");
    assert_eq!(parse_goaway(&goaway), Ok((3, 0xb, &b"too_many_pings"[..])));
    assert!(parse_goaway(&goaway[..7]).is_err());
    assert_eq!(error_name(0xb), "ENHANCE_YOUR_CALM");
    assert_eq!(parse_rst_stream(&[0, 0, 0, 8]), Ok(8));
    assert!(parse_rst_stream(&[0, 0, 8]).is_err());
    assert!(parse_settings(&[0, 1, 0, 0, 0]).is_err());
    assert!(parse_window_update(&[0, 0, 1]).is_err());
    // Exclusive dependency on stream 3, weight byte 15 = weight 16.
    assert_eq!(parse_priority(&[0x80, 0, 0, 3, 15]), Ok((true, 3, 16)));
}

#[test]
fn header_block_strips_padding_and_priority() {
    let header = FrameHeader {
        len: 0,
        kind: HEADERS,
        flags: PADDED | PRIORITY_FLAG | END_HEADERS,
        stream: 1,
    };
    let payload = [
        0x02, // pad length 2
        0x00, 0x00, 0x00, 0x00, 0x0f, // priority: stream 0, weight 16
        0x82, 0x86, // the header block fragment
        0x00, 0x00, // padding
    ];
    let (fields, fragment, pad) = header_block(&header, &payload).unwrap();
    assert_eq!((fields.len(), fragment, pad), (5, &[0x82, 0x86][..], 2));
    // Padding longer than what is left is malformed, not a panic.
    assert!(header_block(&header, &[0x09, 0x00]).is_err());
    assert!(header_block(&header, &[]).is_err());
}
