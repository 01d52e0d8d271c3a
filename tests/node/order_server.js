// A Node @grpc/grpc-js OrderManagement server (proto/order_management.proto), the TLS peer
// our `order-client` is run against in tests/tls_peers.rs. The same contract as
// tests/python/order_server.py, in short:
// - addOrder: stores the order, returns its id; empty id -> INVALID_ARGUMENT, existing id ->
//   ALREADY_EXISTS.
// - getOrder: the order; unknown id -> NOT_FOUND.
// - searchOrders: streams every order with an item containing the query, in store order.
// - updateOrders: replaces each order by id (unknown -> NOT_FOUND), replies
//   "Updated orders: 102, 103".
// - processOrders: groups orders by destination into CombinedShipment{id: "cmb - <dest>",
//   status: "Processed!"}, flushing after every 3 ids and at the end; unknown id -> NOT_FOUND.
//
// Usage: node order_server.js [--port PORT] [--proto_root DIR]
//        [--tls_cert_file F --tls_key_file F [--client_ca_file F]]
// With --tls_cert_file and --tls_key_file (PEM) it serves TLS (grpc.ServerCredentials.createSsl);
// --client_ca_file then requires a client certificate signed by a CA in that file (mTLS).
// Binds 127.0.0.1 (PORT 0, the default, picks a free one), prints
// `order-server listening on 127.0.0.1:PORT` on stdout and serves until killed.

'use strict';

const fs = require('fs');
const protoLoader = require('@grpc/proto-loader');
const { DEFAULT_PROTO_ROOT, flag, grpc } = require('./common');

const BATCH_SIZE = 3;

const SAMPLE_ORDERS = [
  ['102', ['Google Pixel 3A', 'Mac Book Pro'], 'Mac Book Pro', 1800, 'Mountain View, CA'],
  ['103', ['Apple Watch S4'], 'Apple Watch S4', 400, 'San Jose, CA'],
  ['104', ['Google Home Mini', 'Google Nest Hub'], 'Google Home Mini', 400, 'Mountain View, CA'],
  ['105', ['Amazon Echo'], 'Amazon Echo', 30, 'San Jose, CA'],
  ['106', ['Amazon Echo', 'Apple iPhone XS'], 'Amazon Echo', 300, 'Mountain View, CA'],
].map(([id, items, description, price, destination]) => ({ id, items, description, price, destination }));

/** The ecommerce package from order_management.proto under `protoRoot`. */
function loadOrders(protoRoot) {
  const definition = protoLoader.loadSync('order_management.proto', {
    includeDirs: [protoRoot],
    keepCase: true, // ordersList, as in the proto
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).ecommerce;
}

function service() {
  const orders = new Map(SAMPLE_ORDERS.map((o) => [o.id, o]));
  const notFound = (id) => ({ code: grpc.status.NOT_FOUND, details: `order ${id} not found` });
  return {
    addOrder(call, callback) {
      const order = call.request;
      if (!order.id) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: 'order id is required' });
      } else if (orders.has(order.id)) {
        callback({ code: grpc.status.ALREADY_EXISTS, details: `order ${order.id} already exists` });
      } else {
        orders.set(order.id, order);
        callback(null, { value: order.id });
      }
    },

    getOrder(call, callback) {
      const order = orders.get(call.request.value);
      callback(order ? null : notFound(call.request.value), order);
    },

    searchOrders(call) {
      for (const order of orders.values()) {
        if (order.items.some((item) => item.includes(call.request.value))) {
          call.write(order);
        }
      }
      call.end();
    },

    updateOrders(call, callback) {
      const updated = [];
      let failed = false;
      call.on('data', (order) => {
        if (failed) {
          return;
        }
        if (!orders.has(order.id)) {
          failed = true;
          callback(notFound(order.id));
          return;
        }
        orders.set(order.id, order);
        updated.push(order.id);
      });
      call.on('end', () => {
        if (!failed) {
          callback(null, { value: `Updated orders: ${updated.join(', ')}` });
        }
      });
      call.on('error', () => {});
    },

    processOrders(call) {
      let batch = new Map(); // destination -> shipment, in order of first appearance
      let count = 0;
      let failed = false;
      const flush = () => {
        for (const shipment of batch.values()) {
          call.write(shipment);
        }
        batch = new Map();
        count = 0;
      };
      call.on('data', (id) => {
        if (failed) {
          return;
        }
        const order = orders.get(id.value);
        if (!order) {
          failed = true;
          call.emit('error', notFound(id.value));
          return;
        }
        let shipment = batch.get(order.destination);
        if (!shipment) {
          shipment = { id: `cmb - ${order.destination}`, status: 'Processed!', ordersList: [] };
          batch.set(order.destination, shipment);
        }
        shipment.ordersList.push(order);
        count += 1;
        if (count === BATCH_SIZE) {
          flush();
        }
      });
      call.on('end', () => {
        if (!failed) {
          flush();
          call.end();
        }
      });
      call.on('error', () => {});
    },
  };
}

function main() {
  const argv = process.argv.slice(2);
  const port = Number(flag(argv, 'port', '0'));
  const ecommerce = loadOrders(flag(argv, 'proto_root', DEFAULT_PROTO_ROOT));
  const certFile = flag(argv, 'tls_cert_file');
  const keyFile = flag(argv, 'tls_key_file');
  const clientCa = flag(argv, 'client_ca_file');
  if (Boolean(certFile) !== Boolean(keyFile) || (clientCa && !certFile)) {
    process.stderr.write('--tls_cert_file and --tls_key_file go together; --client_ca_file needs them\n');
    process.exit(2);
  }
  let credentials = grpc.ServerCredentials.createInsecure();
  if (certFile) {
    credentials = grpc.ServerCredentials.createSsl(
      clientCa ? fs.readFileSync(clientCa) : null,
      [{ private_key: fs.readFileSync(keyFile), cert_chain: fs.readFileSync(certFile) }],
      Boolean(clientCa),
    );
  }
  const server = new grpc.Server();
  server.addService(ecommerce.OrderManagement.service, service());
  server.bindAsync(`127.0.0.1:${port}`, credentials, (err, bound) => {
    if (err) {
      process.stderr.write(`cannot bind 127.0.0.1:${port}: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`order-server listening on 127.0.0.1:${bound}\n`);
  });
}

main();
