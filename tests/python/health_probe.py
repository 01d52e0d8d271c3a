"""grpcio-health-checking as a peer of our health service, for tests/health.rs.

Usage:
  health_probe.py client ADDR check NAME...   Check each NAME, then List
  health_probe.py client ADDR watch NAME      Watch NAME until the call ends
  health_probe.py server                      grpcio's HealthServicer, driven on stdin

Client lines (NAME as a JSON string, so the empty name prints as ""):

  check "NAME" SERVING|NOT_SERVING|UNKNOWN   Check answered
  check "NAME" error CODE                    Check failed (CODE as grpc.StatusCode names it)
  list {"NAME": "STATUS", ...}               List answered (JSON, keys sorted)
  list error CODE                            List failed
  watch "NAME" STATUS                        one Watch message, as it arrives
  watch "NAME" end CODE                      the Watch call ended (OK if it ended cleanly)

The client uses grpcio-health-checking's generated stub
(grpc_health.v1.health_pb2_grpc.HealthStub); every call has a deadline.

The server runs grpc_health.v1.health.HealthServicer on 127.0.0.1, a free port, and
prints "health_probe listening on 127.0.0.1:PORT" first. Then it reads commands, one a
line, and prints "done COMMAND" once each has taken effect:

  set NAME STATUS     servicer.set(NAME, STATUS); NAME "-" stands for the empty name
  shutdown            servicer.enter_graceful_shutdown()
  quit                stop the server and exit

It exits by itself when stdin closes (the test died) or after SERVER_LIFETIME_S.
"""

import json
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

RPC_TIMEOUT_S = 10
WATCH_TIMEOUT_S = 60
SERVER_LIFETIME_S = 120

STATUS = health_pb2.HealthCheckResponse.ServingStatus


def say(line):
    print(line, flush=True)


def check(stub, names):
    for name in names:
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=RPC_TIMEOUT_S)
            say(f"check {json.dumps(name)} {STATUS.Name(reply.status)}")
        except grpc.RpcError as err:
            say(f"check {json.dumps(name)} error {err.code().name}")
    try:
        reply = stub.List(health_pb2.HealthListRequest(), timeout=RPC_TIMEOUT_S)
        statuses = {name: STATUS.Name(r.status) for name, r in reply.statuses.items()}
        say(f"list {json.dumps(statuses, sort_keys=True)}")
    except grpc.RpcError as err:
        say(f"list error {err.code().name}")


def watch(stub, name):
    call = stub.Watch(health_pb2.HealthCheckRequest(service=name), timeout=WATCH_TIMEOUT_S)
    try:
        for reply in call:
            say(f"watch {json.dumps(name)} {STATUS.Name(reply.status)}")
        say(f"watch {json.dumps(name)} end OK")
    except grpc.RpcError as err:
        say(f"watch {json.dumps(name)} end {err.code().name}")


def client(addr, mode, names):
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        if mode == "check":
            check(stub, names)
        elif mode == "watch" and len(names) == 1:
            watch(stub, names[0])
        else:
            sys.exit(f"bad client mode {mode!r} {names!r}")


def server():
    servicer = health.HealthServicer()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    say(f"health_probe listening on 127.0.0.1:{port}")

    stop = threading.Event()
    lifetime = threading.Timer(SERVER_LIFETIME_S, stop.set)
    lifetime.daemon = True
    lifetime.start()

    def commands():
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["set"] and len(words) == 3:
                name = "" if words[1] == "-" else words[1]
                servicer.set(name, STATUS.Value(words[2]))
            elif words == ["shutdown"]:
                servicer.enter_graceful_shutdown()
            elif words == ["quit"]:
                break
            else:
                say(f"bad command {line.strip()!r}")
                continue
            say(f"done {' '.join(words)}")
        stop.set()

    threading.Thread(target=commands, daemon=True).start()
    stop.wait()
    srv.stop(grace=None).wait(RPC_TIMEOUT_S)
    say("stopped")


def main(argv):
    if argv[:1] == ["client"] and len(argv) >= 3:
        client(argv[1], argv[2], argv[3:])
    elif argv == ["server"]:
        server()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
