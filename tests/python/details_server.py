"""A grpcio server that fails calls with rich error details (tests/details.rs).

It serves h2grpc.test.Echo; Unary fails every call the way the request's `message` names,
with the google.rpc.Status that grpcio-status builds (`rpc_status.to_status`), so our
client's `Status::error_details()` is checked against what grpcio really sends:

- "all":      FAILED_PRECONDITION, every standard detail type once, plus a
              google.protobuf.StringValue (a type our side does not know: kept as is).
- "retry":    UNAVAILABLE with ErrorInfo and RetryInfo (1.5 s), a message with '%', a
              newline and non-ASCII text (grpc-message percent-encoding both ways).
- "mismatch": INTERNAL, but grpc-status-details-bin says NOT_FOUND (the details must be
              refused, as grpcio's own `rpc_status.from_call` refuses them).
- "plain":    NOT_FOUND with no details at all.

Usage: details_server.py [--addr HOST:PORT]
Prints `details-server listening on 127.0.0.1:PORT` once bound, serves until killed.
Needs the stubs of proto/h2grpc/test.proto on PYTHONPATH (tests/common/python.rs).
"""

import argparse
import sys
from concurrent import futures

import grpc
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from h2grpc import test_pb2_grpc

RETRY_MESSAGE = "50% busy,\nréessayez"


def packed(message):
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def every_detail():
    """One of each standard type, with every field set, and one unknown type."""
    ed = error_details_pb2
    return [
        ed.ErrorInfo(reason="STOCK_EMPTY", domain="shop.example", metadata={"sku": "42", "bin": "7"}),
        ed.RetryInfo(retry_delay=duration_pb2.Duration(seconds=3, nanos=250_000_000)),
        ed.DebugInfo(stack_entries=["main", "handler"], detail="at line 7"),
        ed.QuotaFailure(violations=[ed.QuotaFailure.Violation(
            subject="project:demo", description="100 calls a minute", api_service="shop.example",
            quota_metric="calls", quota_id="per-minute", quota_dimensions={"region": "eu"},
            quota_value=100, future_quota_value=200)]),
        ed.PreconditionFailure(violations=[ed.PreconditionFailure.Violation(
            type="TOS", subject="user", description="terms not accepted")]),
        ed.BadRequest(field_violations=[
            ed.BadRequest.FieldViolation(
                field="items[2].price", description="must be positive", reason="NEGATIVE",
                localized_message=ed.LocalizedMessage(locale="fr-CH", message="doit être positif")),
            ed.BadRequest.FieldViolation(field="id", description="empty"),
        ]),
        ed.RequestInfo(request_id="req-1", serving_data="node 3"),
        ed.ResourceInfo(resource_type="order", resource_name="102", owner="alice",
                        description="locked"),
        ed.Help(links=[ed.Help.Link(description="pricing", url="https://shop.example/help")]),
        ed.LocalizedMessage(locale="en-US", message="Price must be positive"),
        wrappers_pb2.StringValue(value="an application's own detail"),
    ]


class Echo(test_pb2_grpc.EchoServicer):
    def Unary(self, request, context):
        case = request.message
        if case == "all":
            status = status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message="every detail",
                                       details=[packed(d) for d in every_detail()])
            context.abort_with_status(rpc_status.to_status(status))
        if case == "retry":
            ed = error_details_pb2
            details = [
                packed(ed.ErrorInfo(reason="OVERLOADED", domain="shop.example")),
                packed(ed.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1, nanos=500_000_000))),
            ]
            status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=RETRY_MESSAGE,
                                       details=details)
            context.abort_with_status(rpc_status.to_status(status))
        if case == "mismatch":
            rich = status_pb2.Status(code=code_pb2.NOT_FOUND, message="gone")
            context.set_trailing_metadata((("grpc-status-details-bin", rich.SerializeToString()),))
            context.abort(grpc.StatusCode.INTERNAL, "gone")
        if case == "plain":
            context.abort(grpc.StatusCode.NOT_FOUND, "nothing here")
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown case {case!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:0")
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    test_pb2_grpc.add_EchoServicer_to_server(Echo(), server)
    port = server.add_insecure_port(args.addr)
    if port == 0:
        sys.exit(f"details_server.py: cannot bind {args.addr}")
    server.start()
    print(f"details-server listening on {args.addr.rsplit(':', 1)[0]}:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
