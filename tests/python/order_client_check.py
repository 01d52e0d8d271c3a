"""Checks an OrderManagement server against the issue 4 contract, as a Python grpcio client.

tests/order_python.rs runs it against our `order-server`; it also runs against
tests/python/order_server.py, which is how the checks themselves are kept honest.

Usage: order_client_check.py --addr HOST:PORT [--ca F [--cert F --key F] [--server_name N]]

With --ca (PEM roots) it connects over TLS (grpc.ssl_channel_credentials), presenting the
--cert/--key client certificate if given; --server_name checks the server's certificate
against that name instead of HOST (grpc.ssl_target_name_override).

Expects a fresh server holding the sample orders 102..106 (the checks update some of them;
destinations and items are left as they were so later checks can still rely on them).
Assumes searchOrders streams in store order, which for the sample orders is id order.
Prints `PASS name` or `FAIL name: reason` per check, then `N passed, M failed`;
exits 1 if any check failed. Every RPC carries a deadline, so nothing hangs.
"""

import argparse
import sys
import threading
import traceback
import uuid

import grpc
from google.protobuf import wrappers_pb2
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status

import order_management_pb2 as pb
import order_management_pb2_grpc as pb_grpc

RPC_TIMEOUT_S = 10
# How long processOrders' request generator waits for the first flush before giving up.
FLUSH_WAIT_S = 5
# 3 MiB payload must fit under both ends' limits; grpcio's default receive limit is 4 MiB.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
BIG_DESCRIPTION_BYTES = 3 * 1024 * 1024
CONCURRENT_CALLS = 100

SAMPLE = {
    "102": (["Google Pixel 3A", "Mac Book Pro"], "Mac Book Pro", 1800.0, "Mountain View, CA"),
    "103": (["Apple Watch S4"], "Apple Watch S4", 400.0, "San Jose, CA"),
    "104": (["Google Home Mini", "Google Nest Hub"], "Google Home Mini", 400.0, "Mountain View, CA"),
    "105": (["Amazon Echo"], "Amazon Echo", 30.0, "San Jose, CA"),
    "106": (["Amazon Echo", "Apple iPhone XS"], "Amazon Echo", 300.0, "Mountain View, CA"),
}


class CheckFailed(Exception):
    pass


def expect(condition, reason):
    if not condition:
        raise CheckFailed(reason)


def sv(value):
    return wrappers_pb2.StringValue(value=value)


def fields(order):
    return (list(order.items), order.description, order.price, order.destination)


def expect_code(call, code, what):
    """Runs call(), expecting it to fail with `code`; returns the grpc.RpcError."""
    try:
        result = call()
    except grpc.RpcError as err:
        expect(err.code() == code, f"{what}: expected {code.name}, got {err.code().name}: {err.details()}")
        return err
    raise CheckFailed(f"{what}: expected {code.name}, got OK: {result!r}"[:300])


