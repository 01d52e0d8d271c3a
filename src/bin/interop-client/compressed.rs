//! The compression cases: client_compressed_unary, server_compressed_unary,
//! client_compressed_streaming, server_compressed_streaming
//! (grpc/grpc doc/interop-test-descriptions.md; gzip per doc/compression.md).
//!
//! "Compressed" is judged by the message's compressed flag (the first byte of
//! its 5-byte prefix), which h2grpc exposes on both ends:
//! `Response::message_compressed`, `Streaming::last_message_compressed`.

use futures::{StreamExt, stream};
use h2grpc::Code;
use h2grpc::compression::Encoding;

use crate::cases::{
    Ctx, LARGE_RESPONSE_BYTES, call, check_payload, expect_code, expect_eq, failed, large_request,
    ok, params, zeros,
};
use crate::pb::grpc_testing::{
    BoolValue, ResponseParameters, StreamingInputCallRequest, StreamingOutputCallRequest,
};

fn bool_value(value: bool) -> Option<BoolValue> {
    Some(BoolValue { value })
}

/// A probe sent plain but claiming `expect_compressed`, then one compressed
/// and one plain UnaryCall, each saying truthfully what it is.
pub async fn client_compressed_unary(ctx: &Ctx) -> Result<(), String> {
    let mut probe = large_request();
    probe.expect_compressed = bool_value(true);
    let got = failed(
        ctx.client.unary_call(call(probe.clone())).await,
        "the uncompressed probe (expect_compressed true)",
    )?;
    expect_code(&got, Code::InvalidArgument).map_err(|e| format!("probe: {e}"))?;

    for compress in [true, false] {
        let mut message = large_request();
        message.expect_compressed = bool_value(compress);
        let mut request = call(message);
        if compress {
            request.set_send_compression(Encoding::Gzip);
        }
        let what = if compress {
            "compressed"
        } else {
            "uncompressed"
        };
        let response = ok(
            ctx.client.unary_call(request).await,
            &format!("{what} UnaryCall"),
        )?;
        check_payload(
            response.get_ref().payload.as_ref(),
            LARGE_RESPONSE_BYTES,
            &format!("{what} UnaryCall response"),
        )?;
    }
    Ok(())
}

/// UnaryCall asking for a compressed, then an uncompressed response.
pub async fn server_compressed_unary(ctx: &Ctx) -> Result<(), String> {
    for compress in [true, false] {
        let mut message = large_request();
        message.response_compressed = bool_value(compress);
        let what = format!("UnaryCall with response_compressed {compress}");
        let response = ok(ctx.client.unary_call(call(message)).await, &what)?;
        expect_eq(
            response.message_compressed(),
            compress,
            &format!("{what}: response compressed flag"),
        )?;
        check_payload(
            response.get_ref().payload.as_ref(),
            LARGE_RESPONSE_BYTES,
            &what,
        )?;
    }
    Ok(())
}

/// A plain probe claiming `expect_compressed`, then one StreamingInputCall
/// whose first message is compressed and whose second is not.
pub async fn client_compressed_streaming(ctx: &Ctx) -> Result<(), String> {
    let probe = StreamingInputCallRequest {
        payload: Some(zeros(27_182)),
        expect_compressed: bool_value(true),
    };
    let got = failed(
        ctx.client
            .streaming_input_call_stream(call(stream::iter([probe])))
            .await,
        "the uncompressed probe (expect_compressed true)",
    )?;
    expect_code(&got, Code::InvalidArgument).map_err(|e| format!("probe: {e}"))?;

    let messages = [(true, 27_182), (false, 45_904)].map(|(compressed, size)| {
        let message = StreamingInputCallRequest {
            payload: Some(zeros(size)),
            expect_compressed: bool_value(compressed),
        };
        (compressed, message)
    });
    let mut request = call(());
    request.set_send_compression(Encoding::Gzip);
    let toggle = request.compression_toggle();
    // The toggle is read as each message is encoded, right after it is yielded.
    let requests = stream::iter(messages).map(move |(compressed, message)| {
        toggle.set(compressed);
        message
    });
    let response = ok(
        ctx.client
            .streaming_input_call_stream(request.map(|()| requests))
            .await,
        "StreamingInputCall",
    )?;
    expect_eq(
        response.get_ref().aggregated_payload_size,
        73_086,
        "aggregated_payload_size",
    )
}

/// StreamingOutputCall asking for a compressed, then an uncompressed message.
pub async fn server_compressed_streaming(ctx: &Ctx) -> Result<(), String> {
    let wanted = [(true, 31_415), (false, 92_653)];
    let request = StreamingOutputCallRequest {
        response_parameters: wanted
            .iter()
            .map(|&(compressed, size)| ResponseParameters {
                compressed: bool_value(compressed),
                ..params(size)
            })
            .collect(),
        ..Default::default()
    };
    let response = ok(
        ctx.client.streaming_output_call(call(request)).await,
        "StreamingOutputCall",
    )?;
    let mut stream = response.into_inner();
    for (i, &(compressed, size)) in wanted.iter().enumerate() {
        let reply = ok(stream.message().await, "StreamingOutputCall")?
            .ok_or_else(|| format!("stream ended after {i} responses, expected 2"))?;
        expect_eq(
            stream.last_message_compressed(),
            compressed,
            &format!("response {i} compressed flag"),
        )?;
        check_payload(reply.payload.as_ref(), size, &format!("response {i}"))?;
    }
    match ok(stream.message().await, "StreamingOutputCall")? {
        None => Ok(()),
        Some(_) => Err("more than 2 responses".into()),
    }
}
