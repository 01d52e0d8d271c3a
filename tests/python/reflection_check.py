"""Checks a server's reflection service with grpcio's own reflection client.

tests/reflection.rs runs it against our server: reflection over the order service's
FILE_DESCRIPTOR_SET and two hand-made proto2 files with extensions (test/base.proto:
message Base with extension range 100..200; test/ext.proto: `extend Base` with field 100 at
the top level and 150 inside message Holder, and service test.ext.Probe).

grpcio-reflection's ProtoReflectionDescriptorDatabase speaks grpc.reflection.v1alpha, one
stream per query; each check uses a fresh database, so every lookup goes to the server.
Extensions by number go through grpcio-reflection's generated stub (see that check).

Usage: reflection_check.py --addr HOST:PORT
Prints `PASS name` or `FAIL name: reason` per check, then `N passed, M failed`; exits 1 if
any check failed.
"""

import argparse
import sys
import traceback

import grpc
from google.protobuf import descriptor_database, descriptor_pb2, descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_reflection.v1alpha.reflection_pb2 import ExtensionRequest, ServerReflectionRequest
from grpc_reflection.v1alpha.reflection_pb2_grpc import ServerReflectionStub

import order_management_pb2

SERVICES = [
    "ecommerce.OrderManagement",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "test.ext.Probe",
]


class CheckFailed(Exception):
    pass


def expect(condition, reason):
    if not condition:
        raise CheckFailed(reason)


def local_file(db, name):
    """The file if an earlier response already delivered it (no server request)."""
    try:
        return descriptor_database.DescriptorDatabase.FindFileByName(db, name)
    except KeyError:
        return None


def expect_key_error(call, what):
    try:
        result = call()
    except KeyError:
        return
    raise CheckFailed(f"{what}: expected NOT_FOUND (KeyError), got {result!r}")


def check_list_services(channel):
    services = sorted(ProtoReflectionDescriptorDatabase(channel).get_services())
    expect(services == SERVICES, f"services {services}")


def check_file_by_filename(channel):
    db = ProtoReflectionDescriptorDatabase(channel)
    fd = db.FindFileByName("order_management.proto")
    expect(fd.package == "ecommerce", f"package {fd.package!r}")
    expect(list(fd.dependency) == ["google/protobuf/wrappers.proto"], f"deps {fd.dependency}")
    methods = [m.name for m in fd.service[0].method]
    expect(
        methods == ["addOrder", "getOrder", "searchOrders", "updateOrders", "processOrders"],
        f"methods {methods}",
    )
    # The import came in the same response.
    wrappers = local_file(db, "google/protobuf/wrappers.proto")
    expect(wrappers is not None, "wrappers.proto not sent with its importer")
    expect("StringValue" in [m.name for m in wrappers.message_type], "StringValue missing")


def check_file_containing_symbol(channel):
    cases = {
        "ecommerce.OrderManagement": "order_management.proto",
        "ecommerce.OrderManagement.getOrder": "order_management.proto",
        "ecommerce.Order": "order_management.proto",
        "ecommerce.Order.price": "order_management.proto",
        "ecommerce.CombinedShipment.ordersList": "order_management.proto",
        "google.protobuf.StringValue": "google/protobuf/wrappers.proto",
        "test.base.Base.id": "test/base.proto",
        "test.ext.weight": "test/ext.proto",
        "test.ext.Holder.note": "test/ext.proto",
        "test.ext.Probe.Ping": "test/ext.proto",
    }
    for symbol, file_name in cases.items():
        fd = ProtoReflectionDescriptorDatabase(channel).FindFileContainingSymbol(symbol)
        expect(fd.name == file_name, f"{symbol}: in {fd.name!r}, expected {file_name!r}")


