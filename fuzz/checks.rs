//! The properties each fuzz target checks, one plain function per target.
//!
//! Layer: tests of the sans-IO wire layer (`h2grpc::wire`). This file is
//! compiled twice: by the cargo-fuzz targets in `fuzz/fuzz_targets/` (which
//! feed it libFuzzer's inputs) and by `tests/fuzz_replay.rs` (which feeds it
//! every file of the checked-in corpus and of `fuzz/artifacts/`), so a crash
//! found once is replayed by `cargo test` forever. A check "fails" by
//! panicking, which is what libFuzzer records as a crash.
//!
//! Every check is an oracle, not just "does not panic": it states what the
//! spec (grpc/grpc `doc/PROTOCOL-HTTP2.md`) requires of the output.

#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use h2grpc::wire::compression::{self, Encoding};
use h2grpc::wire::frame::{self, Decoder, FrameError, HEADER_LEN};
use h2grpc::wire::metadata;
use h2grpc::wire::status::{self, Code, Status};
use h2grpc::wire::timeout;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// One property check: panics when `data` breaks it.
pub type Check = fn(&[u8]);

/// The targets, by name: the name is also the corpus directory under `fuzz/corpus/`.
pub const TARGETS: [(&str, Check); 6] = [
    ("frame_decoder", frame_decoder),
    ("grpc_timeout", grpc_timeout),
    ("grpc_message", grpc_message),
    ("metadata_bin", metadata_bin),
    ("status_trailers", status_trailers),
    ("gzip_decompress", gzip_decompress),
];

/// Receive limits the frame target picks from (byte 0 of its input): the
/// edges (0, 1), small values a fuzzer reaches, and the real default.
const FRAME_LIMITS: [usize; 8] = [
    0,
    1,
    5,
    16,
    255,
    4096,
    65_536,
    frame::DEFAULT_MAX_RECV_BYTES,
];

/// The decompression limit of the gzip target: small enough that a fuzzer
/// finds inputs that inflate past it.
pub const GZIP_LIMIT_BYTES: usize = 64 * 1024;

/// What one decoding run produced: frames, then how it ended.
#[derive(Debug, PartialEq)]
struct DecodeRun {
    frames: Vec<frame::Frame>,
    /// The first decode error, if any.
    error: Option<FrameError>,
    /// `finish()` at the end of the input.
    finish: Result<(), FrameError>,
}

/// `wire::frame::Decoder` under arbitrary chunking.
///
/// ```text
/// byte 0        bit 0: compression negotiated; bits 1..=3: receive limit (FRAME_LIMITS)
/// byte 1        k = chunk-size count (mod 16)
/// bytes 2..2+k  chunk sizes, used in turn (0 pushes an empty chunk)
/// rest          the DATA byte stream
/// ```
///
/// Checks: every frame's payload ≤ the limit; flag 1 only when negotiated;
/// re-encoding the frames reproduces the consumed prefix of the stream; an
/// error names exactly the prefix byte(s) that caused it and is sticky;
/// `finish()` is Ok only when every byte was consumed; and the result is the
/// same as decoding the whole stream as one chunk.
pub fn frame_decoder(data: &[u8]) {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let negotiated = config & 1 == 1;
    let max = FRAME_LIMITS[usize::from((config >> 1) & 7)];
    let (sizes, stream) = match rest.split_first() {
        Some((&k, rest)) => rest.split_at(usize::from(k % 16).min(rest.len())),
        None => (&[][..], &[][..]),
    };
    let stream = Bytes::copy_from_slice(stream);

    let chunked = decode_run(&stream, sizes, max, negotiated);
    let whole = decode_run(&stream, &[], max, negotiated);
    assert_eq!(chunked, whole, "result depends on chunking");

    // Re-encode what was decoded: it must be the stream's prefix.
    let mut reencoded = BytesMut::new();
    for f in &chunked.frames {
        assert!(f.payload.len() <= max, "payload over the limit");
        assert!(
            !f.compressed || negotiated,
            "flag 1 accepted without encoding"
        );
        frame::encode(&mut reencoded, f.compressed, &f.payload);
    }
    let consumed = reencoded.len();
    assert!(consumed <= stream.len());
    assert_eq!(&reencoded[..], &stream[..consumed], "re-encoding differs");

    let left = stream.len() - consumed;
    match &chunked.error {
        None => match &chunked.finish {
            Ok(()) => assert_eq!(left, 0, "finish() Ok with bytes left over"),
            Err(FrameError::Truncated { buffered }) => {
                assert!(left > 0, "Truncated with nothing left over");
                // The prefix, once read, is not counted as buffered.
                let body_started = left >= HEADER_LEN;
                let want = if body_started {
                    left - HEADER_LEN
                } else {
                    left
                };
                assert_eq!(*buffered, want, "Truncated miscounts");
            }
            Err(other) => panic!("finish() without a decode error gave {other:?}"),
        },
        Some(err) => {
            assert_eq!(chunked.finish.as_ref(), Err(err), "error not sticky");
            let prefix = &stream[consumed..];
            assert!(prefix.len() >= HEADER_LEN, "error before a whole prefix");
            let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
            match *err {
                FrameError::InvalidFlag(flag) => {
                    assert_eq!(flag, prefix[0]);
                    assert!(flag > 1);
                }
                FrameError::CompressedWithoutEncoding => {
                    assert_eq!(prefix[0], 1);
                    assert!(!negotiated);
                }
                FrameError::TooLarge { len: got, max: m } => {
                    assert!(prefix[0] == 0 || (prefix[0] == 1 && negotiated));
                    assert_eq!((got, m), (len, max));
                    assert!(len > max);
                }
                FrameError::Truncated { .. } => panic!("Truncated from decode()"),
            }
        }
    }
}

