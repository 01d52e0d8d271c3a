// Calls over TLS as a Node @grpc/grpc-js client, for the TLS peer tests
// (tests/tls_peers.rs); the Node twin of tests/python/tls_probe.py.
//
// Usage: node tls_probe.js --addr HOST:PORT --service order|interop --attempts JSON
//        [--proto_root DIR]
//
// JSON is a list of attempts, each {"ca": F, "cert": F|null, "key": F|null,
// "server_name": NAME|null}. Each attempt opens its own client with
// grpc.credentials.createSsl (roots from "ca", the "cert"/"key" client certificate if given;
// "server_name" sets grpc.ssl_target_name_override), makes one call with a deadline and
// prints one line, in order:
//
//   OK order <id>                 --service order: getOrder("102") answered
//   OK peer-cert <hex>|none       --service interop: EmptyCall answered; the
//                                 x-h2grpc-peer-cert-bin our interop-server returns under mTLS
//   ERROR <CODE> <details>        the call failed (CODE as grpc.status names it)
//
// Exits 0 when every attempt printed its line, 2 on bad arguments.

'use strict';

const fs = require('fs');
const protoLoader = require('@grpc/proto-loader');
const { DEFAULT_PROTO_ROOT, flag, grpc, loadTesting } = require('./common');

const RPC_TIMEOUT_MS = 10000;
const PEER_CERT_KEY = 'x-h2grpc-peer-cert-bin';

const codeName = (code) =>
  Object.keys(grpc.status).find((k) => grpc.status[k] === code) || String(code);
const failed = (err) => `ERROR ${codeName(err.code)} ${String(err.details).split(/\s+/).join(' ')}`;

/** One client, one call: resolves to the result line. */
function attempt(Service, which, addr, spec) {
  const credentials = grpc.credentials.createSsl(
    fs.readFileSync(spec.ca),
    spec.key ? fs.readFileSync(spec.key) : null,
    spec.cert ? fs.readFileSync(spec.cert) : null,
  );
  const options = spec.server_name ? { 'grpc.ssl_target_name_override': spec.server_name } : {};
  const client = new Service(addr, credentials, options);
  const deadline = { deadline: Date.now() + RPC_TIMEOUT_MS };
  return new Promise((resolve) => {
    const done = (line) => {
      client.close();
      resolve(line);
    };
    if (which === 'order') {
      client.getOrder({ value: '102' }, deadline, (err, order) => {
        done(err ? failed(err) : `OK order ${order.id}`);
      });
      return;
    }
    let head = null;
    const call = client.EmptyCall({}, deadline, (err) => {
      if (err) {
        done(failed(err));
        return;
      }
      const certs = head ? head.get(PEER_CERT_KEY) : [];
      done(`OK peer-cert ${certs.length > 0 ? certs[0].toString('hex') : 'none'}`);
    });
    call.on('metadata', (metadata) => {
      head = metadata;
    });
  });
}

async function main() {
  const argv = process.argv.slice(2);
  const addr = flag(argv, 'addr');
  const which = flag(argv, 'service');
  const protoRoot = flag(argv, 'proto_root', DEFAULT_PROTO_ROOT);
  let attempts;
  try {
    attempts = JSON.parse(flag(argv, 'attempts'));
  } catch (_) {
    attempts = null;
  }
  if (!addr || !['order', 'interop'].includes(which) || !Array.isArray(attempts) ||
      attempts.some((a) => !a.ca || Boolean(a.cert) !== Boolean(a.key))) {
    process.stderr.write('usage: tls_probe.js --addr HOST:PORT --service order|interop --attempts JSON\n');
    process.exit(2);
  }
  let Service;
  if (which === 'order') {
    const definition = protoLoader.loadSync('order_management.proto', {
      includeDirs: [protoRoot],
      keepCase: true,
    });
    Service = grpc.loadPackageDefinition(definition).ecommerce.OrderManagement;
  } else {
    Service = loadTesting(protoRoot).TestService;
  }
  for (const spec of attempts) {
    console.log(await attempt(Service, which, addr, spec));
  }
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack}\n`);
  process.exit(1);
});