class Checks:
    def __init__(self, stub):
        self.stub = stub

    def get(self, order_id):
        return self.stub.getOrder(sv(order_id), timeout=RPC_TIMEOUT_S)

    def check_get_order(self):
        order = self.get("102")
        expect(order.id == "102", f"id {order.id!r}")
        expect(fields(order) == SAMPLE["102"], f"fields {fields(order)!r}")

    def check_get_order_not_found(self):
        err = expect_code(lambda: self.get("999"), grpc.StatusCode.NOT_FOUND, "getOrder 999")
        expect(err.details(), "NOT_FOUND without a message")

    def check_add_order(self):
        order_id = "py-" + uuid.uuid4().hex[:8]
        order = pb.Order(id=order_id, items=["Python Widget", "Spare Part"],
                         description="added by grpcio", price=12.5, destination="Zurich, CH")
        reply = self.stub.addOrder(order, timeout=RPC_TIMEOUT_S)
        expect(reply.value == order_id, f"addOrder returned {reply.value!r}, want {order_id!r}")
        got = self.get(order_id)
        expect(got == order, f"getOrder after addOrder returned {got!r}")

    def check_add_order_already_exists(self):
        order = pb.Order(id="102", items=["Duplicate"], description="dup", price=1, destination="X")
        expect_code(lambda: self.stub.addOrder(order, timeout=RPC_TIMEOUT_S),
                    grpc.StatusCode.ALREADY_EXISTS, "addOrder 102")
        expect(fields(self.get("102")) == SAMPLE["102"], "existing order 102 was overwritten")

    def check_add_order_empty_id_details(self):
        order = pb.Order(id="", items=["Nothing"], description="no id", price=1, destination="X")
        err = expect_code(lambda: self.stub.addOrder(order, timeout=RPC_TIMEOUT_S),
                          grpc.StatusCode.INVALID_ARGUMENT, "addOrder empty id")
        # from_call raises ValueError if the details' code or message disagree with the call's.
        status = rpc_status.from_call(err)
        expect(status is not None, "no grpc-status-details-bin trailer")
        expect(status.code == code_pb2.INVALID_ARGUMENT, f"google.rpc.Status code {status.code}")
        bad_requests = []
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                bad_requests.append(bad_request)
        expect(bad_requests, f"no BadRequest in details: {[d.type_url for d in status.details]}")
        violated = [v.field for b in bad_requests for v in b.field_violations]
        expect("id" in violated, f"BadRequest field violations {violated!r} do not name 'id'")

    def check_search_orders(self):
        found = [o.id for o in self.stub.searchOrders(sv("Google"), timeout=RPC_TIMEOUT_S)]
        expect(found == ["102", "104"], f"searchOrders('Google') streamed {found!r}, want ['102', '104']")

    def check_search_orders_no_match(self):
        call = self.stub.searchOrders(sv("nothing-matches"), timeout=RPC_TIMEOUT_S)
        found = [o.id for o in call]
        expect(found == [], f"streamed {found!r}")
        expect(call.code() == grpc.StatusCode.OK, f"status {call.code().name}")

    def updated(self, order_id, description, price):
        items, _, _, destination = SAMPLE[order_id]
        return pb.Order(id=order_id, items=items, description=description, price=price,
                        destination=destination)

    def check_update_orders(self):
        new = [self.updated("102", "Pixel and Mac, updated", 1900.0),
               self.updated("103", "Watch, updated", 450.0)]
        reply = self.stub.updateOrders(iter(new), timeout=RPC_TIMEOUT_S)
        expect("102" in reply.value and "103" in reply.value,
               f"reply {reply.value!r} does not name both 102 and 103")
        for order in new:
            got = self.get(order.id)
            expect(got == order, f"getOrder {order.id} after update returned {fields(got)!r}")

    def check_update_orders_unknown(self):
        known = self.updated("104", "Home Mini, updated", 410.0)
        unknown = self.updated("105", "ghost", 1.0)
        unknown.id = "no-such-order"
        expect_code(lambda: self.stub.updateOrders(iter([known, unknown]), timeout=RPC_TIMEOUT_S),
                    grpc.StatusCode.NOT_FOUND, "updateOrders [104, unknown]")
        got = self.get("104")
        expect(got == known, f"update of 104 before the unknown id was lost: {fields(got)!r}")

    def check_process_orders(self):
        ids = ["102", "103", "104", "105", "106"]
        first_flush = threading.Event()
        state = {"sent": 0, "flush_timed_out": False}

        def requests():
            for index, order_id in enumerate(ids):
                if index == 3 and not first_flush.wait(FLUSH_WAIT_S):
                    state["flush_timed_out"] = True
                state["sent"] += 1
                yield sv(order_id)

        shipments = []
        for shipment in self.stub.processOrders(requests(), timeout=RPC_TIMEOUT_S):
            shipments.append((shipment.id, shipment.status, [o.id for o in shipment.ordersList],
                              state["sent"]))
            first_flush.set()
        expect(not state["flush_timed_out"],
               f"no shipment arrived within {FLUSH_WAIT_S}s after 3 ids were sent")
        expect(shipments and shipments[0][3] == 3,
               f"first shipment arrived after {shipments[0][3] if shipments else '-'} ids, want 3")
        got = [s[:3] for s in shipments]
        want = [
            ("cmb - Mountain View, CA", "Processed!", ["102", "104"]),
            ("cmb - San Jose, CA", "Processed!", ["103"]),
            ("cmb - San Jose, CA", "Processed!", ["105"]),
            ("cmb - Mountain View, CA", "Processed!", ["106"]),
        ]
        expect(got == want, f"shipments {got!r}, want {want!r}")

    def check_process_orders_unknown(self):
        def collect():
            return list(self.stub.processOrders(iter([sv("102"), sv("no-such-order")]),
                                                timeout=RPC_TIMEOUT_S))
        expect_code(collect, grpc.StatusCode.NOT_FOUND, "processOrders [102, unknown]")

    def check_large_order(self):
        order_id = "big-" + uuid.uuid4().hex[:8]
        description = "x" * BIG_DESCRIPTION_BYTES
        order = pb.Order(id=order_id, items=["Big Blob"], description=description, price=3,
                         destination="Mountain View, CA")
        reply = self.stub.addOrder(order, timeout=RPC_TIMEOUT_S)
        expect(reply.value == order_id, f"addOrder returned {reply.value!r}")
        got = self.get(order_id)
        expect(len(got.description) == BIG_DESCRIPTION_BYTES,
               f"description came back with {len(got.description)} bytes")
        expect(got == order, "3 MiB order came back different")

    def check_concurrent_get_orders(self):
        ids = [list(SAMPLE)[i % len(SAMPLE)] for i in range(CONCURRENT_CALLS)]
        calls = [self.stub.getOrder.future(sv(order_id), timeout=RPC_TIMEOUT_S) for order_id in ids]
        failures = []
        for order_id, call in zip(ids, calls):
            try:
                order = call.result()
                if order.id != order_id:
                    failures.append(f"{order_id}: got id {order.id!r}")
            except grpc.RpcError as err:
                failures.append(f"{order_id}: {err.code().name}: {err.details()}")
        expect(not failures, f"{len(failures)}/{CONCURRENT_CALLS} failed, first: {failures[:3]}")