/// Pushes `stream` in chunks of the given sizes (cycled; all of it at once when
/// there are none or all are 0) and decodes after every push.
fn decode_run(stream: &Bytes, sizes: &[u8], max: usize, negotiated: bool) -> DecodeRun {
    let mut dec = Decoder::new(max, negotiated);
    let mut run = DecodeRun {
        frames: Vec::new(),
        error: None,
        finish: Ok(()),
    };
    let progress = sizes.iter().any(|&s| s > 0);
    let mut pos = 0;
    let mut turn = 0;
    while pos < stream.len() {
        let size = if progress {
            let s = usize::from(sizes[turn % sizes.len()]);
            turn += 1;
            s
        } else {
            stream.len()
        };
        let end = (pos + size).min(stream.len());
        dec.push(stream.slice(pos..end));
        pos = end;
        drain(&mut dec, &mut run);
    }
    drain(&mut dec, &mut run);
    if run.error.is_some() {
        assert_eq!(dec.buffered(), 0, "bytes kept after an error");
        // Sticky: more input changes nothing.
        dec.push(Bytes::from_static(&[0, 0, 0, 0, 0]));
        assert_eq!(dec.decode().err(), run.error);
    }
    assert!(dec.buffered() <= stream.len());
    run.finish = dec.finish();
    run
}

fn drain(dec: &mut Decoder, run: &mut DecodeRun) {
    if run.error.is_some() {
        return;
    }
    loop {
        match dec.decode() {
            Ok(Some(f)) => run.frames.push(f),
            Ok(None) => return,
            Err(e) => {
                run.error = Some(e);
                return;
            }
        }
    }
}

/// `wire::timeout::decode`: accepts exactly the grammar (1..=8 ASCII digits,
/// then one of `H M S m u n`), and when it accepts, `encode` of the result is
/// ≤ 8 digits, decodes to a duration ≥ it (never a shorter deadline), and is
/// a fixed point of decode∘encode.
pub fn grpc_timeout(data: &[u8]) {
    let grammar = match data.split_last() {
        Some((unit, digits)) => {
            b"HMSmun".contains(unit)
                && (1..=timeout::MAX_DIGITS).contains(&digits.len())
                && digits.iter().all(u8::is_ascii_digit)
        }
        None => false,
    };
    let decoded = timeout::decode(data);
    assert_eq!(decoded.is_ok(), grammar, "grammar disagrees for {data:?}");
    let Ok(d) = decoded else { return };
    let text = timeout::encode(d);
    assert!(text.len() <= timeout::MAX_DIGITS + 1, "{text:?} too long");
    let back = timeout::decode(text.as_bytes()).expect("encode output decodes");
    assert!(
        back >= d,
        "{d:?} encoded as {text} decodes shorter: {back:?}"
    );
    assert_eq!(timeout::encode(back), text, "encode is not stable");
}

