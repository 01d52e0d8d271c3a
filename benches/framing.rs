//! Criterion benches for the sans-IO wire layer: the 5-byte message framing,
//! status trailers and `grpc-timeout` parsing, each next to its ceiling.
//!
//! Layer: wire (`h2grpc::wire`) plus the prost codec, through the public API only.
//! Spec: grpc/grpc `doc/PROTOCOL-HTTP2.md` ("Length-Prefixed-Message", "Status",
//! "Timeout"). Issue 6, item 1.
//!
//! ```text
//! group             benches                                   ceiling
//! payload_<size>    encode, decode one chunk / 16 KiB chunks  memcpy of the same
//!                   / 1-byte chunks (1-byte only ≤ 64 KiB)    5 + size wire bytes
//! batch_1000x64B    encode, decode (one chunk)                memcpy of the batch
//! order             encode+frame vs prost encode (reused buf), prost alone
//!                   fresh buffer vs prost encode_to_vec→Bytes,
//!                   decode+unframe vs prost decode
//! status_trailers   encode_trailers, decode_trailers          -
//! grpc_timeout      timeout::decode                           -
//! ```
//!
//! Every group counts `Throughput::Bytes` of wire bytes (prefix included), so a
//! bench and its memcpy ceiling in one group read as the same MB/s scale.
//!
//! Chunked decode: the wire bytes are pre-split, outside the timed loop, into
//! `Bytes::slice`s of one buffer, the way h2 hands out DATA frames (16 KiB is h2's
//! default max frame size). The timed loop clones each slice into the decoder;
//! cloning a `Bytes` is a refcount increment, no copy, so what is timed is the
//! decoder, plus one atomic add and drop per chunk (which dominates only the
//! 1-byte case, where it is part of the cost a real caller would pay too).
//!
//! Run: `cargo bench --bench framing` (about two minutes on 2 cores).
//! Medians land in `target/criterion/<group>/<bench>/new/estimates.json`.
//!
//! Instruction counts (deterministic, unlike wall time on a shared machine): with
//! `FRAMING_COUNT=<case>` the binary skips criterion and runs one case
//! `FRAMING_ITERS` times (see `count`); run it under
//! `valgrind --tool=callgrind` with n and 2n iterations and divide the difference by n.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group};
use h2grpc::codec::{Codec, ProstCodec, encode_frame};
use h2grpc::wire::frame::{self, DEFAULT_MAX_RECV_BYTES, Decoder, HEADER_LEN};
use h2grpc::wire::timeout;
use h2grpc::{Code, Status};
use http::HeaderMap;
use prost::Message;

/// h2's default SETTINGS_MAX_FRAME_SIZE: the usual DATA chunk a decoder is fed.
const H2_FRAME_BYTES: usize = 16 * 1024;

/// Payload sizes from an empty message up to a large one (still under the 4 MiB limit).
const SIZES: [(&str, usize); 5] = [
    ("0B", 0),
    ("64B", 64),
    ("1KiB", 1024),
    ("64KiB", 64 * 1024),
    ("1MiB", 1024 * 1024),
];

/// Above this payload size the 1-byte-chunk decode is skipped: a million pushes
/// per iteration says nothing new and would dominate the run time.
const MAX_ONE_BYTE_CHUNKED: usize = 64 * 1024;

/// Messages in the small-message batch, and the size of each.
const BATCH_LEN: usize = 1000;
const BATCH_MSG_BYTES: usize = 64;

/// The reference application's `Order` (proto/order_management.proto), inline so the
/// bench needs no build script.
#[derive(Clone, PartialEq, prost::Message)]
struct Order {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(string, repeated, tag = "2")]
    items: Vec<String>,
    #[prost(string, tag = "3")]
    description: String,
    #[prost(float, tag = "4")]
    price: f32,
    #[prost(string, tag = "5")]
    destination: String,
}

/// Sample order "102" of the reference server.
fn sample_order() -> Order {
    Order {
        id: "102".into(),
        items: vec!["Google Pixel 3A".into(), "Mac Book Pro".into()],
        description: "Mac Book Pro".into(),
        price: 1800.0,
        destination: "Mountain View, CA".into(),
    }
}

