// A grpc-js client of the health service, for tests/health.rs: the `service` definition
// that npm's grpc-health-check (published by the grpc-js team) exports, turned into a
// client by grpc-js. It prints the same lines as tests/python/health_probe.py's client:
//
//   node health_probe.js [--proto_root DIR] client ADDR check NAME...
//       check "NAME" STATUS | check "NAME" error CODE, for each NAME, then
//       list {"NAME": "STATUS", ...} | list error CODE
//   node health_probe.js [--proto_root DIR] client ADDR watch NAME
//       watch "NAME" STATUS, one line per message, then watch "NAME" end CODE
//
// (--proto_root, which tests/common/node.rs passes to every script, is not needed: the
// package carries its own health.proto.) Every call has a deadline.

'use strict';

const grpc = require('@grpc/grpc-js');
const { service } = require('grpc-health-check');

const RPC_TIMEOUT_MS = 10000;
const WATCH_TIMEOUT_MS = 60000;

const HealthClient = grpc.makeClientConstructor(service, 'grpc.health.v1.Health');

function deadline(ms) {
  return new Date(Date.now() + ms);
}

/** A status code's name, as grpc.status spells it (NOT_FOUND, UNAVAILABLE, ...). */
function codeName(code) {
  return Object.keys(grpc.status).find((name) => grpc.status[name] === code) || String(code);
}

function say(line) {
  process.stdout.write(line + '\n');
}

function unary(client, method, request) {
  return new Promise((resolve) => {
    client[method](request, { deadline: deadline(RPC_TIMEOUT_MS) }, (err, reply) =>
      resolve({ err, reply }),
    );
  });
}

async function check(client, names) {
  for (const name of names) {
    const { err, reply } = await unary(client, 'Check', { service: name });
    say(err ? `check ${JSON.stringify(name)} error ${codeName(err.code)}`
      : `check ${JSON.stringify(name)} ${reply.status}`);
  }
  const { err, reply } = await unary(client, 'List', {});
  if (err) {
    say(`list error ${codeName(err.code)}`);
    return;
  }
  const statuses = {};
  for (const name of Object.keys(reply.statuses).sort()) {
    statuses[name] = reply.statuses[name].status;
  }
  // Python's json.dumps spacing, so both probes print the same line.
  say(`list ${JSON.stringify(statuses).replace(/":"/g, '": "').replace(/","/g, '", "')}`);
}

function watch(client, name) {
  return new Promise((resolve) => {
    const call = client.Watch({ service: name }, { deadline: deadline(WATCH_TIMEOUT_MS) });
    call.on('data', (reply) => say(`watch ${JSON.stringify(name)} ${reply.status}`));
    // A failed call also emits 'error'; 'status' comes for every ending, OK or not.
    call.on('error', () => {});
    call.on('status', (status) => {
      say(`watch ${JSON.stringify(name)} end ${codeName(status.code)}`);
      resolve();
    });
  });
}

async function main(argv) {
  const args = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--proto_root') {
      i++;
    } else {
      args.push(argv[i]);
    }
  }
  const [role, addr, mode, ...names] = args;
  if (role !== 'client' || !addr || !['check', 'watch'].includes(mode)) {
    process.stderr.write('usage: health_probe.js client ADDR check NAME... | watch NAME\n');
    process.exit(2);
  }
  const client = new HealthClient(addr, grpc.credentials.createInsecure());
  if (mode === 'check') {
    await check(client, names);
  } else {
    await watch(client, names[0]);
  }
  client.close();
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
