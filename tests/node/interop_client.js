// A Node @grpc/grpc-js interop client: the "Client" section of grpc/grpc
// doc/interop-test-descriptions.md, for every case that needs no TLS or cloud credentials.
//
// tests/interop_peers.rs runs it against our `interop-server`; it also runs against
// tests/node/interop_server.js and tests/python/interop_server.py, which keeps the cases
// themselves honest.
//
// Usage: node interop_client.js --server_host HOST --server_port PORT --test_case NAME|all
//        [--proto_root DIR]
//        [--use_tls=true [--use_test_ca=true --ca_file F] [--server_host_override NAME]]
// --use_tls=true connects over TLS (grpc.credentials.createSsl), trusting the CAs in --ca_file
// with --use_test_ca=true (Node's default roots without); --server_host_override is both the
// name the server's certificate is checked against and the :authority (the spec's "Client"
// section), through grpc.ssl_target_name_override and grpc.default_authority.
// Prints `PASS <case>` or `FAIL <case>: <reason>` per case, then `N passed, M failed`;
// exits 0 only if every case passed. Every call carries a deadline, so nothing hangs.
//
// Compression in grpc-js is per channel ('grpc.default_compression_algorithm': 2 is gzip),
// so the compressed cases use a second client on a gzip channel; a message is sent
// uncompressed on it with the write flag NoCompress (`call.write(message, 2)`, grpc-js's
// WriteFlags). The response compressed flags are read through the probe in common.js;
// if that probe is unavailable, the server_compressed_* cases check sizes only (the spec
// allows it: "some languages may not have access to the message flags").

'use strict';

const fs = require('fs');

const { DEFAULT_PROTO_ROOT, clientFlags, flag, grpc, loadTesting } = require('./common');

const RPC_TIMEOUT_MS = 10000;
const ECHO_INITIAL_KEY = 'x-grpc-test-echo-initial';
const ECHO_INITIAL_VALUE = 'test_initial_metadata_value';
const ECHO_TRAILING_KEY = 'x-grpc-test-echo-trailing-bin';
const ECHO_TRAILING_VALUE = Buffer.from([0xab, 0xab, 0xab]);
const TEST_STATUS_MESSAGE = 'test status message';
const SPECIAL_STATUS_MESSAGE =
  '\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1f608}\t\n';
const REQUEST_SIZES = [27182, 8, 1828, 45904];
const RESPONSE_SIZES = [31415, 9, 2653, 58979];
const LARGE_REQUEST_SIZE = 271828;
const LARGE_RESPONSE_SIZE = 314159;
const GZIP = 2; // grpc-js CompressionAlgorithms: 0 identity, 1 deflate, 2 gzip
const WRITE_NO_COMPRESS = 2; // grpc-js WriteFlags.NoCompress

class CaseFailed extends Error {}

function check(condition, reason) {
  if (!condition) {
    throw new CaseFailed(reason);
  }
}

const deadline = (ms = RPC_TIMEOUT_MS) => ({ deadline: Date.now() + ms });
const payload = (size) => ({ type: 0, body: Buffer.alloc(size) });
const codeName = (code) =>
  Object.keys(grpc.status).find((k) => grpc.status[k] === code) || String(code);

function checkBody(body, size, what = 'response payload') {
  check(body.length === size, `${what} is ${body.length} bytes, expected ${size}`);
  check(body.every((b) => b === 0), `${what} is not all zeros`);
}

/**
 * Follows a call to its end. Resolves { responses, status, initial } once the status has
 * arrived (OK or not); grpc-js also emits 'error' for a non-OK status, swallowed here.
 */
function follow(call) {
  return new Promise((resolve) => {
    const responses = [];
    let initial = null;
    call.on('metadata', (md) => {
      initial = md;
    });
    if (typeof call.read === 'function') {
      call.on('data', (r) => responses.push(r));
    }
    call.on('error', () => {});
    call.on('status', (status) => resolve({ responses, status, initial }));
  });
}

/** A unary call as a promise of follow()'s result plus `response` (null on error). grpc-js
 * runs the callback before it emits 'status', so `response` is set by then. */
function unary(method, request, metadata = new grpc.Metadata(), options = deadline()) {
  let response = null;
  const call = method(request, metadata, options, (err, value) => {
    response = err ? null : value;
  });
  return follow(call).then((result) => ({ ...result, response }));
}

/** A client-streaming call: writes each [request, flags] (flags: grpc-js WriteFlags or
 * undefined), half-closes, and resolves like unary(). */