/// A payload of `len` bytes that is not all zeros (so nothing can special-case it).
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// `wire` cut into `Bytes` slices of at most `size` bytes, all sharing its buffer.
fn split(wire: &Bytes, size: usize) -> Vec<Bytes> {
    (0..wire.len())
        .step_by(size)
        .map(|start| wire.slice(start..wire.len().min(start + size)))
        .collect()
}

/// Feeds `chunks` one by one as h2 would, decoding after each; returns
/// (frames, payload bytes) so the caller can check what was measured.
fn decode_all(chunks: &[Bytes]) -> (usize, usize) {
    let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
    let (mut frames, mut bytes) = (0, 0);
    for chunk in chunks {
        dec.push(chunk.clone());
        while let Ok(Some(frame)) = dec.decode() {
            frames += 1;
            bytes += black_box(frame).payload.len();
        }
    }
    assert_eq!(dec.finish(), Ok(()), "bench input must be whole frames");
    (frames, bytes)
}

fn bench_payloads(c: &mut Criterion) {
    for (name, len) in SIZES {
        let body = payload(len);
        let mut wire = BytesMut::with_capacity(HEADER_LEN + len);
        frame::encode(&mut wire, false, &body);
        let wire = wire.freeze();
        let one_chunk = vec![wire.clone()];
        let h2_chunks = split(&wire, H2_FRAME_BYTES);
        let byte_chunks = split(&wire, 1);
        for chunks in [&one_chunk, &h2_chunks, &byte_chunks] {
            assert_eq!(decode_all(chunks), (1, len));
        }

        let mut group = c.benchmark_group(format!("payload_{name}"));
        group.throughput(Throughput::Bytes(wire.len() as u64));

        let mut dst = vec![0u8; wire.len()];
        group.bench_function("memcpy", |b| {
            b.iter(|| black_box(&mut dst[..]).copy_from_slice(black_box(&wire[..])))
        });

        // Reused buffer: what a sender does between writes, so no allocation is timed.
        let mut buf = BytesMut::with_capacity(HEADER_LEN + len);
        group.bench_function("encode", |b| {
            b.iter(|| {
                buf.clear();
                frame::encode(&mut buf, false, black_box(&body));
                black_box(&buf);
            })
        });

        group.bench_function("decode_one_chunk", |b| {
            b.iter(|| decode_all(black_box(&one_chunk)))
        });
        group.bench_function("decode_16KiB_chunks", |b| {
            b.iter(|| decode_all(black_box(&h2_chunks)))
        });
        if len <= MAX_ONE_BYTE_CHUNKED {
            group.bench_function("decode_1B_chunks", |b| {
                b.iter(|| decode_all(black_box(&byte_chunks)))
            });
        }
        group.finish();
    }
}

fn bench_batch(c: &mut Criterion) {
    let body = payload(BATCH_MSG_BYTES);
    let mut wire = BytesMut::with_capacity(BATCH_LEN * (HEADER_LEN + BATCH_MSG_BYTES));
    for _ in 0..BATCH_LEN {
        frame::encode(&mut wire, false, &body);
    }
    let wire = wire.freeze();
    let one_chunk = vec![wire.clone()];
    assert_eq!(
        decode_all(&one_chunk),
        (BATCH_LEN, BATCH_LEN * BATCH_MSG_BYTES)
    );

    let mut group = c.benchmark_group(format!("batch_{BATCH_LEN}x{BATCH_MSG_BYTES}B"));
    group.throughput(Throughput::Bytes(wire.len() as u64));

    let mut dst = vec![0u8; wire.len()];
    group.bench_function("memcpy", |b| {
        b.iter(|| black_box(&mut dst[..]).copy_from_slice(black_box(&wire[..])))
    });
    let mut buf = BytesMut::with_capacity(wire.len());
    group.bench_function("encode", |b| {
        b.iter(|| {
            buf.clear();
            for _ in 0..BATCH_LEN {
                frame::encode(&mut buf, false, black_box(&body));
            }
            black_box(&buf);
        })
    });
    group.bench_function("decode_one_chunk", |b| {
        b.iter(|| decode_all(black_box(&one_chunk)))
    });
    group.finish();
}

/// The `order` group's cases, as plain functions so the criterion benches and the
/// fixed-count mode (`FRAMING_COUNT`, see [`main`]) run exactly the same code.
mod order_cases {
    use super::*;

