// A Node @grpc/grpc-js implementation of grpc.testing.TestService, the interop server.
//
// The foreign server our `interop-client` runs every case against (tests/interop_peers.rs),
// following the "Server" section of grpc/grpc doc/interop-test-descriptions.md:
// EmptyCall, UnaryCall, StreamingOutputCall (size, interval_us), StreamingInputCall,
// FullDuplexCall, HalfDuplexCall; UnimplementedCall is not registered, so grpc-js answers
// UNIMPLEMENTED. Echo Metadata (x-grpc-test-echo-initial back in the headers,
// x-grpc-test-echo-trailing-bin in the trailers) and Echo Status (response_status ends
// the call with that code and message) on every method that carries them.
//
// Compression:
// - CompressedRequest (expect_compressed): checked per message through the probe in
//   common.js (grpc-js itself hides the compressed flag). Without the probe, not checked.
// - CompressedResponse (response_compressed, ResponseParameters.compressed): NOT possible.
//   grpc-js 1.14 never compresses what its server sends (server-interceptors.js:
//   "response compression is currently not supported, so this compressed bit is always
//   0"). The server answers such requests uncompressed, so a client that checks the flag
//   fails server_compressed_unary and server_compressed_streaming here.
//
// Usage: node interop_server.js [--port PORT] [--proto_root DIR]
//        [--use_tls=true --tls_cert_file F --tls_key_file F]
// --use_tls=true serves TLS with that PEM chain and key (grpc.ServerCredentials.createSsl),
// flags spelled as grpc-go's interop server spells them.
// Binds 127.0.0.1 (PORT 0, the default, picks a free one), prints
// `interop-server listening on 127.0.0.1:PORT` on stdout and serves until killed.

'use strict';

const fs = require('fs');

const {
  COMPRESSED,
  DEFAULT_PROTO_ROOT,
  flag,
  grpc,
  loadTesting,
  serverFlags,
  withCompressedFlags,
} = require('./common');

const ECHO_INITIAL_KEY = 'x-grpc-test-echo-initial';
const ECHO_TRAILING_KEY = 'x-grpc-test-echo-trailing-bin';
const COMPRESSABLE = 0;
// The largest interop message is 314159 bytes; grpc-js's 4 MiB default is enough, but say so.
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Echo Metadata: sends the initial echo now; returns the trailers to end the call with. */
function echoMetadata(call) {
  const initial = new grpc.Metadata();
  for (const value of call.metadata.get(ECHO_INITIAL_KEY)) {
    initial.add(ECHO_INITIAL_KEY, value);
  }
  call.sendMetadata(initial);
  const trailing = new grpc.Metadata();
  for (const value of call.metadata.get(ECHO_TRAILING_KEY)) {
    trailing.add(ECHO_TRAILING_KEY, value);
  }
  return trailing;
}

/** The status a request asks the call to end with, or null: Echo Status, bad response_type,
 * or (CompressedRequest) a request whose compressed flag contradicts expect_compressed. */
function requestError(request, trailers) {
  const status = request.response_status;
  if (status != null && status.code !== 0) {
    return { code: status.code, details: status.message, metadata: trailers };
  }
  if (request.response_type != null && request.response_type !== COMPRESSABLE) {
    return {
      code: grpc.status.INVALID_ARGUMENT,
      details: `unsupported response_type ${request.response_type}`,
      metadata: trailers,
    };
  }
  const expect = request.expect_compressed;
  const compressed = request[COMPRESSED];
  if (expect != null && compressed !== undefined && expect.value !== compressed) {
    return {
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.value ? 'expected a compressed message' : 'expected an uncompressed message',
      metadata: trailers,
    };
  }
  return null;
}

function payload(size) {
  return { type: COMPRESSABLE, body: Buffer.alloc(Math.max(0, size)) };
}

/** Writes, waiting for 'drain' when grpc-js's buffer is full. */
async function write(call, message) {
  if (!call.write(message)) {
    await new Promise((resolve) => call.once('drain', resolve));
  }
}

