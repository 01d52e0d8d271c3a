"""A grpcio client that reads rich error details off our server (tests/details.rs).

For each case named on the command line it calls h2grpc.test.Echo/Unary with that
`message`, expects the call to fail, and reads the details the way a grpcio application
does, with `grpc_status.rpc_status.from_call` (which checks that the google.rpc.Status
inside carries the call's own code and message). It prints, per case:

    case NAME: CODE "message"          then one line per detail:
    TypeName {json of the detail}      (known types: error_details_pb2 and StringValue)
    other TYPE_URL HEX                 (any other type)
or  case NAME: CODE "message" no details
or  case NAME: CODE "message" from_call raised ExceptionName: what it said

Usage: details_client.py --addr HOST:PORT CASE...
Needs the stubs of proto/h2grpc/test.proto on PYTHONPATH (tests/common/python.rs).
"""

import argparse
import json

import grpc
from google.protobuf import json_format, wrappers_pb2
from google.rpc import error_details_pb2 as ed
from grpc_status import rpc_status

from h2grpc import test_pb2, test_pb2_grpc

CALL_TIMEOUT_S = 10

KNOWN = {cls.DESCRIPTOR.full_name: cls for cls in [
    ed.ErrorInfo, ed.RetryInfo, ed.DebugInfo, ed.QuotaFailure, ed.PreconditionFailure,
    ed.BadRequest, ed.RequestInfo, ed.ResourceInfo, ed.Help, ed.LocalizedMessage,
    wrappers_pb2.StringValue,
]}


def describe(detail):
    cls = KNOWN.get(detail.TypeName())
    if cls is None:
        return f"other {detail.type_url} {detail.value.hex()}"
    message = cls()
    if not detail.Unpack(message):
        return f"undecodable {detail.type_url}"
    text = json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None,
                                     sort_keys=True)
    return f"{cls.DESCRIPTOR.name} {text}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", required=True)
    parser.add_argument("cases", nargs="+")
    args = parser.parse_args()
    with grpc.insecure_channel(args.addr) as channel:
        stub = test_pb2_grpc.EchoStub(channel)
        for case in args.cases:
            try:
                stub.Unary(test_pb2.EchoRequest(message=case), timeout=CALL_TIMEOUT_S)
                print(f"case {case}: OK (expected a failure)", flush=True)
                continue
            except grpc.RpcError as err:
                head = f"case {case}: {err.code().name} {json.dumps(err.details())}"
                try:
                    rich = rpc_status.from_call(err)
                except ValueError as refused:
                    print(f"{head} from_call raised {type(refused).__name__}: {refused}", flush=True)
                    continue
            if rich is None:
                print(f"{head} no details", flush=True)
                continue
            print(head, flush=True)
            for detail in rich.details:
                print(describe(detail), flush=True)


if __name__ == "__main__":
    main()