    /// prost alone into a reused buffer: `Message::encode` (length check + encode).
    pub(super) fn prost_encode(order: &Order, buf: &mut BytesMut) {
        buf.clear();
        black_box(order).encode(buf).unwrap();
        black_box(&buf);
    }

    /// What a call sends, into a reused buffer: `codec::encode_frame` (size from
    /// `encoded_len`, prefix, encode in place, length patch, send-limit check).
    pub(super) fn encode_and_frame(codec: &OrderCodec, order: &Order, buf: &mut BytesMut) {
        buf.clear();
        encode_framed(codec, black_box(order), buf);
        black_box(&buf);
    }

    /// prost alone into a fresh buffer: `encode_to_vec` (one exact allocation).
    pub(super) fn prost_encode_to_vec(order: &Order) -> Vec<u8> {
        black_box(black_box(order).encode_to_vec())
    }

    /// prost alone, handed to h2 as a unary reply must be: `encode_to_vec`, then
    /// the `Vec` turned into `Bytes` (no copy).
    pub(super) fn prost_encode_to_bytes(order: &Order) -> Bytes {
        black_box(Bytes::from(black_box(order).encode_to_vec()))
    }

    /// What a unary reply does: a fresh `BytesMut`, framed message, frozen for h2.
    pub(super) fn encode_and_frame_fresh(codec: &OrderCodec, order: &Order) -> Bytes {
        let mut buf = BytesMut::new();
        encode_framed(codec, black_box(order), &mut buf);
        black_box(buf.freeze())
    }

    /// prost alone from the payload (a refcount clone of it, as our decoder hands out).
    pub(super) fn prost_decode(body: &Bytes) -> Order {
        Order::decode(black_box(body).clone()).unwrap()
    }

    /// What a call receives: the message in one DATA chunk, fed to a new decoder,
    /// unframed, decoded with the codec, and the end of stream checked.
    pub(super) fn decode_and_unframe(codec: &OrderCodec, wire: &Bytes) -> Order {
        let mut dec = Decoder::new(DEFAULT_MAX_RECV_BYTES, false);
        dec.push(black_box(wire).clone());
        let frame = dec.decode().unwrap().unwrap();
        let order = codec.decode(frame.payload).unwrap();
        dec.finish().unwrap();
        order
    }
}

type OrderCodec = ProstCodec<Order, Order>;

/// The send path of a call for an uncompressed message (`codec::encode_frame`,
/// which the crate's sender calls), under the default 4 MiB limit.
fn encode_framed(codec: &OrderCodec, order: &Order, buf: &mut BytesMut) {
    encode_frame(codec, order, buf, DEFAULT_MAX_RECV_BYTES).unwrap();
}

/// Fixtures for the `order` group: the message, its payload and its framed form.
fn order_fixtures() -> (OrderCodec, Order, Bytes, Bytes) {
    let order = sample_order();
    let body = Bytes::from(order.encode_to_vec());
    let mut wire = BytesMut::new();
    frame::encode(&mut wire, false, &body);
    (OrderCodec::default(), order, body, wire.freeze())
}

fn bench_order(c: &mut Criterion) {
    use order_cases::*;
    let (codec, order, body, wire) = order_fixtures();

    let mut group = c.benchmark_group("order");
    group.throughput(Throughput::Bytes(body.len() as u64));

    // Pairs with the same buffer policy: reused buffer (prost_encode vs
    // encode_and_frame), fresh buffer per message as a unary reply does
    // (prost_encode_to_bytes vs encode_and_frame_fresh; prost_encode_to_vec is
    // prost's plain allocation, without the `Bytes` h2 needs).
    let mut buf = BytesMut::with_capacity(wire.len());
    group.bench_function("prost_encode", |b| {
        b.iter(|| prost_encode(&order, &mut buf))
    });
    group.bench_function("encode_and_frame", |b| {
        b.iter(|| encode_and_frame(&codec, &order, &mut buf))
    });
    assert_eq!(buf.clone().freeze(), wire);
    group.bench_function("prost_encode_to_vec", |b| {
        b.iter(|| prost_encode_to_vec(&order))
    });
    group.bench_function("prost_encode_to_bytes", |b| {
        b.iter(|| prost_encode_to_bytes(&order))
    });
    group.bench_function("encode_and_frame_fresh", |b| {
        b.iter(|| encode_and_frame_fresh(&codec, &order))
    });
    assert_eq!(encode_and_frame_fresh(&codec, &order), wire);

    group.bench_function("prost_decode", |b| b.iter(|| prost_decode(&body)));
    assert_eq!(decode_and_unframe(&codec, &wire), order);
    group.bench_function("decode_and_unframe", |b| {
        b.iter(|| decode_and_unframe(&codec, &wire))
    });
    group.finish();
}

