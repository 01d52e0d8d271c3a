//! Tests of the frame trace on byte literals: the frames h2 and gRPC peers
//! write, fed in pieces as a socket would deliver them.

use super::*;

/// A frame: 9-byte header (length, type, flags, stream), then `payload`.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// Feeds `bytes` `step` bytes at a time; returns every entry.
fn feed(log: &mut ConnectionLog, dir: Dir, bytes: &[u8], step: usize) -> Vec<String> {
    bytes.chunks(step).flat_map(|c| log.feed(dir, c)).collect()
}

/// A header block of raw literals: `te: trailers` (literal with incremental
/// indexing, new name) and `:path` (literal without indexing, name static 4).
const REQUEST_BLOCK: &[u8] = &[
    0x83, // indexed 3: :method POST
    0x40, 0x02, b't', b'e', 0x08, b't', b'r', b'a', b'i', b'l', b'e', b'r',
    b's', // te trailers
    0x04, 0x02, b'/', b'x', // :path /x, not indexed
    0xbe, // indexed 62: te trailers, the entry just added
];

#[test]
fn a_client_connection_and_a_call() {
    let mut bytes = PREFACE_BYTES.to_vec();
    bytes.extend(frame(f::SETTINGS, 0, 0, &[0x00, 0x02, 0, 0, 0, 0])); // ENABLE_PUSH 0
    bytes.extend(frame(f::WINDOW_UPDATE, 0, 0, &[0x00, 0x4f, 0x00, 0x01]));
    bytes.extend(frame(f::HEADERS, f::END_HEADERS, 1, REQUEST_BLOCK));
    // One 12-byte message split over two DATA frames, the second with END_STREAM.
    let message = [
        0x00, 0x00, 0x00, 0x00, 0x07, 0x0a, 0x05, b'h', b'e', b'l', b'l', b'o',
    ];
    bytes.extend(frame(f::DATA, 0, 1, &message[..3]));
    bytes.extend(frame(f::DATA, f::END_STREAM, 1, &message[3..]));
    let want = [
        "client → preface        PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n",
        "client → SETTINGS       stream 0  len 6\n           ENABLE_PUSH 0",
        "client → WINDOW_UPDATE  stream 0  len 4      connection window +5177345",
        "client → HEADERS        stream 1  len 19    END_HEADERS  request head\n\
         \x20          :method POST                                     [static 3]\n\
         \x20          te trailers                                      [literal, new name → dynamic 62]\n\
         \x20          :path /x                                         [literal not indexed, name static 4]\n\
         \x20          te trailers                                      [dynamic 62]",
        "client → DATA           stream 1  len 3\n\
         \x20          message starts: prefix 00 00 00 (3 of its 5 bytes), continues",
        "client → DATA           stream 1  len 9     END_STREAM\n\
         \x20          message prefix ends: 00 00000007 (7 bytes); 7 bytes here: 0a 05 68 65 6c 6c 6f",
    ];
    // Whole, and a byte at a time: the socket may deliver any pieces.
    for step in [bytes.len(), 1, 7] {
        let mut log = ConnectionLog::new(Side::Client);
        assert_eq!(feed(&mut log, Dir::Send, &bytes, step), want, "step {step}");
    }
}

const PREFACE_BYTES: &[u8] = f::PREFACE;

#[test]
fn the_servers_answer_trailers_only_and_acks() {
    let mut log = ConnectionLog::new(Side::Server);
    let mut bytes = frame(f::SETTINGS, f::ACK, 0, &[]);
    bytes.extend(frame(f::PING, f::ACK, 0, &[1, 2, 3, 4, 5, 6, 7, 8]));
    // :status 200 (static 8), then grpc-status 5 as a literal without indexing.
    let mut block = vec![0x88, 0x00, 0x0b];
    block.extend(b"grpc-status");
    block.extend([0x01, b'5']);
    bytes.extend(frame(f::HEADERS, f::END_STREAM | f::END_HEADERS, 1, &block));
    bytes.extend(frame(f::RST_STREAM, 0, 3, &[0, 0, 0, 8]));
    let mut goaway = vec![0, 0, 0, 3, 0, 0, 0, 0x0b];
    goaway.extend(b"too_many_pings");
    bytes.extend(frame(f::GOAWAY, 0, 0, &goaway));
    let got = feed(&mut log, Dir::Send, &bytes, 5);
    assert_eq!(
        got,
        [
            "server → SETTINGS       stream 0  len 0     ACK",
            "server → PING           stream 0  len 8     ACK  opaque data 0102030405060708",
            "server → HEADERS        stream 1  len 16    END_STREAM|END_HEADERS  Trailers-Only\n\
             \x20          :status 200                                      [static 8]\n\
             \x20          grpc-status 5                                    [literal not indexed, new name]",
            "server → RST_STREAM     stream 3  len 4      CANCEL",
            "server → GOAWAY         stream 0  len 22     last stream 3, ENHANCE_YOUR_CALM, debug data \"too_many_pings\"",
        ]
    );
}