/// `wire::status::decode_message`: never fails; its output re-encodes to
/// printable ASCII that decodes back to it; and any UTF-8 text survives
/// encode then decode unchanged.
pub fn grpc_message(data: &[u8]) {
    let decoded = status::decode_message(data);
    let encoded = status::encode_message(&decoded);
    assert!(
        encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "encoded grpc-message is not printable ASCII: {encoded:?}"
    );
    assert!(HeaderValue::from_str(&encoded).is_ok());
    assert_eq!(status::decode_message(encoded.as_bytes()), decoded);
    if let Ok(text) = std::str::from_utf8(data) {
        let encoded = status::encode_message(text);
        assert_eq!(status::decode_message(encoded.as_bytes()), text);
    }
}

/// `wire::metadata::decode_bin`: never panics; when it accepts, `encode_bin`
/// of the bytes is unpadded base64 that decodes back to the same bytes; and
/// the raw input survives encode then decode.
pub fn metadata_bin(data: &[u8]) {
    if let Ok(bytes) = metadata::decode_bin(data) {
        // Base64 carries 3 bytes per 4 characters: output can only be shorter.
        assert!(bytes.len() <= data.len());
        let text = metadata::encode_bin(&bytes);
        assert!(!text.ends_with('='), "padded: {text:?}");
        assert_eq!(metadata::decode_bin(text.as_bytes()), Ok(bytes));
    }
    let text = metadata::encode_bin(data);
    assert!(HeaderValue::from_str(&text).is_ok());
    assert_eq!(
        metadata::decode_bin(text.as_bytes()),
        Ok(Bytes::copy_from_slice(data))
    );
}

/// `Status::decode_trailers` over a header map built from the input, one
/// `name:value` per line (lines `http` refuses are skipped). `Some` exactly
/// when `grpc-status` is present; then encode_trailers + decode_trailers
/// round-trips code, message, details and metadata.
pub fn status_trailers(data: &[u8]) {
    let map = header_map(data);
    let decoded = Status::decode_trailers(&map);
    assert_eq!(decoded.is_some(), map.contains_key("grpc-status"));
    let Some(status) = decoded else { return };
    if let Some(raw) = map.get("grpc-status").map(HeaderValue::as_bytes) {
        // Reference reading: 1..=9 ASCII digits naming a known code, else UNKNOWN.
        let digits = (1..=9).contains(&raw.len()) && raw.iter().all(u8::is_ascii_digit);
        let number = std::str::from_utf8(raw)
            .ok()
            .and_then(|s| s.parse::<i32>().ok());
        let want = match number {
            Some(n) if digits => Code::from_i32(n),
            _ => Code::Unknown,
        };
        assert_eq!(status.code(), want, "grpc-status {raw:?}");
    }
    let mut wire = HeaderMap::new();
    status.encode_trailers(&mut wire);
    let again = Status::decode_trailers(&wire).expect("encoded trailers carry grpc-status");
    assert_eq!(again.code(), status.code());
    assert_eq!(again.message(), status.message());
    assert_eq!(again.details(), status.details());
    assert_eq!(again.metadata(), status.metadata());
}

/// Builds a header map: one `name:value` per `\n`-separated line.
fn header_map(data: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

/// `wire::compression::decompress(Gzip, …, 64 KiB)`: never panics, never
/// returns more than the limit, fails only with INTERNAL (bad data) or
/// RESOURCE_EXHAUSTED (over the limit), and what it inflates re-compresses
/// to something that inflates to the same bytes.
pub fn gzip_decompress(data: &[u8]) {
    match compression::decompress(
        Encoding::Gzip,
        Bytes::copy_from_slice(data),
        GZIP_LIMIT_BYTES,
    ) {
        Ok(out) => {
            assert!(out.len() <= GZIP_LIMIT_BYTES, "{} bytes out", out.len());
            let mut again = BytesMut::new();
            compression::compress(Encoding::Gzip, &out, &mut again).expect("gzip compresses");
            let back = compression::decompress(Encoding::Gzip, again.freeze(), GZIP_LIMIT_BYTES)
                .expect("our own gzip inflates");
            assert_eq!(back, out);
        }
        Err(status) => assert!(
            matches!(status.code(), Code::Internal | Code::ResourceExhausted),
            "unexpected {status:?}"
        ),
    }
}