function clientStreaming(method, requests, options = deadline()) {
  let response = null;
  const call = method(new grpc.Metadata(), options, (err, value) => {
    response = err ? null : value;
  });
  const done = follow(call).then((result) => ({ ...result, response }));
  for (const [request, flags] of requests) {
    call.write(request, flags);
  }
  call.end();
  return done;
}

function expectStatus(result, code, message) {
  const { status } = result;
  check(
    status.code === code,
    `expected ${codeName(code)}, got ${codeName(status.code)}: ${JSON.stringify(status.details)}`,
  );
  if (message !== undefined) {
    check(
      status.details === message,
      `expected message ${JSON.stringify(message)}, got ${JSON.stringify(status.details)}`,
    );
  }
}

const expectOk = (result, what = 'call') =>
  check(
    result.status.code === grpc.status.OK,
    `${what}: ${codeName(result.status.code)}: ${JSON.stringify(result.status.details)}`,
  );

/** Responses of a duplex call, one at a time: `await next()` (null once the stream ends). */
function reader(call) {
  const queue = [];
  const waiting = [];
  let ended = false;
  const wake = () => {
    while (waiting.length > 0 && (queue.length > 0 || ended)) {
      waiting.shift()(queue.length > 0 ? queue.shift() : null);
    }
  };
  call.on('data', (r) => {
    queue.push(r);
    wake();
  });
  call.on('status', () => {
    ended = true;
    wake();
  });
  return () =>
    new Promise((resolve) => {
      waiting.push(resolve);
      wake();
    });
}