/** The call's requests as an async iterable that, unlike a plain `for await` over the
 * stream, does not destroy the stream at the end: the status still has to be sent. */
const incoming = (call) => call.iterator({ destroyOnReturn: false });

/** One StreamingOutputCallResponse per ResponseParameters, honouring interval_us. */
async function streamResponses(call, request) {
  for (const params of request.response_parameters) {
    if (params.interval_us > 0) {
      await sleep(params.interval_us / 1000);
    }
    if (call.cancelled) {
      return;
    }
    await write(call, { payload: payload(params.size) });
  }
}

const service = {
  EmptyCall(call, callback) {
    callback(null, {}, echoMetadata(call));
  },

  UnaryCall(call, callback) {
    const trailers = echoMetadata(call);
    const error = requestError(call.request, trailers);
    if (error) {
      callback(error);
      return;
    }
    // response_compressed cannot be honoured: see the header comment.
    callback(null, { payload: payload(call.request.response_size) }, trailers);
  },

  CacheableUnaryCall(call, callback) {
    const body = Buffer.from(String(process.hrtime.bigint()));
    callback(null, { payload: { type: COMPRESSABLE, body } }, echoMetadata(call));
  },

  async StreamingOutputCall(call) {
    const trailers = echoMetadata(call);
    const error = requestError(call.request, trailers);
    if (error) {
      call.emit('error', error);
      return;
    }
    await streamResponses(call, call.request);
    call.end(trailers);
  },

  StreamingInputCall(call, callback) {
    const trailers = echoMetadata(call);
    let total = 0;
    let failed = false;
    call.on('data', (request) => {
      if (failed) {
        return;
      }
      const error = requestError(request, trailers);
      if (error) {
        failed = true;
        callback(error);
        return;
      }
      total += request.payload ? request.payload.body.length : 0;
    });
    call.on('end', () => {
      if (!failed) {
        callback(null, { aggregated_payload_size: total }, trailers);
      }
    });
    call.on('error', () => {}); // a cancelled call: nothing to answer
  },

  async FullDuplexCall(call) {
    const trailers = echoMetadata(call);
    try {
      for await (const request of incoming(call)) {
        const error = requestError(request, trailers);
        if (error) {
          call.emit('error', error);
          return;
        }
        await streamResponses(call, request);
      }
    } catch (_) {
      return; // cancelled or reset by the client
    }
    call.end(trailers);
  },

  async HalfDuplexCall(call) {
    const trailers = echoMetadata(call);
    const received = [];
    try {
      for await (const request of incoming(call)) {
        received.push(request);
      }
    } catch (_) {
      return;
    }
    for (const request of received) {
      const error = requestError(request, trailers);
      if (error) {
        call.emit('error', error);
        return;
      }
    }
    for (const request of received) {
      await streamResponses(call, request);
    }
    call.end(trailers);
  },
};

function main() {
  const argv = process.argv.slice(2);
  const port = Number(flag(argv, 'port', '0'));
  const testing = loadTesting(flag(argv, 'proto_root', DEFAULT_PROTO_ROOT));
  if (!serverFlags.available) {
    process.stderr.write('interop_server.js: grpc-js internals changed, expect_compressed is not checked\n');
  }
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  server.addService(withCompressedFlags(testing.TestService.service), service);
  let credentials = grpc.ServerCredentials.createInsecure();
  if (flag(argv, 'use_tls', 'false') === 'true') {
    const certFile = flag(argv, 'tls_cert_file');
    const keyFile = flag(argv, 'tls_key_file');
    if (!certFile || !keyFile) {
      process.stderr.write('--use_tls=true needs --tls_cert_file and --tls_key_file\n');
      process.exit(2);
    }
    credentials = grpc.ServerCredentials.createSsl(null, [
      { private_key: fs.readFileSync(keyFile), cert_chain: fs.readFileSync(certFile) },
    ]);
  }
  server.bindAsync(`127.0.0.1:${port}`, credentials, (err, bound) => {
    if (err) {
      process.stderr.write(`cannot bind 127.0.0.1:${port}: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`interop-server listening on 127.0.0.1:${bound}\n`);
  });
}

main();
