"""A grpcio client-streaming client with a retry policy (tests/retry_streaming.rs).

It is given the same service config JSON as our client (`grpc.service_config`, with
`grpc.enable_retries` on) and makes one h2grpc.test.Echo/ClientStream call per case
against our flaky test server. Metadata tells the server how to fail: `x-name` names
the call, `x-fail` how many attempts fail with UNAVAILABLE, `x-mode` when
(`before-read`, or `after-read-2`). Each call sends three messages "m0-", "m1-", "m2-"
padded with BYTES "x"s; grpcio keeps them for replay up to its per-call retry buffer
(`grpc.per_rpc_retry_buffer_size`, 256 KiB). The Rust test compares the attempts the
server saw with those our own client made.

Prints per case:  case NAME: OK index=N   or   case NAME: CODE_NAME

Usage: retry_stream_client.py --addr HOST:PORT --service-config JSON NAME:FAILURES:MODE:BYTES...
Needs the stubs of proto/h2grpc/test.proto on PYTHONPATH (tests/common/python.rs).
"""

import argparse

import grpc

from h2grpc import test_pb2, test_pb2_grpc

CALL_TIMEOUT_S = 10
MESSAGES = 3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--service-config", required=True)
    parser.add_argument("cases", nargs="+")
    args = parser.parse_args()
    options = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", args.service_config),
    ]
    with grpc.insecure_channel(args.addr, options=options) as channel:
        stub = test_pb2_grpc.EchoStub(channel)
        for case in args.cases:
            name, failures, mode, size = case.split(":")
            metadata = [("x-name", name), ("x-fail", failures), ("x-mode", mode)]
            padding = "x" * int(size)
            requests = (
                test_pb2.EchoRequest(message=f"m{i}-{padding}") for i in range(MESSAGES)
            )
            try:
                reply = stub.ClientStream(requests, timeout=CALL_TIMEOUT_S, metadata=metadata)
                print(f"case {name}: OK index={reply.index}", flush=True)
            except grpc.RpcError as err:
                print(f"case {name}: {err.code().name}", flush=True)


if __name__ == "__main__":
    main()