function makeCases(client, gzipClient, unimplemented) {
  const largeRequest = (extra = {}) => ({
    response_size: LARGE_RESPONSE_SIZE,
    payload: payload(LARGE_REQUEST_SIZE),
    ...extra,
  });

  async function statusEcho(message, duplex) {
    const response_status = { code: grpc.status.UNKNOWN, message };
    expectStatus(await unary(client.UnaryCall.bind(client), { response_status }),
      grpc.status.UNKNOWN, message);
    if (duplex) {
      const call = client.FullDuplexCall(deadline());
      const done = follow(call);
      call.write({ response_status });
      call.end();
      expectStatus(await done, grpc.status.UNKNOWN, message);
    }
  }

  return {
    async empty_unary() {
      const result = await unary(client.EmptyCall.bind(client), {});
      expectOk(result);
      check(result.response != null, 'response is null');
    },

    async large_unary() {
      const result = await unary(client.UnaryCall.bind(client), largeRequest());
      expectOk(result);
      checkBody(result.response.payload.body, LARGE_RESPONSE_SIZE);
    },

    async client_streaming() {
      const requests = REQUEST_SIZES.map((n) => [{ payload: payload(n) }, undefined]);
      const result = await clientStreaming(client.StreamingInputCall.bind(client), requests);
      expectOk(result);
      const size = result.response.aggregated_payload_size;
      check(size === 74922, `aggregated_payload_size ${size}, expected 74922`);
    },

    async server_streaming() {
      const call = client.StreamingOutputCall(
        { response_parameters: RESPONSE_SIZES.map((size) => ({ size })) },
        deadline(),
      );
      const result = await follow(call);
      expectOk(result);
      const sizes = result.responses.map((r) => r.payload.body.length);
      check(JSON.stringify(sizes) === JSON.stringify(RESPONSE_SIZES),
        `response sizes ${JSON.stringify(sizes)}, expected ${JSON.stringify(RESPONSE_SIZES)}`);
      result.responses.forEach((r, i) => checkBody(r.payload.body, RESPONSE_SIZES[i], `response ${i}`));
    },

    async ping_pong() {
      const call = client.FullDuplexCall(deadline());
      const done = follow(call);
      const next = reader(call);
      try {
        for (let i = 0; i < REQUEST_SIZES.length; i++) {
          call.write({
            response_parameters: [{ size: RESPONSE_SIZES[i] }],
            payload: payload(REQUEST_SIZES[i]),
          });
          const response = await next();
          check(response !== null, `stream ended before response ${i}`);
          checkBody(response.payload.body, RESPONSE_SIZES[i], `response ${i}`);
        }
        call.end();
        const result = await done;
        expectOk(result);
        check(result.responses.length === 4, `${result.responses.length} responses, expected 4`);
      } finally {
        call.cancel();
      }
    },

    async empty_stream() {
      const call = client.FullDuplexCall(deadline());
      const done = follow(call);
      call.end();
      const result = await done;
      expectOk(result);
      check(result.responses.length === 0, `${result.responses.length} responses, expected none`);
    },

    async custom_metadata() {
      const metadata = () => {
        const md = new grpc.Metadata();
        md.set(ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE);
        md.set(ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE);
        return md;
      };
      const checkEcho = (what, result) => {
        const initial = result.initial ? result.initial.get(ECHO_INITIAL_KEY) : [];
        check(initial.length === 1 && initial[0] === ECHO_INITIAL_VALUE,
          `${what}: initial metadata ${ECHO_INITIAL_KEY} = ${JSON.stringify(initial)}`);
        const trailing = result.status.metadata.get(ECHO_TRAILING_KEY);
        check(trailing.length === 1 && Buffer.isBuffer(trailing[0]) && trailing[0].equals(ECHO_TRAILING_VALUE),
          `${what}: trailing metadata ${ECHO_TRAILING_KEY} = ${JSON.stringify(trailing)}`);
      };

      const unaryResult = await unary(client.UnaryCall.bind(client), largeRequest(), metadata());
      expectOk(unaryResult, 'UnaryCall');
      checkBody(unaryResult.response.payload.body, LARGE_RESPONSE_SIZE, 'UnaryCall response');
      checkEcho('UnaryCall', unaryResult);

      const call = client.FullDuplexCall(metadata(), deadline());
      const done = follow(call);
      call.write({
        response_parameters: [{ size: LARGE_RESPONSE_SIZE }],
        payload: payload(LARGE_REQUEST_SIZE),
      });
      call.end();
      const duplexResult = await done;
      expectOk(duplexResult, 'FullDuplexCall');
      check(duplexResult.responses.length === 1,
        `FullDuplexCall: ${duplexResult.responses.length} responses, expected 1`);
      checkBody(duplexResult.responses[0].payload.body, LARGE_RESPONSE_SIZE, 'FullDuplexCall response');
      checkEcho('FullDuplexCall', duplexResult);
    },

    status_code_and_message: () => statusEcho(TEST_STATUS_MESSAGE, true),

    special_status_message: () => statusEcho(SPECIAL_STATUS_MESSAGE, false),

    async unimplemented_method() {
      expectStatus(await unary(client.UnimplementedCall.bind(client), {}), grpc.status.UNIMPLEMENTED);
    },

    async unimplemented_service() {
      expectStatus(await unary(unimplemented.UnimplementedCall.bind(unimplemented), {}),
        grpc.status.UNIMPLEMENTED);
    },

    async cancel_after_begin() {
      const call = client.StreamingInputCall(deadline(), () => {});
      const done = follow(call);
      call.cancel();
      expectStatus(await done, grpc.status.CANCELLED);
    },

    async cancel_after_first_response() {
      const call = client.FullDuplexCall(deadline());
      const done = follow(call);
      const next = reader(call);
      call.write({ response_parameters: [{ size: 31415 }], payload: payload(27182) });
      const response = await next();
      check(response !== null, 'stream ended before the first response');
      checkBody(response.payload.body, 31415);
      call.cancel();
      expectStatus(await done, grpc.status.CANCELLED);
    },

    async timeout_on_sleeping_server() {
      const call = client.FullDuplexCall(deadline(1));
      const done = follow(call);
      call.write({ payload: payload(27182) });
      expectStatus(await done, grpc.status.DEADLINE_EXCEEDED);
      call.end();
    },

    async client_compressed_unary() {
      const request = (expect) => largeRequest({ expect_compressed: { value: expect } });
      // Feature probe: uncompressed but claiming to be compressed.
      expectStatus(await unary(client.UnaryCall.bind(client), request(true)),
        grpc.status.INVALID_ARGUMENT);
      for (const [expect, via] of [[true, gzipClient], [false, client]]) {
        const result = await unary(via.UnaryCall.bind(via), request(expect));
        expectOk(result, `expect_compressed=${expect}`);
        checkBody(result.response.payload.body, LARGE_RESPONSE_SIZE,
          `response (expect_compressed=${expect})`);
      }
    },

    async server_compressed_unary() {
      for (const compressed of [true, false]) {
        clientFlags.take();
        const result = await unary(client.UnaryCall.bind(client),
          largeRequest({ response_compressed: { value: compressed } }));
        expectOk(result, `response_compressed=${compressed}`);
        checkBody(result.response.payload.body, LARGE_RESPONSE_SIZE,
          `response (response_compressed=${compressed})`);
        if (clientFlags.available) {
          const flags = clientFlags.take();
          check(flags.length === 1 && flags[0] === compressed,
            `response_compressed=${compressed}: response compressed flags ${JSON.stringify(flags)}`);
        }
      }
    },

    async client_compressed_streaming() {
      const probe = { expect_compressed: { value: true }, payload: payload(27182) };
      expectStatus(
        await clientStreaming(client.StreamingInputCall.bind(client), [[probe, undefined]]),
        grpc.status.INVALID_ARGUMENT,
      );
      const result = await clientStreaming(gzipClient.StreamingInputCall.bind(gzipClient), [
        [{ expect_compressed: { value: true }, payload: payload(27182) }, undefined],
        [{ expect_compressed: { value: false }, payload: payload(45904) }, WRITE_NO_COMPRESS],
      ]);
      expectOk(result);
      const size = result.response.aggregated_payload_size;
      check(size === 73086, `aggregated_payload_size ${size}, expected 73086`);
    },

    async server_compressed_streaming() {
      clientFlags.take();
      const call = client.StreamingOutputCall({
        response_parameters: [
          { compressed: { value: true }, size: 31415 },
          { compressed: { value: false }, size: 92653 },
        ],
      }, deadline());
      const result = await follow(call);
      expectOk(result);
      const sizes = result.responses.map((r) => r.payload.body.length);
      check(JSON.stringify(sizes) === '[31415,92653]',
        `response sizes ${JSON.stringify(sizes)}, expected [31415,92653]`);
      if (clientFlags.available) {
        const flags = clientFlags.take();
        check(JSON.stringify(flags) === '[true,false]',
          `response compressed flags ${JSON.stringify(flags)}, expected [true,false]`);
      }
    },
  };
}

