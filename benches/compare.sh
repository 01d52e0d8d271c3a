#!/usr/bin/env bash
# benches/compare.sh — h2grpc side by side with tonic 0.14 and a bare-h2 ceiling,
# in one run, on one machine (issue 6). Loopback only; every step is time-bounded.
#
#   bash benches/compare.sh            # build (release), run everything, print the tables
#
# What it does:
#   1. builds (release) order-server + order-bench here, and the peers under
#      benches/peers/ (tonic-order-server + tonic-order-bench, h2-ceiling) into
#      benches/peers/target (separate crates, not in the workspace);
#   2. installs h2load (Debian nghttp2-client) if missing;
#   3. starts the servers on 127.0.0.1 with OS-picked ports: h2grpc's order-server
#      and the bare-h2 ceiling each twice, on the caller's work-stealing runtime
#      (the default) and with `--connection-threads $(nproc)` (connections on
#      single-threaded runtimes of their own), and the tonic server;
#   4. unary getOrder("102") with the SAME h2load command against each server,
#      ROUNDS rounds in rotating order; checks h2load's response data bytes equal
#      calls x 79 (the framed reply; h2load counts gRPC errors as 2xx), and reads
#      each server's CPU time (/proc/PID/stat utime+stime) around every run;
#   5. order-bench (our client) modes against our server and the tonic server,
#      alternating, ROUNDS rounds;
#   6. our client vs tonic's client (tonic-order-bench) against each server, alternating;
#   7. allocation counts per call (order-bench / tonic-order-bench --count-allocs);
#   8. server and client instructions per unary call under callgrind (if valgrind is installed);
#   9. prints medians and ratios (markdown), keeps raw results in $OUT.
#
# Allocator: every binary runs on the system allocator (glibc malloc). The two
# bench clients wrap it in a counting allocator that is off unless --count-allocs.
# No CPU pinning: servers and load generators share the machine's cores.
#
# Knobs (environment): ROUNDS (3), H2LOAD_N (200000), BENCH_SECS (3), WARMUP_SECS (1),
# OUT (a fresh /tmp dir), SKIP_BUILD=1, CALLGRIND=0 (skip step 8), CALLGRIND_N (20000).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=$ROOT/benches/peers
PEER_TARGET=$PEERS/target
ROUNDS=${ROUNDS:-3}
H2LOAD_N=${H2LOAD_N:-200000}
BENCH_SECS=${BENCH_SECS:-3}
WARMUP_SECS=${WARMUP_SECS:-1}
OUT=${OUT:-$(mktemp -d /tmp/h2grpc-compare.XXXXXX)}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: > "$RESULTS"

# getOrder("102") reply: 5-byte prefix + 74-byte Order (see order-bench modes.rs test).
REPLY_BYTES=79
# Every external command gets at most this long.
STEP_TIMEOUT=120

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'compare.sh: FAILED: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- 1. build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building (release): h2grpc order-server, order-bench"
  (cd "$ROOT" && cargo build --release --bin order-server --bin order-bench)
  log "building (release): tonic peer, h2 ceiling (first build takes minutes)"
  CARGO_TARGET_DIR=$PEER_TARGET cargo build --release \
    --manifest-path "$PEERS/tonic-order-server/Cargo.toml"
  CARGO_TARGET_DIR=$PEER_TARGET cargo build --release \
    --manifest-path "$PEERS/h2-ceiling/Cargo.toml"
fi
OUR_SERVER=$ROOT/target/release/order-server
OUR_BENCH=$ROOT/target/release/order-bench
TONIC_SERVER=$PEER_TARGET/release/tonic-order-server
TONIC_BENCH=$PEER_TARGET/release/tonic-order-bench
CEILING=$PEER_TARGET/release/h2-ceiling
for b in "$OUR_SERVER" "$OUR_BENCH" "$TONIC_SERVER" "$TONIC_BENCH" "$CEILING"; do
  [ -x "$b" ] || die "missing binary $b (run without SKIP_BUILD=1)"
done

