// What the Node interop peers share: loading the grpc.testing protos at run time with
// @grpc/proto-loader (no code generation), and two read-only probes into @grpc/grpc-js
// internals that expose the per-message compressed flag (byte 0 of the 5-byte gRPC
// message prefix, PROTOCOL-HTTP2.md "Length-Prefixed-Message"), which grpc-js hides.
//
// The probes wrap private methods of the pinned grpc-js version (package-lock.json); if a
// later version moves them, `available` turns false and the peers say so instead of
// guessing. They observe only: every byte still goes through grpc-js unchanged.
//
// The upstream C++ interop server does the same through a test-only inspector
// (InteropServerContextInspector::WasCompressed).

'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

/** Repo's proto/ directory; --proto_root overrides it. */
const DEFAULT_PROTO_ROOT = path.join(__dirname, '..', '..', 'proto');

/** Property set on a decoded request message: was it sent with the compressed flag? */
const COMPRESSED = Symbol('h2grpc.compressedFlag');

/**
 * Loads grpc/testing/test.proto (and its imports) from `protoRoot`. Returns the
 * `grpc.testing` package object: TestService, UnimplementedService and the messages.
 */
function loadTesting(protoRoot) {
  const definition = protoLoader.loadSync('grpc/testing/test.proto', {
    includeDirs: [protoRoot],
    keepCase: true, // field names as in messages.proto: response_size, not responseSize
    longs: Number,
    enums: Number,
    defaults: true, // unset message fields read as null, so presence is `!= null`
  });
  return grpc.loadPackageDefinition(definition).grpc.testing;
}

/** Server side: tag each decoded request with its compressed flag (see COMPRESSED). */
const serverFlags = (() => {
  let base;
  try {
    base = require('@grpc/grpc-js/build/src/server-interceptors').BaseServerInterceptingCall;
  } catch (_) {
    return { available: false };
  }
  const decompress = base && base.prototype && base.prototype.decompressMessage;
  if (typeof decompress !== 'function') {
    return { available: false };
  }
  // decompressMessage(framed, encoding) gets the whole framed message (prefix included) and
  // returns the payload bytes that the method's deserializer is then given.
  base.prototype.decompressMessage = async function (framed, encoding) {
    const payload = await decompress.call(this, framed, encoding);
    payload[COMPRESSED] = framed.readUInt8(0) === 1;
    return payload;
  };
  return { available: true };
})();

/**
 * The service definition for `server.addService`, its request deserializers wrapped so the
 * decoded message carries the COMPRESSED flag (when the probe is available).
 */
function withCompressedFlags(service) {
  const wrapped = {};
  for (const [name, method] of Object.entries(service)) {
    const deserialize = method.requestDeserialize;
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes) => {
        const message = deserialize(bytes);
        if (bytes[COMPRESSED] !== undefined) {
          Object.defineProperty(message, COMPRESSED, { value: bytes[COMPRESSED] });
        }
        return message;
      },
    };
  }
  return wrapped;
}

/** Client side: records the compressed flag of every response message, in arrival order. */
const clientFlags = (() => {
  let filter;
  try {
    filter = require('@grpc/grpc-js/build/src/compression-filter').CompressionFilter;
  } catch (_) {
    return { available: false, take: () => [] };
  }
  const receive = filter && filter.prototype && filter.prototype.receiveMessage;
  if (typeof receive !== 'function') {
    return { available: false, take: () => [] };
  }
  let seen = [];
  // receiveMessage(framed) gets each framed response message, prefix included.
  filter.prototype.receiveMessage = async function (framed) {
    const bytes = await framed;
    seen.push(bytes.readUInt8(0) === 1);
    return receive.call(this, bytes);
  };
  return {
    available: true,
    /** Flags seen since the last take(); the cases run one call at a time. */
    take() {
      const out = seen;
      seen = [];
      return out;
    },
  };
})();

/** Value of `--name VALUE` or `--name=VALUE` in argv, or `fallback`. */
function flag(argv, name, fallback) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) {
      return argv[i + 1];
    }
    if (argv[i].startsWith(`--${name}=`)) {
      return argv[i].slice(name.length + 3);
    }
  }
  return fallback;
}

module.exports = {
  COMPRESSED,
  DEFAULT_PROTO_ROOT,
  clientFlags,
  flag,
  grpc,
  loadTesting,
  serverFlags,
  withCompressedFlags,
};