def check_pool_builds_the_service(channel):
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    service = pool.FindServiceByName("ecommerce.OrderManagement")
    shapes = {
        m.name: (m.input_type.full_name, m.output_type.full_name, m.client_streaming, m.server_streaming)
        for m in service.methods
    }
    string = "google.protobuf.StringValue"
    expected = {
        "addOrder": ("ecommerce.Order", string, False, False),
        "getOrder": (string, "ecommerce.Order", False, False),
        "searchOrders": (string, "ecommerce.Order", False, True),
        "updateOrders": ("ecommerce.Order", string, True, False),
        "processOrders": (string, "ecommerce.CombinedShipment", True, True),
    }
    expect(shapes == expected, f"methods {shapes}")
    # A message class made from the reflected descriptor encodes as grpc_tools' stub does.
    order_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("ecommerce.Order"))
    fields = dict(id="7", items=["a", "b"], description="d", price=2.5, destination="x")
    reflected = order_class(**fields).SerializeToString()
    generated = order_management_pb2.Order(**fields).SerializeToString()
    expect(reflected == generated, f"{reflected!r} != {generated!r}")


def check_file_containing_extension(channel):
    # ProtoReflectionDescriptorDatabase.FindFileContainingExtension asks its base class first,
    # and protobuf's pure-Python DescriptorDatabase answers None there instead of raising
    # KeyError, so it never asks the server. grpcio-reflection's generated v1alpha stub does:
    # three requests on one stream, answered in order.
    def asking(number):
        return ServerReflectionRequest(
            host="h",
            file_containing_extension=ExtensionRequest(
                containing_type="test.base.Base", extension_number=number
            ),
        )

    requests = [asking(100), asking(150), asking(101)]
    stream = ServerReflectionStub(channel).ServerReflectionInfo(iter(requests), timeout=10)
    responses = list(stream)
    expect(len(responses) == 3, f"{len(responses)} responses")
    for request, response in zip(requests, responses):
        expect(response.original_request == request, f"echo {response.original_request}")
        expect(response.valid_host == "h", f"valid_host {response.valid_host!r}")

    def names(response):
        expect(response.WhichOneof("message_response") == "file_descriptor_response", f"{response}")
        return [
            descriptor_pb2.FileDescriptorProto.FromString(b).name
            for b in response.file_descriptor_response.file_descriptor_proto
        ]

    expect(names(responses[0]) == ["test/ext.proto", "test/base.proto"], f"100: {names(responses[0])}")
    # Its import was sent on this stream already.
    expect(names(responses[1]) == ["test/ext.proto"], f"150: {names(responses[1])}")
    missing = responses[2]
    expect(missing.WhichOneof("message_response") == "error_response", f"101: {missing}")
    expect(missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0], f"{missing}")

    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    holder = pool.FindMessageTypeByName("test.ext.Holder")
    note = holder.extensions_by_name["note"]
    expect(
        (note.number, note.containing_type.full_name) == (150, "test.base.Base"),
        f"note: {note.number} of {note.containing_type.full_name}",
    )


def check_all_extension_numbers(channel):
    numbers = ProtoReflectionDescriptorDatabase(channel).FindAllExtensionNumbers("test.base.Base")
    expect(sorted(numbers) == [100, 150], f"numbers {numbers}")
    none = ProtoReflectionDescriptorDatabase(channel).FindAllExtensionNumbers("ecommerce.Order")
    expect(list(none) == [], f"ecommerce.Order: {none}")


def check_not_found(channel):
    new = lambda: ProtoReflectionDescriptorDatabase(channel)  # noqa: E731
    expect_key_error(lambda: new().FindFileByName("nope.proto"), "file nope.proto")
    expect_key_error(lambda: new().FindFileContainingSymbol("ecommerce.Nope"), "ecommerce.Nope")
    expect_key_error(lambda: new().FindFileContainingSymbol("ecommerce"), "a package")
    expect_key_error(
        lambda: new().FindAllExtensionNumbers("test.base.Nope"), "extensions of test.base.Nope"
    )


CHECKS = [
    check_list_services,
    check_file_by_filename,
    check_file_containing_symbol,
    check_pool_builds_the_service,
    check_file_containing_extension,
    check_all_extension_numbers,
    check_not_found,
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    args = parser.parse_args()
    passed = failed = 0
    with grpc.insecure_channel(args.addr) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        for check in CHECKS:
            name = check.__name__.removeprefix("check_")
            try:
                check(channel)
            except CheckFailed as e:
                failed += 1
                print(f"FAIL {name}: {e}")
            except Exception:  # a crash is a failure with its traceback
                failed += 1
                print(f"FAIL {name}: {traceback.format_exc()}")
            else:
                passed += 1
                print(f"PASS {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
