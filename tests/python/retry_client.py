"""A grpcio client with a retry policy in its service config (tests/retry.rs).

It is given the same service config JSON as our client (`grpc.service_config`, with
`grpc.enable_retries` on) and calls h2grpc.test.Echo/Unary once per case against our
flaky test server, which fails the first FAILURES attempts of the call named NAME with
status CODE (and sends PUSHBACK as grpc-retry-pushback-ms when given). The Rust test
then compares the attempts the server saw with those our own client made.

Prints per case:  case NAME: OK index=N   or   case NAME: CODE_NAME

Usage: retry_client.py --addr HOST:PORT --service-config JSON NAME:FAILURES:CODE[:PUSHBACK]...
Needs the stubs of proto/h2grpc/test.proto on PYTHONPATH (tests/common/python.rs).
"""

import argparse

import grpc

from h2grpc import test_pb2, test_pb2_grpc

CALL_TIMEOUT_S = 10


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
            parts = case.split(":")
            name, failures, code = parts[0], int(parts[1]), int(parts[2])
            metadata = [("x-pushback", parts[3])] if len(parts) > 3 else []
            request = test_pb2.EchoRequest(message=name, count=failures, fail_code=code)
            try:
                reply = stub.Unary(request, timeout=CALL_TIMEOUT_S, metadata=metadata)
                print(f"case {name}: OK index={reply.index}", flush=True)
            except grpc.RpcError as err:
                print(f"case {name}: {err.code().name}", flush=True)


if __name__ == "__main__":
    main()
