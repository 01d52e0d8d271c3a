"""A Python grpcio implementation of the OrderManagement service (issue 4).

It is the foreign peer our `order-client` is tested against (tests/order_python.rs):
if our client and this server agree, our client speaks gRPC the way grpcio does,
not just the way our own server does.

Contract (proto/order_management.proto, package ecommerce):
- addOrder:      stores the order, returns its id. Empty id -> INVALID_ARGUMENT with a
                 google.rpc.Status carrying google.rpc.BadRequest in grpc-status-details-bin;
                 existing id -> ALREADY_EXISTS.
- getOrder:      the order; unknown id -> NOT_FOUND.
- searchOrders:  streams every order with an item containing the query (substring), in
                 store order (sample orders in id order); no match -> empty stream, OK.
- updateOrders:  replaces each order by id; unknown id -> NOT_FOUND (earlier updates stay);
                 reply "Updated orders: 102, 103" (ids in the order received).
- processOrders: groups orders by destination into CombinedShipment{id: "cmb - <dest>",
                 status: "Processed!"}; after every 3 ids sends the shipments of that batch
                 (destinations in order of first appearance in the batch) while the client
                 is still sending, and what remains at end of input; unknown id -> NOT_FOUND.

Usage: order_server.py [--addr HOST:PORT] [--no-sample-data]
                       [--tls_cert_file F --tls_key_file F [--client_ca_file F]]
Prints `order-server listening on 127.0.0.1:PORT` on stdout once bound, serves until killed.
With --tls_cert_file and --tls_key_file (PEM) it serves TLS (grpc.ssl_server_credentials);
--client_ca_file then requires a client certificate signed by a CA in that file (mTLS).
Needs the generated stubs (order_management_pb2*.py) on PYTHONPATH; tests/common/python.rs
generates them and sets PYTHONPATH.
"""

import argparse
import sys
import threading
from concurrent import futures

import grpc
from google.protobuf import any_pb2, wrappers_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

import order_management_pb2 as pb
import order_management_pb2_grpc as pb_grpc

# A 3 MiB order must pass both ways; grpcio's default receive limit is 4 MiB, so set 8 MiB
# explicitly on both directions to leave room above the test's largest message.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# processOrders flushes the shipments it has accumulated after this many ids.
BATCH_SIZE = 3

SAMPLE_ORDERS = [
    pb.Order(id="102", items=["Google Pixel 3A", "Mac Book Pro"], description="Mac Book Pro",
             price=1800, destination="Mountain View, CA"),
    pb.Order(id="103", items=["Apple Watch S4"], description="Apple Watch S4",
             price=400, destination="San Jose, CA"),
    pb.Order(id="104", items=["Google Home Mini", "Google Nest Hub"], description="Google Home Mini",
             price=400, destination="Mountain View, CA"),
    pb.Order(id="105", items=["Amazon Echo"], description="Amazon Echo",
             price=30, destination="San Jose, CA"),
    pb.Order(id="106", items=["Amazon Echo", "Apple iPhone XS"], description="Amazon Echo",
             price=300, destination="Mountain View, CA"),
]


class OrderManagement(pb_grpc.OrderManagementServicer):
    def __init__(self, sample_data):
        # dict keeps insertion order: that is the "store order" searchOrders streams in.
        self._orders = {}
        self._lock = threading.Lock()
        if sample_data:
            for order in SAMPLE_ORDERS:
                self._orders[order.id] = order

    def _lookup(self, order_id, context):
        with self._lock:
            order = self._orders.get(order_id)
        if order is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"order {order_id} not found")
        return order

    def addOrder(self, request, context):
        if not request.id:
            violation = error_details_pb2.BadRequest.FieldViolation(
                field="id", description="order id must not be empty")
            detail = any_pb2.Any()
            detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
            status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT,
                                       message="order id is required", details=[detail])
            context.abort_with_status(rpc_status.to_status(status))
        with self._lock:
            exists = request.id in self._orders
            if not exists:
                self._orders[request.id] = request
        if exists:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"order {request.id} already exists")
        return wrappers_pb2.StringValue(value=request.id)

    def getOrder(self, request, context):
        return self._lookup(request.value, context)

    def searchOrders(self, request, context):
        with self._lock:
            snapshot = list(self._orders.values())
        for order in snapshot:
            if any(request.value in item for item in order.items):
                yield order

    def updateOrders(self, request_iterator, context):
        updated = []
        for order in request_iterator:
            with self._lock:
                known = order.id in self._orders
                if known:
                    self._orders[order.id] = order
            if not known:
                context.abort(grpc.StatusCode.NOT_FOUND, f"order {order.id} not found")
            updated.append(order.id)
        return wrappers_pb2.StringValue(value="Updated orders: " + ", ".join(updated))

    def processOrders(self, request_iterator, context):
        batch = {}  # destination -> CombinedShipment, in order of first appearance
        count = 0
        for order_id in request_iterator:
            order = self._lookup(order_id.value, context)
            shipment = batch.get(order.destination)
            if shipment is None:
                shipment = pb.CombinedShipment(id="cmb - " + order.destination, status="Processed!")
                batch[order.destination] = shipment
            shipment.ordersList.append(order)
            count += 1
            if count == BATCH_SIZE:
                yield from batch.values()
                batch = {}
                count = 0
        yield from batch.values()


def server_credentials(cert_file, key_file, client_ca_file):
    """TLS with this PEM chain and key; with client_ca_file, client certificates required."""
    def read(path):
        with open(path, "rb") as f:
            return f.read()
    return grpc.ssl_server_credentials(
        [(read(key_file), read(cert_file))],
        root_certificates=read(client_ca_file) if client_ca_file else None,
        require_client_auth=bool(client_ca_file))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:0")
    parser.add_argument("--no-sample-data", action="store_true")
    parser.add_argument("--tls_cert_file")
    parser.add_argument("--tls_key_file")
    parser.add_argument("--client_ca_file")
    args = parser.parse_args()
    if bool(args.tls_cert_file) != bool(args.tls_key_file):
        sys.exit("order_server.py: --tls_cert_file and --tls_key_file go together")
    if args.client_ca_file and not args.tls_cert_file:
        sys.exit("order_server.py: --client_ca_file needs --tls_cert_file and --tls_key_file")

    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    # Enough workers that 100 concurrent unary calls and a few open streams do not starve.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32), options=options)
    pb_grpc.add_OrderManagementServicer_to_server(OrderManagement(not args.no_sample_data), server)
    host = args.addr.rsplit(":", 1)[0]
    if args.tls_cert_file:
        credentials = server_credentials(args.tls_cert_file, args.tls_key_file, args.client_ca_file)
        port = server.add_secure_port(args.addr, credentials)
    else:
        port = server.add_insecure_port(args.addr)
    if port == 0:
        sys.exit(f"order_server.py: cannot bind {args.addr}")
    server.start()
    print(f"order-server listening on {host}:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