const CASES = [
  'empty_unary', 'large_unary', 'client_streaming', 'server_streaming', 'ping_pong',
  'empty_stream', 'custom_metadata', 'status_code_and_message', 'special_status_message',
  'unimplemented_method', 'unimplemented_service', 'cancel_after_begin',
  'cancel_after_first_response', 'timeout_on_sleeping_server', 'client_compressed_unary',
  'server_compressed_unary', 'client_compressed_streaming', 'server_compressed_streaming',
];

const oneLine = (text) => String(text).split(/\s+/).filter(Boolean).join(' ');

async function main() {
  const argv = process.argv.slice(2);
  const host = flag(argv, 'server_host', '127.0.0.1');
  const port = flag(argv, 'server_port');
  const testCase = flag(argv, 'test_case', 'all');
  if (!port) {
    process.stderr.write('usage: interop_client.js --server_host H --server_port P --test_case NAME|all\n');
    process.exit(2);
  }
  let names;
  if (testCase === 'all') {
    names = CASES;
  } else if (CASES.includes(testCase)) {
    names = [testCase];
  } else {
    process.stderr.write(`unknown test case ${testCase}; known: all, ${CASES.join(', ')}\n`);
    process.exit(2);
  }

  const testing = loadTesting(flag(argv, 'proto_root', DEFAULT_PROTO_ROOT));
  const target = `${host}:${port}`;
  let credentials = grpc.credentials.createInsecure();
  const options = {};
  if (flag(argv, 'use_tls', 'false') === 'true') {
    let roots = null;
    if (flag(argv, 'use_test_ca', 'false') === 'true') {
      const caFile = flag(argv, 'ca_file');
      if (!caFile) {
        process.stderr.write('--use_test_ca=true needs --ca_file\n');
        process.exit(2);
      }
      roots = fs.readFileSync(caFile);
    }
    credentials = grpc.credentials.createSsl(roots);
    const override = flag(argv, 'server_host_override');
    if (override) {
      options['grpc.ssl_target_name_override'] = override;
      options['grpc.default_authority'] = override;
    }
  }
  const client = new testing.TestService(target, credentials, options);
  const gzipClient = new testing.TestService(target, credentials, {
    ...options,
    'grpc.default_compression_algorithm': GZIP,
  });
  const unimplemented = new testing.UnimplementedService(target, credentials, options);
  const cases = makeCases(client, gzipClient, unimplemented);

  let passed = 0;
  let failed = 0;
  for (const name of names) {
    try {
      await cases[name]();
      console.log(`PASS ${name}`);
      passed++;
    } catch (err) {
      if (!(err instanceof CaseFailed)) {
        process.stderr.write(`${name}: ${err && err.stack}\n`);
      }
      const reason = err instanceof CaseFailed ? err.message : `${err && err.name}: ${err && err.message}`;
      console.log(`FAIL ${name}: ${oneLine(reason)}`);
      failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  for (const c of [client, gzipClient, unimplemented]) {
    c.close();
  }
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack}\n`);
  process.exit(1);
});
