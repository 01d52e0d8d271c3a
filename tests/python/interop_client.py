"""A Python grpcio interop client: the "Client" section of grpc/grpc
doc/interop-test-descriptions.md, for every case that needs no TLS or cloud credentials.

tests/interop_peers.rs runs it against our `interop-server`; it also runs against
tests/python/interop_server.py and tests/node/interop_server.js, which keeps the cases
themselves honest.

Usage: interop_client.py --server_host HOST --server_port PORT --test_case NAME|all
       [--use_tls=true [--use_test_ca=true --ca_file F] [--server_host_override NAME]]
--use_tls connects over TLS (grpc.ssl_channel_credentials), trusting the CAs in --ca_file
with --use_test_ca (grpcio's default roots without); --server_host_override is both the name
the server's certificate is checked against and the :authority (the spec's "Client" section),
through grpc.ssl_target_name_override and grpc.default_authority.
Prints `PASS <case>` or `FAIL <case>: <reason>` per case, then `N passed, M failed`;
exits 0 only if every case passed. Every RPC carries a deadline, so nothing hangs.

What grpcio cannot express, and what this client does instead:
- server_compressed_unary / server_compressed_streaming: grpcio does not show a received
  message's compressed flag (the spec allows this: "some languages may not have access to
  the message flags"). The cases check the calls succeed with the right sizes only.
- client_compressed_streaming: grpcio's public API compresses every message of a
  compressed call; it has no per-message switch. C-core does (the write flag
  GRPC_WRITE_NO_COMPRESS), and grpcio passes a flags word through to it, always 0. The
  case sets that flag for its second message by wrapping grpcio's internal
  `cygrpc.SendMessageOperation` (see `NoCompressNextMessage`): internal API, pinned by the
  grpcio version in requirements.txt. If that hook is missing the case FAILs saying so.
"""

import argparse
import queue
import sys
import threading
import traceback

import grpc
from grpc._cython import cygrpc

from interop_pb.grpc_testing import empty_pb2, messages_pb2, test_pb2_grpc

RPC_TIMEOUT_S = 10
ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_INITIAL_VALUE = "test_initial_metadata_value"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
ECHO_TRAILING_VALUE = b"\xab\xab\xab"
TEST_STATUS_MESSAGE = "test status message"
SPECIAL_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
REQUEST_SIZES = [27182, 8, 1828, 45904]
RESPONSE_SIZES = [31415, 9, 2653, 58979]
LARGE_REQUEST_SIZE = 271828
LARGE_RESPONSE_SIZE = 314159


class CaseFailed(Exception):
    pass


def check(condition, reason):
    if not condition:
        raise CaseFailed(reason)


def payload(size):
    return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE, body=bytes(size))


def check_body(body, size, what="response payload"):
    check(len(body) == size, f"{what} is {len(body)} bytes, expected {size}")
    check(body == bytes(size), f"{what} is not all zeros")


def expect_error(fn, code, message=None):
    """Runs fn, which must raise grpc.RpcError with `code` (and `message`, if given)."""
    try:
        fn()
    except grpc.RpcError as err:
        check(err.code() == code, f"expected {code.name}, got {err.code().name}: {err.details()!r}")
        if message is not None:
            check(err.details() == message, f"expected message {message!r}, got {err.details()!r}")
        return err
    raise CaseFailed(f"expected {code.name}, the call succeeded")


class Pipe:
    """A request iterator fed from the test's thread, for calls that interleave sends and
    receives. grpcio pulls from it on its own thread; `close()` ends the request stream."""

    _END = object()

    def __init__(self):
        self._queue = queue.Queue()

    def send(self, request):
        self._queue.put(request)

    def close(self):
        self._queue.put(self._END)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is self._END:
            raise StopIteration
        return item


class NoCompressNextMessage:
    """Makes the next request message grpcio sends (on the thread that calls `arm()`) go out
    with C-core's GRPC_WRITE_NO_COMPRESS flag: flag 0 on a gzip call.

    grpcio builds each send as `cygrpc.SendMessageOperation(bytes, flags)` on the thread that
    pulls the request iterator, right after pulling; so a generator that calls `arm()` just
    before yielding a message marks exactly that message. See the module doc.
    """

    def __init__(self):
        self._local = threading.local()
        self._original = getattr(cygrpc, "SendMessageOperation", None)
        self._flag = getattr(getattr(cygrpc, "WriteFlag", None), "no_compress", None)
        self.available = self._original is not None and self._flag is not None
        if self.available:
            cygrpc.SendMessageOperation = self._operation

    def arm(self):
        self._local.armed = True

    def _operation(self, message, flags):
        if getattr(self._local, "armed", False):
            self._local.armed = False
            flags |= self._flag
        return self._original(message, flags)