fn bench_status(c: &mut Criterion) {
    // Non-ASCII and '%' both need percent-encoding in grpc-message.
    let status = Status::new(Code::NotFound, "Order 102 : not found — 100% ünavailable");
    let mut trailers = HeaderMap::new();
    status.encode_trailers(&mut trailers);
    assert!(trailers["grpc-message"].as_bytes().contains(&b'%'));
    assert_eq!(Status::decode_trailers(&trailers).as_ref(), Some(&status));
    let wire_bytes: usize = trailers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();

    let mut group = c.benchmark_group("status_trailers");
    group.throughput(Throughput::Bytes(wire_bytes as u64));
    let mut dst = HeaderMap::new();
    group.bench_function("encode", |b| {
        b.iter(|| {
            dst.clear();
            black_box(&status).encode_trailers(&mut dst);
            black_box(&dst);
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| Status::decode_trailers(black_box(&trailers)))
    });
    group.finish();
}

fn bench_timeout(c: &mut Criterion) {
    let mut group = c.benchmark_group("grpc_timeout");
    for value in [&b"100m"[..], b"99999999H"] {
        assert!(timeout::decode(value).is_ok());
        group.throughput(Throughput::Bytes(value.len() as u64));
        let name = format!("decode_{}", String::from_utf8_lossy(value));
        group.bench_function(name, |b| b.iter(|| timeout::decode(black_box(value))));
    }
    group.finish();
}

/// Short samples: the whole run must stay around two minutes on a shared 2-core box.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = framing;
    config = config();
    targets = bench_payloads, bench_batch, bench_order, bench_status, bench_timeout
}

/// Runs one `order` case a fixed number of times, for deterministic instruction
/// counts: `FRAMING_COUNT=<case> FRAMING_ITERS=<n> valgrind --tool=callgrind
/// <bench binary>`, once with n and once with 2n; the difference divided by n is
/// the cost of one iteration, set-up excluded.
fn count(case: &str, iters: usize) {
    use order_cases::*;
    let (codec, order, body, wire) = order_fixtures();
    let mut buf = BytesMut::with_capacity(wire.len());
    // Decoder cases beside the `order` ones: a batch of small messages in one
    // chunk (a coalesced stream), a 64 KiB message in h2-sized chunks, and a
    // 1 KiB one in 1-byte chunks (the copying path).
    let framed = |len: usize, copies: usize| {
        let mut wire = BytesMut::new();
        for _ in 0..copies {
            frame::encode(&mut wire, false, &payload(len));
        }
        wire.freeze()
    };
    let batch = vec![framed(BATCH_MSG_BYTES, BATCH_LEN)];
    let h2_chunks = split(&framed(64 * 1024, 1), H2_FRAME_BYTES);
    let byte_chunks = split(&framed(1024, 1), 1);
    for _ in 0..iters {
        match case {
            "batch_decode" => drop(decode_all(&batch)),
            "decode_64KiB_16KiB_chunks" => drop(decode_all(&h2_chunks)),
            "decode_1KiB_1B_chunks" => drop(decode_all(&byte_chunks)),
            "prost_encode" => prost_encode(&order, &mut buf),
            "encode_and_frame" => encode_and_frame(&codec, &order, &mut buf),
            "prost_encode_to_vec" => drop(prost_encode_to_vec(&order)),
            "prost_encode_to_bytes" => drop(prost_encode_to_bytes(&order)),
            "encode_and_frame_fresh" => drop(encode_and_frame_fresh(&codec, &order)),
            "prost_decode" => drop(prost_decode(&body)),
            "decode_and_unframe" => drop(decode_and_unframe(&codec, &wire)),
            other => panic!("unknown FRAMING_COUNT case {other:?}"),
        }
    }
}

fn main() {
    if let Ok(case) = std::env::var("FRAMING_COUNT") {
        let iters = std::env::var("FRAMING_ITERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(10_000);
        count(&case, iters);
        return;
    }
    framing();
    Criterion::default().configure_from_args().final_summary();
}