# Run order matters: reads of the untouched sample data come before the updates.
CHECK_ORDER = [
    "get_order", "get_order_not_found", "add_order", "add_order_already_exists",
    "add_order_empty_id_details", "search_orders", "search_orders_no_match", "update_orders",
    "update_orders_unknown", "process_orders", "process_orders_unknown", "large_order",
    "concurrent_get_orders",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", required=True, help="HOST:PORT of the server under test")
    parser.add_argument("--ca", help="PEM CA bundle: connect over TLS, trusting it")
    parser.add_argument("--cert", help="PEM client certificate chain (mTLS), with --key")
    parser.add_argument("--key", help="PEM client private key (mTLS), with --cert")
    parser.add_argument("--server_name", help="name the server's certificate must carry")
    args = parser.parse_args()
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")
    if (args.cert or args.server_name) and not args.ca:
        parser.error("--cert, --key and --server_name need --ca")

    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    if args.ca:
        def read(path):
            with open(path, "rb") as f:
                return f.read()
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read(args.ca),
            private_key=read(args.key) if args.key else None,
            certificate_chain=read(args.cert) if args.cert else None)
        if args.server_name:
            options.append(("grpc.ssl_target_name_override", args.server_name))
        channel = grpc.secure_channel(args.addr, credentials, options=options)
    else:
        channel = grpc.insecure_channel(args.addr, options=options)
    passed = failed = 0
    with channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=RPC_TIMEOUT_S)
        except grpc.FutureTimeoutError:
            print(f"FAIL connect: no connection to {args.addr} within {RPC_TIMEOUT_S}s", flush=True)
            print("0 passed, 1 failed", flush=True)
            return 1
        checks = Checks(pb_grpc.OrderManagementStub(channel))
        for name in CHECK_ORDER:
            try:
                getattr(checks, "check_" + name)()
            except CheckFailed as err:
                failed += 1
                print(f"FAIL {name}: {err}", flush=True)
            except grpc.RpcError as err:
                failed += 1
                print(f"FAIL {name}: unexpected {err.code().name}: {err.details()}", flush=True)
            except Exception as err:  # a broken check must show, not abort the rest
                failed += 1
                detail = traceback.format_exception_only(type(err), err)[-1].strip()
                print(f"FAIL {name}: {detail}", flush=True)
            else:
                passed += 1
                print(f"PASS {name}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
