"""A grpcio client against `order-server --token TOKEN` (the bearer-token interceptor).

Usage: token_probe.py --addr HOST:PORT --token TOKEN

Prints one line per call, `<case> <STATUS_CODE_NAME>`: getOrder without credentials, with a
wrong token, with the right one (as grpc's access-token call credentials would send it,
`authorization: Bearer TOKEN`), and a searchOrders stream with the right one
(`stream <CODE> <n>` with the number of orders received). Every call has a deadline.
"""

import argparse

import grpc
from google.protobuf import wrappers_pb2

import order_management_pb2_grpc as pb_grpc

RPC_TIMEOUT_S = 10


def code_of(call):
    try:
        call()
        return "OK"
    except grpc.RpcError as e:
        return e.code().name


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()

    with grpc.insecure_channel(args.addr) as channel:
        stub = pb_grpc.OrderManagementStub(channel)
        order_id = wrappers_pb2.StringValue(value="102")

        def get(metadata):
            return lambda: stub.getOrder(order_id, timeout=RPC_TIMEOUT_S, metadata=metadata)

        print("none", code_of(get(None)))
        print("wrong", code_of(get([("authorization", "Bearer nope")])))
        print("right", code_of(get([("authorization", f"Bearer {args.token}")])))

        received = []

        def search():
            query = wrappers_pb2.StringValue(value="Google")
            metadata = [("authorization", f"Bearer {args.token}")]
            for order in stub.searchOrders(query, timeout=RPC_TIMEOUT_S, metadata=metadata):
                received.append(order)

        print("stream", code_of(search), len(received))


if __name__ == "__main__":
    main()