NO_COMPRESS_NEXT = NoCompressNextMessage()


class Cases:
    def __init__(self, channel):
        self.stub = test_pb2_grpc.TestServiceStub(channel)
        self.unimplemented = test_pb2_grpc.UnimplementedServiceStub(channel)

    def empty_unary(self):
        response = self.stub.EmptyCall(empty_pb2.Empty(), timeout=RPC_TIMEOUT_S)
        check(isinstance(response, empty_pb2.Empty), f"response is {type(response)}")

    def large_unary(self):
        request = messages_pb2.SimpleRequest(
            response_size=LARGE_RESPONSE_SIZE, payload=payload(LARGE_REQUEST_SIZE))
        response = self.stub.UnaryCall(request, timeout=RPC_TIMEOUT_S)
        check_body(response.payload.body, LARGE_RESPONSE_SIZE)

    def client_streaming(self):
        requests = [messages_pb2.StreamingInputCallRequest(payload=payload(n)) for n in REQUEST_SIZES]
        response = self.stub.StreamingInputCall(iter(requests), timeout=RPC_TIMEOUT_S)
        check(response.aggregated_payload_size == 74922,
              f"aggregated_payload_size {response.aggregated_payload_size}, expected 74922")

    def server_streaming(self):
        request = messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=n) for n in RESPONSE_SIZES])
        responses = list(self.stub.StreamingOutputCall(request, timeout=RPC_TIMEOUT_S))
        sizes = [len(r.payload.body) for r in responses]
        check(sizes == RESPONSE_SIZES, f"response sizes {sizes}, expected {RESPONSE_SIZES}")
        for i, r in enumerate(responses):
            check_body(r.payload.body, RESPONSE_SIZES[i], f"response {i}")

    def ping_pong(self):
        pipe = Pipe()
        call = self.stub.FullDuplexCall(pipe, timeout=RPC_TIMEOUT_S)
        try:
            for i, (request_size, response_size) in enumerate(zip(REQUEST_SIZES, RESPONSE_SIZES)):
                pipe.send(messages_pb2.StreamingOutputCallRequest(
                    response_parameters=[messages_pb2.ResponseParameters(size=response_size)],
                    payload=payload(request_size)))
                response = next(call, None)
                check(response is not None, f"stream ended before response {i}")
                check_body(response.payload.body, response_size, f"response {i}")
            pipe.close()
            rest = list(call)
            check(not rest, f"{len(rest)} responses after the fourth")
            check(call.code() == grpc.StatusCode.OK, f"status {call.code()}")
        finally:
            pipe.close()
            call.cancel()

    def empty_stream(self):
        responses = list(self.stub.FullDuplexCall(iter([]), timeout=RPC_TIMEOUT_S))
        check(not responses, f"{len(responses)} responses, expected none")

    def custom_metadata(self):
        metadata = [(ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE), (ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE)]

        def check_echo(what, initial, trailing):
            got_initial = [v for k, v in initial or () if k == ECHO_INITIAL_KEY]
            got_trailing = [v for k, v in trailing or () if k == ECHO_TRAILING_KEY]
            check(got_initial == [ECHO_INITIAL_VALUE],
                  f"{what}: initial metadata {ECHO_INITIAL_KEY} = {got_initial}")
            check(got_trailing == [ECHO_TRAILING_VALUE],
                  f"{what}: trailing metadata {ECHO_TRAILING_KEY} = {got_trailing}")

        request = messages_pb2.SimpleRequest(
            response_size=LARGE_RESPONSE_SIZE, payload=payload(LARGE_REQUEST_SIZE))
        response, call = self.stub.UnaryCall.with_call(
            request, metadata=metadata, timeout=RPC_TIMEOUT_S)
        check_body(response.payload.body, LARGE_RESPONSE_SIZE, "UnaryCall response")
        check_echo("UnaryCall", call.initial_metadata(), call.trailing_metadata())

        request = messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=LARGE_RESPONSE_SIZE)],
            payload=payload(LARGE_REQUEST_SIZE))
        call = self.stub.FullDuplexCall(iter([request]), metadata=metadata, timeout=RPC_TIMEOUT_S)
        responses = list(call)
        check(len(responses) == 1, f"FullDuplexCall: {len(responses)} responses, expected 1")
        check_body(responses[0].payload.body, LARGE_RESPONSE_SIZE, "FullDuplexCall response")
        check_echo("FullDuplexCall", call.initial_metadata(), call.trailing_metadata())

    def _status_echo(self, message, duplex):
        status = messages_pb2.EchoStatus(code=grpc.StatusCode.UNKNOWN.value[0], message=message)
        expect_error(
            lambda: self.stub.UnaryCall(
                messages_pb2.SimpleRequest(response_status=status), timeout=RPC_TIMEOUT_S),
            grpc.StatusCode.UNKNOWN, message)
        if duplex:
            request = messages_pb2.StreamingOutputCallRequest(response_status=status)
            expect_error(
                lambda: list(self.stub.FullDuplexCall(iter([request]), timeout=RPC_TIMEOUT_S)),
                grpc.StatusCode.UNKNOWN, message)

    def status_code_and_message(self):
        self._status_echo(TEST_STATUS_MESSAGE, duplex=True)

    def special_status_message(self):
        self._status_echo(SPECIAL_STATUS_MESSAGE, duplex=False)

    def unimplemented_method(self):
        expect_error(lambda: self.stub.UnimplementedCall(empty_pb2.Empty(), timeout=RPC_TIMEOUT_S),
                     grpc.StatusCode.UNIMPLEMENTED)

    def unimplemented_service(self):
        expect_error(
            lambda: self.unimplemented.UnimplementedCall(empty_pb2.Empty(), timeout=RPC_TIMEOUT_S),
            grpc.StatusCode.UNIMPLEMENTED)

    def cancel_after_begin(self):
        pipe = Pipe()
        future = self.stub.StreamingInputCall.future(pipe, timeout=RPC_TIMEOUT_S)
        try:
            future.cancel()
            check(future.cancelled(), "future not cancelled")
            check(future.code() == grpc.StatusCode.CANCELLED, f"status {future.code()}")
        finally:
            pipe.close()

    def cancel_after_first_response(self):
        pipe = Pipe()
        call = self.stub.FullDuplexCall(pipe, timeout=RPC_TIMEOUT_S)
        try:
            pipe.send(messages_pb2.StreamingOutputCallRequest(
                response_parameters=[messages_pb2.ResponseParameters(size=31415)],
                payload=payload(27182)))
            response = next(call, None)
            check(response is not None, "stream ended before the first response")
            check_body(response.payload.body, 31415)
            call.cancel()
            check(call.code() == grpc.StatusCode.CANCELLED, f"status {call.code()}")
        finally:
            pipe.close()

    def timeout_on_sleeping_server(self):
        pipe = Pipe()
        call = self.stub.FullDuplexCall(pipe, timeout=0.001)
        try:
            pipe.send(messages_pb2.StreamingOutputCallRequest(payload=payload(27182)))
            expect_error(lambda: list(call), grpc.StatusCode.DEADLINE_EXCEEDED)
        finally:
            pipe.close()

    def client_compressed_unary(self):
        def request(expect):
            return messages_pb2.SimpleRequest(
                expect_compressed=messages_pb2.BoolValue(value=expect),
                response_size=LARGE_RESPONSE_SIZE, payload=payload(LARGE_REQUEST_SIZE))

        # Feature probe: uncompressed but claiming to be compressed.
        expect_error(lambda: self.stub.UnaryCall(request(True), timeout=RPC_TIMEOUT_S),
                     grpc.StatusCode.INVALID_ARGUMENT)
        for expect, compression in ((True, grpc.Compression.Gzip),
                                    (False, grpc.Compression.NoCompression)):
            response = self.stub.UnaryCall(request(expect), compression=compression,
                                           timeout=RPC_TIMEOUT_S)
            check_body(response.payload.body, LARGE_RESPONSE_SIZE,
                       f"response (expect_compressed={expect})")

    def server_compressed_unary(self):
        # The compressed flag of the response is not visible in grpcio (module doc).
        for compressed in (True, False):
            request = messages_pb2.SimpleRequest(
                response_compressed=messages_pb2.BoolValue(value=compressed),
                response_size=LARGE_RESPONSE_SIZE, payload=payload(LARGE_REQUEST_SIZE))
            response = self.stub.UnaryCall(request, timeout=RPC_TIMEOUT_S)
            check_body(response.payload.body, LARGE_RESPONSE_SIZE,
                       f"response (response_compressed={compressed})")

    def client_compressed_streaming(self):
        check(NO_COMPRESS_NEXT.available,
              "grpcio internals changed: cannot send an uncompressed message on a compressed call")
        probe = messages_pb2.StreamingInputCallRequest(
            expect_compressed=messages_pb2.BoolValue(value=True), payload=payload(27182))
        expect_error(lambda: self.stub.StreamingInputCall(iter([probe]), timeout=RPC_TIMEOUT_S),
                     grpc.StatusCode.INVALID_ARGUMENT)

        def requests():
            yield messages_pb2.StreamingInputCallRequest(
                expect_compressed=messages_pb2.BoolValue(value=True), payload=payload(27182))
            NO_COMPRESS_NEXT.arm()
            yield messages_pb2.StreamingInputCallRequest(
                expect_compressed=messages_pb2.BoolValue(value=False), payload=payload(45904))

        response = self.stub.StreamingInputCall(requests(), compression=grpc.Compression.Gzip,
                                                timeout=RPC_TIMEOUT_S)
        check(response.aggregated_payload_size == 73086,
              f"aggregated_payload_size {response.aggregated_payload_size}, expected 73086")

    def server_compressed_streaming(self):
        # The compressed flags of the responses are not visible in grpcio (module doc).
        request = messages_pb2.StreamingOutputCallRequest(response_parameters=[
            messages_pb2.ResponseParameters(compressed=messages_pb2.BoolValue(value=True), size=31415),
            messages_pb2.ResponseParameters(compressed=messages_pb2.BoolValue(value=False), size=92653),
        ])
        responses = list(self.stub.StreamingOutputCall(request, timeout=RPC_TIMEOUT_S))
        sizes = [len(r.payload.body) for r in responses]
        check(sizes == [31415, 92653], f"response sizes {sizes}, expected [31415, 92653]")