# ---------------------------------------------------------------- 2. h2load
if ! command -v h2load > /dev/null; then
  log "installing h2load (nghttp2-client)"
  apt-get install -y nghttp2-client > "$OUT/apt.log" 2>&1 ||
    { apt-get update > /dev/null 2>&1 && apt-get install -y nghttp2-client > "$OUT/apt.log" 2>&1; } ||
    die "cannot install nghttp2-client (see $OUT/apt.log)"
fi

# ---------------------------------------------------------------- 3. servers
declare -A PID ADDR
cleanup() {
  for name in "${!PID[@]}"; do kill "${PID[$name]}" 2> /dev/null || true; done
  wait 2> /dev/null || true
}
trap cleanup EXIT

start_server() { # name command...
  local name=$1; shift
  RUST_LOG=warn "$@" --addr 127.0.0.1:0 > "$OUT/$name.out" 2> "$OUT/$name.err" &
  PID[$name]=$!
  local i
  for i in $(seq 100); do
    if grep -q ' listening on ' "$OUT/$name.out" 2> /dev/null; then
      ADDR[$name]=$(sed -n 's/.* listening on //p' "$OUT/$name.out" | head -n1)
      log "$name (pid ${PID[$name]}) on ${ADDR[$name]}"
      return
    fi
    sleep 0.1
  done
  die "$name did not start (see $OUT/$name.err)"
}
# RUST_LOG=warn: order-server logs every call at debug level by default; a
# benchmark measures the runtime, not the log writer. The peers log nothing.
THREADS=$(nproc)
start_server ours "$OUR_SERVER"
start_server ours-ct "$OUR_SERVER" --connection-threads "$THREADS"
start_server tonic "$TONIC_SERVER"
start_server ceiling "$CEILING"
start_server ceiling-ct "$CEILING" --connection-threads "$THREADS"

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # utime + stime of a pid, in clock ticks (fields 14, 15 of /proc/PID/stat)
  sed -E 's/^[0-9]+ \(.*\) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
vm_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- 4. h2load unary
BODY=$OUT/getorder.bin
# 5-byte prefix (flag 0, length 5) + StringValue{value:"102"}: 0a 03 31 30 32.
printf '\x00\x00\x00\x00\x05\x0a\x03102' > "$BODY"

