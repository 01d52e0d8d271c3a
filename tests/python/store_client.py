"""Writes orders to an OrderManagement server, or checks them, as a Python grpcio client.

tests/store.rs runs `write` against an order-server, restarts the server on the same data
directory, and runs `verify`: what the first run wrote must be there after the restart.

Usage: store_client.py --addr HOST:PORT (write|verify) --prefix P --count N

write:  addOrder P-000 .. P-<N-1> (items ["item P"], description "added", price = i), then
        one updateOrders call replacing every even-numbered one (description "updated"),
        then updateOrders of sample order 102 (description "updated by P").
        Prints `wrote N orders, M updates`.
verify: getOrder of each (description as above), 102's description, and searchOrders("item P")
        returning exactly those N orders in id order. Prints `verified N orders`.
Exits 1 with a message on the first difference or RPC error; every RPC has a deadline.
"""

import argparse
import sys

import grpc
from google.protobuf import wrappers_pb2

import order_management_pb2 as pb
import order_management_pb2_grpc as pb_grpc

RPC_TIMEOUT_S = 10


def order(prefix, i, description):
    return pb.Order(
        id=f"{prefix}-{i:03}",
        items=[f"item {prefix}"],
        description=description,
        price=float(i),
        destination="Durable, DB",
    )


def expected_description(i):
    return "updated" if i % 2 == 0 else "added"


def write(stub, prefix, count):
    for i in range(count):
        reply = stub.addOrder(order(prefix, i, "added"), timeout=RPC_TIMEOUT_S)
        if reply.value != f"{prefix}-{i:03}":
            sys.exit(f"addOrder {prefix}-{i:03} answered {reply.value!r}")
    updates = [order(prefix, i, "updated") for i in range(0, count, 2)]
    reply = stub.updateOrders(iter(updates), timeout=RPC_TIMEOUT_S)
    if not reply.value.startswith("Updated orders: "):
        sys.exit(f"updateOrders answered {reply.value!r}")
    sample = stub.getOrder(wrappers_pb2.StringValue(value="102"), timeout=RPC_TIMEOUT_S)
    sample.description = f"updated by {prefix}"
    stub.updateOrders(iter([sample]), timeout=RPC_TIMEOUT_S)
    print(f"wrote {count} orders, {len(updates) + 1} updates")


def verify(stub, prefix, count):
    for i in range(count):
        want = order(prefix, i, expected_description(i))
        got = stub.getOrder(wrappers_pb2.StringValue(value=want.id), timeout=RPC_TIMEOUT_S)
        if got != want:
            sys.exit(f"getOrder {want.id}: got {got} want {want}")
    sample = stub.getOrder(wrappers_pb2.StringValue(value="102"), timeout=RPC_TIMEOUT_S)
    if sample.description != f"updated by {prefix}":
        sys.exit(f"order 102 description is {sample.description!r}")
    found = [
        o.id
        for o in stub.searchOrders(
            wrappers_pb2.StringValue(value=f"item {prefix}"), timeout=RPC_TIMEOUT_S
        )
    ]
    want_ids = [f"{prefix}-{i:03}" for i in range(count)]
    if found != want_ids:
        sys.exit(f"searchOrders found {found}, want {want_ids}")
    print(f"verified {count} orders")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("mode", choices=["write", "verify"])
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    with grpc.insecure_channel(args.addr) as channel:
        stub = pb_grpc.OrderManagementStub(channel)
        try:
            (write if args.mode == "write" else verify)(stub, args.prefix, args.count)
        except grpc.RpcError as e:
            sys.exit(f"{args.mode}: RPC failed: {e.code()}: {e.details()}")


if __name__ == "__main__":
    main()
