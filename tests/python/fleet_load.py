"""Unary load on an OrderManagement server (in tests/nginx_fleet.rs: nginx in front of a
fleet of order-servers), as a Python grpcio client, counting every call's final status.

Usage: fleet_load.py --addr HOST:PORT [--threads T] [--max-calls N] [--max-seconds S]
                     [--stop-file PATH]

T threads share one channel (one HTTP/2 connection); each makes one blocking call at a
time, so at most T calls are in flight at any moment. Calls alternate between
getOrder of a sample order (102..106; the reply's id must match) and addOrder of a new
order with a fresh id (the reply is only checked to be OK and non-empty: which backend
stored it, and whether another sees it, is not this client's business).

The load stops when N calls have been made, S seconds have passed, or PATH exists
(checked before each call), whichever comes first; no call is retried.

stdout, one line each, flushed:
  started
  progress DONE             every 100 ms: calls finished so far
  result {"calls": ..., "statuses": {"OK": ..., ...}, "examples": {...}, "stopped_by": ...}
"examples" keeps the first detail seen per non-OK status. A reply with the wrong content
counts as status "WRONG_REPLY". Exits 0 once the result is printed.
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid

import grpc
from google.protobuf import wrappers_pb2

import order_management_pb2 as pb
import order_management_pb2_grpc as pb_grpc

# One call through a local proxy takes milliseconds; this only ends a wedged one.
RPC_TIMEOUT_S = 10
PROGRESS_EVERY_S = 0.1
SAMPLE_IDS = ["102", "103", "104", "105", "106"]


class Load:
    def __init__(self, max_calls, deadline, stop_file):
        self.lock = threading.Lock()
        self.max_calls = max_calls
        self.deadline = deadline
        self.stop_file = stop_file
        self.started = 0
        self.done = 0
        self.statuses = {}
        self.examples = {}
        self.stopped_by = None

    def next_call(self):
        """The index of the next call to make, or None once the load is over."""
        with self.lock:
            if self.stopped_by is None:
                if self.started >= self.max_calls:
                    self.stopped_by = "max-calls"
                elif time.monotonic() >= self.deadline:
                    self.stopped_by = "max-seconds"
                elif self.stop_file and os.path.exists(self.stop_file):
                    self.stopped_by = "stop-file"
            if self.stopped_by is not None:
                return None
            self.started += 1
            return self.started - 1

    def record(self, status, detail=None):
        with self.lock:
            self.done += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if detail is not None and status not in self.examples:
                self.examples[status] = detail


def one_call(stub, index):
    """Makes call number `index`; returns (status, detail or None)."""
    try:
        if index % 2 == 0:
            order_id = SAMPLE_IDS[(index // 2) % len(SAMPLE_IDS)]
            order = stub.getOrder(wrappers_pb2.StringValue(value=order_id), timeout=RPC_TIMEOUT_S)
            if order.id != order_id:
                return "WRONG_REPLY", f"getOrder({order_id}) returned id {order.id!r}"
        else:
            order = pb.Order(id=f"fleet-{uuid.uuid4()}", items=["Fleet Widget"],
                             description="fleet load", price=1.5, destination="Anywhere")
            reply = stub.addOrder(order, timeout=RPC_TIMEOUT_S)
            if not reply.value:
                return "WRONG_REPLY", "addOrder returned an empty id"
        return "OK", None
    except grpc.RpcError as e:
        return e.code().name, e.details()


def worker(stub, load):
    while True:
        index = load.next_call()
        if index is None:
            return
        status, detail = one_call(stub, index)
        load.record(status, detail)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--max-calls", type=int, default=1000)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--stop-file")
    args = parser.parse_args()

    load = Load(args.max_calls, time.monotonic() + args.max_seconds, args.stop_file)
    with grpc.insecure_channel(args.addr) as channel:
        grpc.channel_ready_future(channel).result(timeout=RPC_TIMEOUT_S)
        stub = pb_grpc.OrderManagementStub(channel)
        print("started", flush=True)
        threads = [threading.Thread(target=worker, args=(stub, load), daemon=True)
                   for _ in range(args.threads)]
        for t in threads:
            t.start()
        # Every call has a deadline, so each thread ends within RPC_TIMEOUT_S of the stop.
        while any(t.is_alive() for t in threads):
            time.sleep(PROGRESS_EVERY_S)
            with load.lock:
                done = load.done
            print(f"progress {done}", flush=True)
        for t in threads:
            t.join()
    result = {
        "calls": load.done,
        "statuses": load.statuses,
        "examples": load.examples,
        "stopped_by": load.stopped_by,
    }
    print("result " + json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