CASES = [
    "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
    "empty_stream", "custom_metadata", "status_code_and_message", "special_status_message",
    "unimplemented_method", "unimplemented_service", "cancel_after_begin",
    "cancel_after_first_response", "timeout_on_sleeping_server", "client_compressed_unary",
    "server_compressed_unary", "client_compressed_streaming", "server_compressed_streaming",
]


def parse_bool(value):
    if value in ("true", "false"):
        return value == "true"
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def one_line(text):
    return " ".join(str(text).split())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server_host", default="127.0.0.1")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--test_case", default="all", help="a case name or 'all'")
    parser.add_argument("--use_tls", type=parse_bool, nargs="?", const=True, default=False)
    parser.add_argument("--use_test_ca", type=parse_bool, nargs="?", const=True, default=False)
    parser.add_argument("--ca_file")
    parser.add_argument("--server_host_override")
    args = parser.parse_args()
    if args.use_test_ca and not args.ca_file:
        parser.error("--use_test_ca needs --ca_file (no built-in copy of grpc's test CA here)")

    if args.test_case == "all":
        names = CASES
    elif args.test_case in CASES:
        names = [args.test_case]
    else:
        sys.exit(f"unknown test case {args.test_case!r}; known: all, {', '.join(CASES)}")

    passed = failed = 0
    target = f"{args.server_host}:{args.server_port}"
    if args.use_tls:
        roots = None
        if args.use_test_ca:
            with open(args.ca_file, "rb") as f:
                roots = f.read()
        options = []
        if args.server_host_override:
            options = [("grpc.ssl_target_name_override", args.server_host_override),
                       ("grpc.default_authority", args.server_host_override)]
        channel = grpc.secure_channel(
            target, grpc.ssl_channel_credentials(root_certificates=roots), options=options)
    else:
        channel = grpc.insecure_channel(target)
    with channel:
        cases = Cases(channel)
        for name in names:
            try:
                getattr(cases, name)()
            except CaseFailed as err:
                print(f"FAIL {name}: {one_line(err)}", flush=True)
                failed += 1
            except grpc.RpcError as err:
                print(f"FAIL {name}: unexpected {err.code().name}: {one_line(err.details())}", flush=True)
                failed += 1
            except Exception as err:  # a bug in the case itself: still one line, trace on stderr
                traceback.print_exc()
                print(f"FAIL {name}: {type(err).__name__}: {one_line(err)}", flush=True)
                failed += 1
            else:
                print(f"PASS {name}", flush=True)
                passed += 1
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
