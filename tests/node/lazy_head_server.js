// A Node @grpc/grpc-js grpc.testing.TestService whose FullDuplexCall sends its response
// head lazily, the way grpc-js does when a handler never calls sendMetadata itself: the
// HEADERS frame goes out with the first response message (server-interceptors.js,
// sendMessage: "if (!this.sentMetadata) this.sendMetadata(new Metadata())").
//
// tests/node/interop_server.js cannot show this: its Echo Metadata step calls
// call.sendMetadata() at the start of every call, so the head is always sent at once.
// tests/streams_peers.rs (issue 15) needs a grpc-js server that, like grpcio and grpc-go,
// sends nothing until it has read a request and answered it.
//
// FullDuplexCall: one StreamingOutputCallResponse (payload of `size` zero bytes) per
// ResponseParameters of each request, as soon as that request arrives; OK at the end of
// the requests. No other method is implemented (grpc-js answers UNIMPLEMENTED).
//
// Usage: node lazy_head_server.js [--port PORT] [--proto_root DIR]
// Binds 127.0.0.1 (PORT 0, the default, picks a free one), prints
// `lazy-head-server listening on 127.0.0.1:PORT` on stdout and serves until killed.

'use strict';

const { DEFAULT_PROTO_ROOT, flag, grpc, loadTesting } = require('./common');

const COMPRESSABLE = 0;

/** Writes, waiting for 'drain' when grpc-js's buffer is full. */
async function write(call, message) {
  if (!call.write(message)) {
    await new Promise((resolve) => call.once('drain', resolve));
  }
}

const service = {
  async FullDuplexCall(call) {
    try {
      // destroyOnReturn: false, so the stream is still there to send the status on.
      for await (const request of call.iterator({ destroyOnReturn: false })) {
        for (const params of request.response_parameters) {
          const body = Buffer.alloc(Math.max(0, params.size));
          await write(call, { payload: { type: COMPRESSABLE, body } });
        }
      }
    } catch (_) {
      return; // cancelled or reset by the client
    }
    call.end();
  },
};

function main() {
  const argv = process.argv.slice(2);
  const port = Number(flag(argv, 'port', '0'));
  const testing = loadTesting(flag(argv, 'proto_root', DEFAULT_PROTO_ROOT));
  const server = new grpc.Server();
  server.addService(testing.TestService.service, service);
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
    if (err) {
      process.stderr.write(`cannot bind 127.0.0.1:${port}: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`lazy-head-server listening on 127.0.0.1:${bound}\n`);
  });
}

main();