h2load_run() { # server round n
  local name=$1 round=$2 n=$3 pid=${PID[$1]}
  local before after out
  before=$(cpu_ticks "$pid")
  out=$(timeout "$STEP_TIMEOUT" h2load -n "$n" -c 4 -m 64 -d "$BODY" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://${ADDR[$name]}/ecommerce.OrderManagement/getOrder" 2>&1) ||
    die "h2load against $name exited non-zero: $out"
  after=$(cpu_ticks "$pid")
  echo "$out" > "$OUT/h2load-$name-$round.txt"
  local rps succeeded data
  rps=$(echo "$out" | sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p')
  succeeded=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
  data=$(echo "$out" | sed -n 's/^traffic: .*(\([0-9]*\)) data$/\1/p')
  [ -n "$rps" ] && [ -n "$data" ] || die "cannot parse h2load output for $name (see $OUT/h2load-$name-$round.txt)"
  if [ "$succeeded" != "$n" ] || [ "$data" != $((n * REPLY_BYTES)) ]; then
    die "$name round $round: $succeeded/$n succeeded, $data data bytes, expected $((n * REPLY_BYTES)) (= $n x $REPLY_BYTES): some calls did not get the reply"
  fi
  [ "$round" = warmup ] && return
  local cpu_us
  cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN {printf "%.3f", t * 1e6 / hz / n}')
  printf '{"kind":"h2load","server":"%s","round":%s,"calls":%s,"calls_per_s":%s,"cpu_us_per_call":%s}\n' \
    "$name" "$round" "$n" "$rps" "$cpu_us" >> "$RESULTS"
  log "h2load $name round $round: $rps calls/s, $cpu_us µs CPU/call"
}

SERVERS=(ours ours-ct tonic ceiling ceiling-ct)
log "h2load warm-up (not counted)"
for s in "${SERVERS[@]}"; do h2load_run "$s" warmup 20000; done
for r in $(seq "$ROUNDS"); do
  # Rotate the order each round so no server always runs first or last.
  for i in "${!SERVERS[@]}"; do
    h2load_run "${SERVERS[$(((i + r - 1) % ${#SERVERS[@]}))]}" "$r" "$H2LOAD_N"
  done
done
for s in "${SERVERS[@]}"; do
  printf '{"kind":"rss","phase":"after-h2load","server":"%s","vm_hwm_kib":%s}\n' "$s" "$(vm_hwm_kib "${PID[$s]}")" >> "$RESULTS"
done

# ---------------------------------------------------------------- 5./6. bench clients
bench_run() { # label client server round args...
  local label=$1 client=$2 server=$3 round=$4; shift 4
  local bin=$OUR_BENCH
  [ "$client" = tonic ] && bin=$TONIC_BENCH
  local line
  line=$(timeout "$STEP_TIMEOUT" "$bin" --addr "${ADDR[$server]}" --target "$server" \
    --duration "$BENCH_SECS" --warmup "$WARMUP_SECS" --json "$@") ||
    die "$label: $client client against $server failed (exit $?): $line"
  printf '{"kind":"bench","label":"%s","client":"%s","server":"%s","round":%s,"report":%s}\n' \
    "$label" "$client" "$server" "$round" "$line" >> "$RESULTS"
  log "$label $client->$server round $round: $(echo "$line" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["calls_per_s"], "calls/s", r["messages_per_s"], "msgs/s", r["latency_us"]["p50"], "µs p50")')"
}

# label | order-bench arguments
MODES=(
  "unary-1x1|--mode unary --connections 1 --concurrency 1"
  "unary-4x64|--mode unary --connections 4 --concurrency 64"
  "server-stream-64B|--mode server-stream --connections 1 --concurrency 4 --order-bytes 64 --stream-count 1000"
  "server-stream-4KiB|--mode server-stream --connections 1 --concurrency 4 --order-bytes 4096 --stream-count 1000"
  "client-stream-64B|--mode client-stream --connections 1 --concurrency 4 --order-bytes 64 --stream-count 1000"
  "bidi-1x1|--mode bidi --connections 1 --concurrency 1"
)
BENCH_SERVERS=(ours ours-ct tonic)
for r in $(seq "$ROUNDS"); do
  for m in "${MODES[@]}"; do
    label=${m%%|*}; args=${m#*|}
    for i in "${!BENCH_SERVERS[@]}"; do
      s=${BENCH_SERVERS[$(((i + r - 1) % ${#BENCH_SERVERS[@]}))]}
      # shellcheck disable=SC2086
      bench_run "$label" ours "$s" "$r" $args
    done
  done
done

CLIENT_MODES=(
  "client-unary-4x64|--mode unary --connections 4 --concurrency 64"
  "client-unary-1x1|--mode unary --connections 1 --concurrency 1"
)
for r in $(seq "$ROUNDS"); do
  for m in "${CLIENT_MODES[@]}"; do
    label=${m%%|*}; args=${m#*|}
    for s in ours tonic; do
      clients=(ours tonic); [ $((r % 2)) = 0 ] && clients=(tonic ours)
      for c in "${clients[@]}"; do
        # shellcheck disable=SC2086
        bench_run "$label" "$c" "$s" "$r" $args
      done
    done
  done
done
for s in "${SERVERS[@]}"; do
  printf '{"kind":"rss","phase":"end","server":"%s","vm_hwm_kib":%s}\n' "$s" "$(vm_hwm_kib "${PID[$s]}")" >> "$RESULTS"
done

# ---------------------------------------------------------------- 7. allocations
log "allocation counts (in-process server + client, counted per side)"
for impl in ours tonic; do
  bin=$OUR_BENCH; [ "$impl" = tonic ] && bin=$TONIC_BENCH
  line=$(timeout "$STEP_TIMEOUT" "$bin" --count-allocs --calls 20000 --order-bytes 64 --stream-count 1000 --json) ||
    die "--count-allocs for $impl failed: $line"
  printf '{"kind":"allocs","impl":"%s","report":%s}\n' "$impl" "$line" >> "$RESULTS"
done

# ---------------------------------------------------------------- 8. instructions (callgrind)
# Wall-clock figures on a shared 2-core machine are noisy; instruction counts
# are not. Each server runs under callgrind, gets 2,000 warm-up calls, has its
# counters zeroed, then serves CALLGRIND_N calls of the same h2load command
# (reply bytes checked); instructions per call = the dump's total / calls.
# Set CALLGRIND=0 to skip (it needs valgrind: apt-get install valgrind).
CALLGRIND_N=${CALLGRIND_N:-20000}
callgrind_run() { # name binary
  local name=$1 bin=$2
  local out=$OUT/callgrind.$name
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --addr 127.0.0.1:0 \
    > "$out.stdout" 2> "$out.stderr" &
  local vpid=$! addr="" i
  for i in $(seq 300); do
    addr=$(sed -n 's/.* listening on //p' "$out.stdout" 2> /dev/null | head -n1)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { kill "$vpid"; die "$name did not start under valgrind (see $out.stderr)"; }
  local n
  for n in 2000 "$CALLGRIND_N"; do
    [ "$n" = "$CALLGRIND_N" ] && callgrind_control -z "$vpid" > /dev/null
    local h
    h=$(timeout "$STEP_TIMEOUT" h2load -n "$n" -c 4 -m 64 -d "$BODY" \
      -H 'content-type: application/grpc' -H 'te: trailers' \
      "http://$addr/ecommerce.OrderManagement/getOrder" 2>&1) || { kill "$vpid"; die "h2load under callgrind ($name) failed"; }
    # A here-string, not a pipe: under pipefail, grep -q closing early would fail the echo.
    grep -q "($((n * REPLY_BYTES))) data\$" <<< "$h" || { kill "$vpid"; die "callgrind $name: wrong reply bytes: $h"; }
  done
  callgrind_control -d "$vpid" > /dev/null
  sleep 1
  kill "$vpid" 2> /dev/null || true
  wait "$vpid" 2> /dev/null || true
  local total
  callgrind_annotate --inclusive=no --threshold=100 "$out.1" > "$out.annotate.txt" 2> /dev/null
  total=$(sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' "$out.annotate.txt" | tr -d ,)
  [ -n "$total" ] || die "no callgrind total for $name (see $out.annotate.txt)"
  printf '{"kind":"callgrind","server":"%s","calls":%s,"instructions":%s}\n' "$name" "$CALLGRIND_N" "$total" >> "$RESULTS"
  log "callgrind $name: $((total / CALLGRIND_N)) instructions per call"
}
# The clients the same way: each bench client runs under callgrind against the
# bare-h2 server (natively run, answers every call) for CLIENT_CALLGRIND_SECS,
# 1 connection x 16 calls, no warm-up; instructions per call = the whole
# process's total (start-up included, a few percent at most) / calls completed.
CLIENT_CALLGRIND_SECS=${CLIENT_CALLGRIND_SECS:-10}
callgrind_client() { # name binary
  local name=$1 bin=$2
  local out=$OUT/callgrind-client.$name line total calls
  line=$(timeout "$STEP_TIMEOUT" valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" \
    --addr "${ADDR[ceiling]}" --mode unary --connections 1 --concurrency 16 \
    --duration "$CLIENT_CALLGRIND_SECS" --warmup 0 --json 2> "$out.stderr") ||
    die "$name client under callgrind failed (see $out.stderr)"
  callgrind_annotate --inclusive=no --threshold=100 "$out" > "$out.annotate.txt" 2> /dev/null
  total=$(sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' "$out.annotate.txt" | tr -d ,)
  calls=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["calls"])' "$line")
  [ -n "$total" ] && [ "$calls" -gt 0 ] || die "no callgrind total or no calls for the $name client"
  printf '{"kind":"callgrind-client","client":"%s","calls":%s,"instructions":%s}\n' "$name" "$calls" "$total" >> "$RESULTS"
  log "callgrind $name client: $((total / calls)) instructions per call ($calls calls)"
}
if [ "${CALLGRIND:-1}" = 1 ]; then
  if command -v valgrind > /dev/null && command -v callgrind_control > /dev/null; then
    log "instruction counts under callgrind ($CALLGRIND_N calls per server)"
    callgrind_run ours "$OUR_SERVER"
    callgrind_run tonic "$TONIC_SERVER"
    callgrind_run ceiling "$CEILING"
    log "client instruction counts under callgrind (${CLIENT_CALLGRIND_SECS} s each, against bare h2)"
    callgrind_client ours "$OUR_BENCH"
    callgrind_client tonic "$TONIC_BENCH"
  else
    log "valgrind not installed: skipping instruction counts (apt-get install valgrind)"
  fi
fi

# ---------------------------------------------------------------- 9. tables
MACHINE="$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(uname -r)"
python3 - "$RESULTS" "$MACHINE" "$ROUNDS" "$H2LOAD_N" "$BENCH_SECS" <<'PY' | tee "$OUT/report.md"
import json, statistics, sys

path, machine, rounds, h2load_n, bench_secs = sys.argv[1:6]
rows = [json.loads(line) for line in open(path) if line.strip()]
NAMES = {"ours": "h2grpc", "ours-ct": "h2grpc, connection threads", "tonic": "tonic 0.14",
         "ceiling": "bare h2", "ceiling-ct": "bare h2, connection threads"}
# The bare-h2 server run the same way (same threading) as each server.
SAME = {"ours": "ceiling", "ours-ct": "ceiling-ct", "tonic": "ceiling",
        "ceiling": "ceiling", "ceiling-ct": "ceiling-ct"}

def med(xs):
    return statistics.median(xs) if xs else float("nan")

def spread(xs, fmt):
    return f"{fmt(med(xs))} ({fmt(min(xs))}–{fmt(max(xs))})" if xs else "n/a"

def k(x):
    return f"{x / 1000:.1f}k" if x >= 10000 else f"{x:.0f}"

def f1(x):
    return f"{x:.1f}"

def ratio(a, b):
    return a / b if b else float("nan")

h2 = {s: [r for r in rows if r["kind"] == "h2load" and r["server"] == s] for s in NAMES}
rate = {s: [r["calls_per_s"] for r in h2[s]] for s in NAMES}
cpu = {s: [r["cpu_us_per_call"] for r in h2[s]] for s in NAMES}
rss = {(r["phase"], r["server"]): r["vm_hwm_kib"] / 1024 for r in rows if r["kind"] == "rss"}

def bench(label, client, server, key):
    out = []
    for r in rows:
        if r["kind"] == "bench" and r["label"] == label and r["client"] == client and r["server"] == server:
            rep = r["report"]
            if rep["error_total"]:
                out.append(float("nan"))
            elif key.startswith("p"):
                out.append(rep["latency_us"][key])
            else:
                out.append(rep[key])
    return out

print(f"Machine: {machine}. Allocator: system malloc (glibc) in every binary. "
      f"No CPU pinning. Medians of {rounds} rounds (min–max), alternating order. "
      "\"connection threads\": `--connection-threads` = the core count, connections round-robin "
      "onto single-threaded runtimes (h2grpc's `Builder::connection_threads`); otherwise every "
      "server runs on tokio's default work-stealing runtime.")
print()
print(f"**Unary `getOrder(\"102\")` under h2load** (`-n {h2load_n} -c 4 -m 64`, the same command for every server; "
      f"reply bytes checked = calls × 79):")
print()
print("| server | calls/s | server CPU µs/call | peak RSS after h2load / at end (MiB) | calls/s ÷ tonic | "
      "CPU ÷ tonic | calls/s ÷ bare h2, same threading |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for s in NAMES:
    print(f"| {NAMES[s]} | {spread(rate[s], k)} | {spread(cpu[s], lambda x: f'{x:.2f}')} | "
          f"{rss.get(('after-h2load', s), float('nan')):.1f} / {rss.get(('end', s), float('nan')):.1f} | "
          f"{ratio(med(rate[s]), med(rate['tonic'])):.2f} | {ratio(med(cpu[s]), med(cpu['tonic'])):.2f} | "
          f"{ratio(med(rate[s]), med(rate[SAME[s]])):.2f} |")
print()
cg = {r["server"]: r["instructions"] / r["calls"] for r in rows if r["kind"] == "callgrind"}
CG_SERVERS = ("ours", "tonic", "ceiling")
if len(cg) == 3:
    print("**Server instructions per unary call** (callgrind, same h2load command, after 2,000 warm-up calls; "
          "deterministic, so not disturbed by other load on the machine):")
    print()
    print("| server | instructions/call | ÷ tonic | ÷ bare h2 |")
    print("| --- | --- | --- | --- |")
    for s in CG_SERVERS:
        print(f"| {NAMES[s]} | {cg[s]:,.0f} | {cg[s] / cg['tonic']:.2f} | {cg[s] / cg['ceiling']:.2f} |")
    print()
cgc = {r["client"]: r["instructions"] / r["calls"] for r in rows if r["kind"] == "callgrind-client"}
if len(cgc) == 2:
    print("**Client instructions per unary call** (callgrind; order-bench vs tonic-order-bench against the bare-h2 "
          "server, 1 connection × 16 calls; start-up included):")
    print()
    print("| client | instructions/call | ÷ tonic |")
    print("| --- | --- | --- |")
    for c in ("ours", "tonic"):
        print(f"| {NAMES[c]} | {cgc[c]:,.0f} | {cgc[c] / cgc['tonic']:.2f} |")
    print()
print(f"**order-bench (h2grpc's client) against each server** ({bench_secs} s windows after warm-up; "
      "1000 orders per streaming call; connections × concurrent calls per connection):")
print()
FIGS = [
    ("unary 1×1: p50 latency (µs)", "unary-1x1", "p50", f1, "lower"),
    ("unary 1×1: p99 latency (µs)", "unary-1x1", "p99", f1, "lower"),
    ("unary 4×64: calls/s", "unary-4x64", "calls_per_s", k, "higher"),
    ("server-streaming 64 B, 1×4: msgs/s", "server-stream-64B", "messages_per_s", k, "higher"),
    ("server-streaming 4 KiB, 1×4: MB/s", "server-stream-4KiB", "mb_per_s", f1, "higher"),
    ("client-streaming 64 B, 1×4: msgs/s", "client-stream-64B", "messages_per_s", k, "higher"),
    ("bidi ping-pong 1×1 (3 ids → 2 shipments): p50 (µs)", "bidi-1x1", "p50", f1, "lower"),
]
print("| figure | h2grpc server | h2grpc, connection threads | tonic server | h2grpc ÷ tonic | "
      "connection threads ÷ tonic |")
print("| --- | --- | --- | --- | --- | --- |")
res = {}
for name, label, key, fmt, _ in FIGS:
    a, c, b = (bench(label, "ours", s, key) for s in ("ours", "ours-ct", "tonic"))
    res[label, key] = ratio(med(a), med(b))
    res[label, key, "ct"] = ratio(med(c), med(b))
    print(f"| {name} | {spread(a, fmt)} | {spread(c, fmt)} | {spread(b, fmt)} | {res[label, key]:.2f} | "
          f"{res[label, key, 'ct']:.2f} |")
print()
print("**Clients against the same server** (order-bench vs tonic-order-bench, unary `getOrder`):")
print()
print("| server | figure | h2grpc client | tonic client | h2grpc ÷ tonic |")
print("| --- | --- | --- | --- | --- |")
for s in ("ours", "tonic"):
    for name, label, key, fmt in (("4×64 calls/s", "client-unary-4x64", "calls_per_s", k),
                                  ("1×1 p50 latency (µs)", "client-unary-1x1", "p50", f1)):
        a, b = bench(label, "ours", s, key), bench(label, "tonic", s, key)
        res[label, key, s] = ratio(med(a), med(b))
        print(f"| {NAMES[s]} | {name} | {spread(a, fmt)} | {spread(b, fmt)} | {res[label, key, s]:.2f} |")
print()
allocs = {r["impl"]: r["report"] for r in rows if r["kind"] == "allocs"}
if len(allocs) == 2:
    print("**Allocations** (in-process server and client, each on its own thread, counted per side; "
          "20,000 sequential unary calls; 200 searchOrders calls × 1000 orders of 64 B):")
    print()
    print("| per | h2grpc | tonic | h2grpc ÷ tonic |")
    print("| --- | --- | --- | --- |")
    for name, sect, key in (("server allocs / unary call", "unary", "server_allocs_per_call"),
                            ("server bytes / unary call", "unary", "server_bytes_per_call"),
                            ("client allocs / unary call", "unary", "client_allocs_per_call"),
                            ("client bytes / unary call", "unary", "client_bytes_per_call"),
                            ("server allocs / streamed message", "server_stream", "server_allocs_per_message"),
                            ("client allocs / streamed message", "server_stream", "client_allocs_per_message")):
        a, b = allocs["ours"][sect][key], allocs["tonic"][sect][key]
        res[key] = ratio(a, b)
        print(f"| {name} | {a:.2f} | {b:.2f} | {res[key]:.2f} |")
    print()
print("**Issue 6 targets** (this run):")
print()
print("| figure | target | measured | |")
print("| --- | --- | --- | --- |")
def target(name, value, op, bar):
    ok = value >= bar if op == ">=" else value <= bar
    print(f"| {name} | {op} {bar} | {value:.2f} | {'met' if ok else 'MISSED'} |")
for s, tag in (("ours", ""), ("ours-ct", ", connection threads")):
    target(f"unary calls/s via h2load, ours ÷ tonic{tag}", ratio(med(rate[s]), med(rate["tonic"])), ">=", 1.25)
    target(f"unary calls/s via h2load, ours ÷ bare h2 (same threading){tag}",
           ratio(med(rate[s]), med(rate[SAME[s]])), ">=", 0.90)
    target(f"server CPU µs per unary call, ours ÷ tonic{tag}", ratio(med(cpu[s]), med(cpu["tonic"])), "<=", 0.75)
if len(cg) == 3:
    target("server instructions per unary call, ours ÷ tonic (callgrind)", cg["ours"] / cg["tonic"], "<=", 0.75)
for suffix, tag in (((), ""), (("ct",), ", connection threads")):
    target(f"server-streaming msgs/s (64 B), ours ÷ tonic{tag}",
           res[("server-stream-64B", "messages_per_s") + suffix], ">=", 1.5)
    target(f"client-streaming msgs/s (64 B), ours ÷ tonic{tag}",
           res[("client-stream-64B", "messages_per_s") + suffix], ">=", 1.5)
    target(f"bidi ping-pong p50 latency, ours ÷ tonic{tag}", res[("bidi-1x1", "p50") + suffix], "<=", 0.8)
for s in ("ours", "tonic"):
    target(f"our client ÷ tonic client, unary 4×64 calls/s, {NAMES[s]} server",
           res["client-unary-4x64", "calls_per_s", s], ">=", 1.25)
if len(cgc) == 2:
    # calls/s ≥ 1.25× at equal work means ≤ 1/1.25 = 0.8 of the instructions per call.
    target("client instructions per unary call, ours ÷ tonic (callgrind)", cgc["ours"] / cgc["tonic"], "<=", 0.8)
if "server_allocs_per_call" in res:
    target("allocations per unary call, server side, ours ÷ tonic", res["server_allocs_per_call"], "<=", 0.5)
PY
log "raw results: $RESULTS; report: $OUT/report.md"