/// The second header block of a stream is its trailers; a HEADERS without
/// END_HEADERS is decoded when its CONTINUATION ends the block.
#[test]
fn trailers_and_continuation() {
    let mut log = ConnectionLog::new(Side::Client);
    let mut bytes = frame(f::HEADERS, f::END_HEADERS, 1, &[0x88]); // :status 200
    bytes.extend(frame(f::HEADERS, f::END_STREAM, 1, &[0x00, 0x01, b'a']));
    bytes.extend(frame(f::CONTINUATION, f::END_HEADERS, 1, &[0x01, b'b']));
    let got = feed(&mut log, Dir::Recv, &bytes, 4);
    assert_eq!(got.len(), 3);
    assert!(got[0].ends_with("END_HEADERS  response head\n           :status 200                                      [static 8]"));
    assert_eq!(
        got[1],
        "client ← HEADERS        stream 1  len 3     END_STREAM  trailers\n\
         \x20          the header block continues in CONTINUATION"
    );
    assert_eq!(
        got[2],
        "client ← CONTINUATION   stream 1  len 2     END_HEADERS\n\
         \x20          a b                                              [literal not indexed, new name]"
    );
}

/// A table size update is allowed up to the SETTINGS_HEADER_TABLE_SIZE that
/// the receiving side sent: the setting crosses from one direction to the other.
#[test]
fn header_table_size_comes_from_the_receivers_settings() {
    let update_to_8192 = frame(f::HEADERS, f::END_HEADERS, 1, &[0x3f, 0xe1, 0x3f, 0x88]);
    let mut strict = ConnectionLog::new(Side::Client);
    let got = feed(&mut strict, Dir::Recv, &update_to_8192, 64);
    assert!(
        got[0].contains("HPACK error: table size update to 8192 above the limit 4096"),
        "{got:?}"
    );
    let mut log = ConnectionLog::new(Side::Client);
    let mut ours = PREFACE_BYTES.to_vec();
    ours.extend(frame(
        f::SETTINGS,
        0,
        0,
        &[0x00, 0x01, 0x00, 0x00, 0x20, 0x00],
    )); // HEADER_TABLE_SIZE 8192
    feed(&mut log, Dir::Send, &ours, 64);
    let got = feed(&mut log, Dir::Recv, &update_to_8192, 64);
    assert!(
        got[0].contains("[dynamic table size update: 8192]"),
        "{got:?}"
    );
    assert!(got[0].contains(":status 200"), "{got:?}");
}

#[test]
fn padding_and_long_values_stay_within_the_line() {
    let mut log = ConnectionLog::new(Side::Server);
    feed(&mut log, Dir::Recv, PREFACE_BYTES, 24);
    // PADDED DATA: pad length 3, a whole empty message, 3 bytes of padding.
    let data = frame(f::DATA, f::PADDED, 1, &[3, 0, 0, 0, 0, 0, 0xee, 0xee, 0xee]);
    let got = feed(&mut log, Dir::Recv, &data, 2);
    assert_eq!(
        got,
        ["server ← DATA           stream 1  len 9     PADDED\n\
          \x20          message 00 00000000 (0 bytes)\n\
          \x20          3 bytes of padding"]
    );
    // A 300-byte value is folded; every line stays within LINE_COLUMNS.
    // Literal without indexing, new name "x", a value of 300 bytes: 127 + 0x2d + 1 << 7.
    let mut block = vec![0x00, 0x01, b'x', 0x7f, 0xad, 0x01];
    block.extend(std::iter::repeat_n(b'v', 300));
    let got = feed(
        &mut log,
        Dir::Recv,
        &frame(f::HEADERS, f::END_HEADERS, 3, &block),
        1000,
    );
    let lines: Vec<&str> = got[0].lines().collect();
    assert!(lines[1].contains("… (300 bytes)"), "{lines:?}");
    assert!(
        lines.iter().all(|l| l.chars().count() <= LINE_COLUMNS),
        "{lines:?}"
    );
}

#[test]
fn not_http2_and_malformed_frames_are_said_so() {
    let mut log = ConnectionLog::new(Side::Server);
    let got = feed(&mut log, Dir::Recv, b"GET / HTTP/1.1\r\n\r\n", 4);
    assert_eq!(got, ["server ← (no HTTP/2 preface: not traced further)"]);
    let mut log = ConnectionLog::new(Side::Client);
    let got = feed(
        &mut log,
        Dir::Recv,
        &frame(f::WINDOW_UPDATE, 0, 0, &[0, 1]),
        3,
    );
    assert_eq!(
        got,
        ["client ← WINDOW_UPDATE  stream 0  len 2      malformed: WINDOW_UPDATE length is not 4"]
    );
}

/// A head that ends the stream is Trailers-Only only with a `grpc-status`:
/// a bare HTTP error (h2's 431 for too large a head, say) is not.
#[test]
fn an_http_error_that_ends_the_stream_is_not_trailers_only() {
    let mut log = ConnectionLog::new(Side::Client);
    // :status 404 (static 13), END_STREAM.
    let got = feed(
        &mut log,
        Dir::Recv,
        &frame(f::HEADERS, f::END_STREAM | f::END_HEADERS, 1, &[0x8d]),
        9,
    );
    assert_eq!(
        got,
        [
            "client ← HEADERS        stream 1  len 1     END_STREAM|END_HEADERS  response head, ending the stream\n\
          \x20          :status 404                                      [static 13]"
        ]
    );
}
