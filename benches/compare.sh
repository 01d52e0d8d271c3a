#!/usr/bin/env bash
# benches/compare.sh — h2grpc side by side with tonic 0.14 and a bare-h2 ceiling,
# in one run, on one machine (issue 6). Loopback only; every step is time-bounded.
#
#   bash benches/compare.sh            # build (release), run everything, print the tables
#   ONLY=streaming bash benches/compare.sh   # just the streaming modes (~11 min on 2 cores)
#   ONLY=tls bash benches/compare.sh         # just the TLS step, 10. below (~7 min on 2 cores)
#   ONLY=store bash benches/compare.sh       # just the store step, 11. below (~2 min per allocator)
#
# What it does:
#   1. builds (release) order-server + order-bench here, and the peers under
#      benches/peers/ (tonic-order-server + tonic-order-bench, h2-ceiling) into
#      benches/peers/target (separate crates, not in the workspace);
#   2. installs h2load (Debian nghttp2-client) and, for the jemalloc pass,
#      Debian's libjemalloc2 if missing;
#   then once per allocator in ALLOCATORS (a "pass"; every process of a pass, servers
#   and load generators alike, on the same allocator), steps 3-8 and 10:
#   3. starts the servers on 127.0.0.1 with OS-picked ports: h2grpc's order-server
#      and the bare-h2 ceiling each twice, on the caller's work-stealing runtime
#      (the default) and with `--connection-threads $(nproc)` (connections on
#      single-threaded runtimes of their own), and the tonic server; order-server
#      with `--store memory` (its default store is SQLite on disk; reads are served
#      from memory either way, and the tonic peer's store is in memory: the
#      comparison is of the runtimes over the same handlers and the same store);
#   4. unary getOrder("102") with the SAME h2load command against each server,
#      ROUNDS rounds in rotating order; checks h2load's response data bytes equal
#      calls x 79 (the framed reply; h2load counts gRPC errors as 2xx), and reads
#      each server's CPU time (/proc/PID/stat utime+stime) around every run;
#   5. the bench modes against our server (twice, as in 3.) and the tonic server,
#      ROUNDS rounds, the (server, client) pairs in rotating order: the unary modes
#      with order-bench (our client); the streaming modes (server-stream 64 B and
#      4 KiB, client-stream 64 B, bidi ping-pong) with order-bench AND with
#      tonic-order-bench (tonic's client, the same modes, the same workload), so
#      each server is measured with its own client and with the other's; the
#      server's CPU time (/proc) is read around every run; the first streaming run
#      against a server adds its orders (addOrder), later ones pass --preloaded;
#   6. our client vs tonic's client (tonic-order-bench), unary, against each server, alternating;
#   7. allocation counts per call (order-bench / tonic-order-bench --count-allocs; glibc pass only);
#   8. server and client instructions per unary call under callgrind (if valgrind is
#      installed; glibc pass only);
#  10. TLS (issue 16; in ONLY=all and ONLY=tls): h2grpc's order-server (as shipped
#      and with connection threads) and the tonic server (tonic's `tls-ring`
#      feature: rustls 0.23 on the ring provider, as h2grpc) with `--tls-cert
#      --tls-key`, one certificate made per run (a self-signed CA and an ECDSA P-256
#      leaf for IP 127.0.0.1; openssl CLI, else python3's `cryptography`); then
#      (a) the SAME h2load command as in 4. over https (ALPN h2 checked, the cipher
#      suite recorded, reply bytes checked), ROUNDS rounds, rotating order, server
#      CPU per call; (b) server-streaming 64 B and 4 KiB with order-bench and
#      tonic-order-bench (both `--ca`), every (server, client) pair as in 5.;
#      (c) glibc pass, CALLGRIND=1: server instructions per TLS unary call as in 8.,
#      split into ring, rustls + tokio-rustls, and the rest. Cheap enough (~7 min)
#      to run in ONLY=all too, after step 6;
#   9. prints medians and ratios (markdown), each row naming its allocator, and keeps
#      raw results in $OUT. The 1/5/15-min load averages before and after each pass
#      are recorded and printed: the machine may be shared.
#
# Allocator: ALLOCATORS="glibc jemalloc" (the default) runs the whole of steps 3-8
# (and 10) twice: first with the system allocator (glibc malloc) in every process, then with
# jemalloc preloaded (LD_PRELOAD of Debian's libjemalloc.so.2, or JEMALLOC_SO) into
# every process, servers, bench clients and h2load alike; every binary is checked
# (/proc/PID/maps) to be on the pass's allocator. Ratios are only ever taken within
# one pass (equal allocator); a jemalloc ÷ glibc table per contestant is printed for
# information (different passes, minutes apart). The two bench clients wrap the
# allocator (whichever malloc it resolves to) in a counting allocator that is off
# unless --count-allocs. No CPU pinning: servers and load generators share the cores.
#
# Knobs (environment): ROUNDS (3), H2LOAD_N (200000), BENCH_SECS (3), WARMUP_SECS (1),
# ALLOCATORS ("glibc jemalloc"; either alone works), ONLY (all | streaming: only the
# four streaming modes of step 5, no h2load, unary, allocation or callgrind steps,
# no bare-h2 servers | tls: only step 10, only the TLS servers), JEMALLOC_SO (path of libjemalloc.so.2), OUT (a fresh /tmp dir),
# SKIP_BUILD=1, CALLGRIND=0 (skip step 8), CALLGRIND_N (20000).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=$ROOT/benches/peers
PEER_TARGET=$PEERS/target
ROUNDS=${ROUNDS:-3}
H2LOAD_N=${H2LOAD_N:-200000}
BENCH_SECS=${BENCH_SECS:-3}
WARMUP_SECS=${WARMUP_SECS:-1}
ALLOCATORS=${ALLOCATORS:-glibc jemalloc}
ONLY=${ONLY:-all}
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

case $ONLY in all | streaming | tls | store) ;; *) die "ONLY must be all, streaming, tls or store, not '$ONLY'" ;; esac
for a in $ALLOCATORS; do
  case $a in glibc | jemalloc) ;; *) die "ALLOCATORS: unknown allocator '$a' (glibc, jemalloc)" ;; esac
done
[ -n "${ALLOCATORS// /}" ] || die "ALLOCATORS is empty"

# ---------------------------------------------------------------- 1. build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building (release): h2grpc order-server, order-bench"
  (cd "$ROOT" && cargo build --release --bin order-server --bin order-bench)
  if [ "$ONLY" != store ]; then # step 11 runs order-server alone
    log "building (release): tonic peer, h2 ceiling (first build takes minutes)"
    CARGO_TARGET_DIR=$PEER_TARGET cargo build --release \
      --manifest-path "$PEERS/tonic-order-server/Cargo.toml"
    CARGO_TARGET_DIR=$PEER_TARGET cargo build --release \
      --manifest-path "$PEERS/h2-ceiling/Cargo.toml"
  fi
fi
OUR_SERVER=$ROOT/target/release/order-server
OUR_BENCH=$ROOT/target/release/order-bench
TONIC_SERVER=$PEER_TARGET/release/tonic-order-server
TONIC_BENCH=$PEER_TARGET/release/tonic-order-bench
CEILING=$PEER_TARGET/release/h2-ceiling
NEEDED=("$OUR_SERVER" "$OUR_BENCH")
[ "$ONLY" != store ] && NEEDED+=("$TONIC_SERVER" "$TONIC_BENCH" "$CEILING")
for b in "${NEEDED[@]}"; do
  [ -x "$b" ] || die "missing binary $b (run without SKIP_BUILD=1)"
done

# ---------------------------------------------------------------- 2. h2load, jemalloc
apt_install() { # package
  timeout 300 apt-get install -y "$1" >> "$OUT/apt.log" 2>&1 ||
    { timeout 300 apt-get update > /dev/null 2>&1 && timeout 300 apt-get install -y "$1" >> "$OUT/apt.log" 2>&1; } ||
    die "cannot install $1 (see $OUT/apt.log)"
}
if [ "$ONLY" != streaming ] && ! command -v h2load > /dev/null; then
  log "installing h2load (nghttp2-client)"
  apt_install nghttp2-client
fi
JEMALLOC_SO=${JEMALLOC_SO:-}
if [[ " $ALLOCATORS " == *" jemalloc "* ]] && [ -z "$JEMALLOC_SO" ]; then
  if ! dpkg -s libjemalloc2 > /dev/null 2>&1; then
    log "installing libjemalloc2"
    apt_install libjemalloc2
  fi
  JEMALLOC_SO=$(dpkg -L libjemalloc2 | grep '/libjemalloc\.so\.2$' | head -n1)
fi
if [[ " $ALLOCATORS " == *" jemalloc "* ]]; then
  [ -r "$JEMALLOC_SO" ] || die "no libjemalloc.so.2 (set JEMALLOC_SO)"
fi
# ---------------------------------------------------------------- 10. certificates (TLS)
# Once per run: a self-signed CA and a server leaf it signs, ECDSA P-256, for
# IP 127.0.0.1 (the clients check the server's certificate against the
# target's host, an IP address). Both servers serve the same leaf.
CERTS=$OUT/certs
make_certs_openssl() {
  local ext=$CERTS/leaf.ext
  printf '%s\n' 'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
    'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1' > "$ext"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj '/CN=compare.sh test CA' -addext 'basicConstraints=critical,CA:TRUE' \
    -addext 'keyUsage=critical,keyCertSign' -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=127.0.0.1' \
      -keyout "$CERTS/server.key" -out "$CERTS/server.csr" &&
    openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" \
      -CAcreateserial -days 2 -extfile "$ext" -out "$CERTS/server.pem"
}
make_certs_python() { # the same two certificates with python3's `cryptography`
  python3 - "$CERTS" <<'PY'
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

d = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def cert(subject, key, issuer, issuer_key, ca):
    b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, False, False, False), critical=True)
    else:
        b = (b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
             .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                            critical=False))
    return b.sign(issuer_key, hashes.SHA256())
def write(path, data):
    with open(f"{d}/{path}", "wb") as f:
        f.write(data)
ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
write("ca.pem", cert("compare.sh test CA", ca_key, "compare.sh test CA", ca_key, True).public_bytes(serialization.Encoding.PEM))
write("server.pem", cert("127.0.0.1", leaf_key, "compare.sh test CA", ca_key, False).public_bytes(serialization.Encoding.PEM))
write("server.key", leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
PY
}
if [ "$ONLY" != streaming ]; then
  mkdir -p "$CERTS"
  if command -v openssl > /dev/null; then
    log "certificates (openssl): CA + server leaf for 127.0.0.1 in $CERTS"
    make_certs_openssl > "$CERTS/openssl.log" 2>&1 || die "openssl failed (see $CERTS/openssl.log)"
  else
    log "certificates (python3 cryptography): CA + server leaf for 127.0.0.1 in $CERTS"
    make_certs_python || die "no openssl, and python3's cryptography could not make the certificates"
  fi
  for f in ca.pem server.pem server.key; do [ -s "$CERTS/$f" ] || die "no $CERTS/$f"; done
fi
TLS_ARGS=(--tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key")

# sed reads all of ldd's lines: `head -n1` here could close the pipe while ldd (a
# shell script) still writes, and under pipefail its SIGPIPE (141) ended the run.
GLIBC_VERSION=$(ldd --version 2> /dev/null | sed -n '1s/.* //p')
JEMALLOC_VERSION=$(dpkg-query -W -f='${Version}' libjemalloc2 2> /dev/null || echo unknown)

# ---------------------------------------------------------------- 3. servers
declare -A PID ADDR
stop_servers() { # SIGTERM, up to 10 s to exit, then SIGKILL
  local name pid i
  for name in "${!PID[@]}"; do kill "${PID[$name]}" 2> /dev/null || true; done
  for name in "${!PID[@]}"; do
    pid=${PID[$name]}
    for i in $(seq 100); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  done
  PID=()
  ADDR=()
}
trap stop_servers EXIT

# The pass's allocator: RUN_ENV prefixes every command of the pass.
ALLOC=glibc
RUN_ENV=(env -u LD_PRELOAD)
set_allocator() { # glibc | jemalloc
  ALLOC=$1
  case $1 in
    glibc) RUN_ENV=(env -u LD_PRELOAD) ;;
    jemalloc) RUN_ENV=(env LD_PRELOAD="$JEMALLOC_SO") ;;
  esac
}
check_allocator() { # pid what: the process has jemalloc mapped iff this is the jemalloc pass
  local mapped=0
  grep -q libjemalloc "/proc/$1/maps" 2> /dev/null && mapped=1
  if [ "$ALLOC" = jemalloc ] && [ "$mapped" = 0 ]; then die "$2 (pid $1) does not have jemalloc loaded"; fi
  if [ "$ALLOC" = glibc ] && [ "$mapped" = 1 ]; then die "$2 (pid $1) has jemalloc loaded in the glibc pass"; fi
}
# A bench client is short-lived: start a 1 s unary run against a server, check it,
# let it end (each client against the other's server, so both get the same warm-up).
check_client_allocator() { # name binary server
  local bin=$2 cpid i tls=()
  [[ $3 == *-tls ]] && tls=(--ca "$CERTS/ca.pem")
  "${RUN_ENV[@]}" "$bin" --addr "${ADDR[$3]}" --mode unary --duration 1 --warmup 0 --json "${tls[@]}" > /dev/null 2>&1 &
  cpid=$!
  for i in $(seq 50); do
    [ "$(readlink "/proc/$cpid/exe" 2> /dev/null)" = "$bin" ] && break
    sleep 0.02
  done
  sleep 0.2
  check_allocator "$cpid" "$1 client"
  timeout 10 tail --pid="$cpid" -f /dev/null || kill "$cpid" 2> /dev/null || true
  wait "$cpid" 2> /dev/null || true
}

start_server() { # name command...
  local name=$1; shift
  local out=$OUT/$ALLOC.$name log=(env RUST_LOG=warn)
  # The TLS servers (step 10) run with their default logging, as shipped.
  [[ $name == *-tls ]] && log=(env -u RUST_LOG)
  "${log[@]}" "${RUN_ENV[@]}" "$@" --addr 127.0.0.1:0 > "$out.out" 2> "$out.err" &
  PID[$name]=$!
  local i
  for i in $(seq 100); do
    if grep -q ' listening on ' "$out.out" 2> /dev/null; then
      ADDR[$name]=$(sed -n 's/.* listening on //p' "$out.out" | head -n1)
      check_allocator "${PID[$name]}" "$name server"
      log "$name (pid ${PID[$name]}, $ALLOC) on ${ADDR[$name]}"
      return
    fi
    sleep 0.1
  done
  die "$name did not start (see $out.err)"
}
# RUST_LOG=warn: order-server logs every call at debug level by default; a
# benchmark measures the runtime, not the log writer. The peers log nothing.
THREADS=$(nproc)
start_servers() {
  if [ "$ONLY" = store ]; then
    # Step 11: the same order-server on each store, as a user runs it.
    start_server ours-mem "$OUR_SERVER" --store memory
    start_server ours-sqlite "$OUR_SERVER" --store sqlite --data-dir "$OUT/data-$ALLOC"
    return
  fi
  if [ "$ONLY" != streaming ]; then
    start_server ours-tls "$OUR_SERVER" --store memory "${TLS_ARGS[@]}"
    start_server ours-ct-tls "$OUR_SERVER" --store memory --connection-threads "$THREADS" "${TLS_ARGS[@]}"
    start_server tonic-tls "$TONIC_SERVER" "${TLS_ARGS[@]}"
  fi
  [ "$ONLY" = tls ] && return
  start_server ours "$OUR_SERVER" --store memory
  start_server ours-ct "$OUR_SERVER" --store memory --connection-threads "$THREADS"
  start_server tonic "$TONIC_SERVER"
  if [ "$ONLY" = all ]; then
    start_server ceiling "$CEILING"
    start_server ceiling-ct "$CEILING" --connection-threads "$THREADS"
  fi
}

record_load() { # phase
  local load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  printf '{"kind":"load","alloc":"%s","phase":"%s","time":"%s","loadavg":"%s"}\n' \
    "$ALLOC" "$1" "$(date -u +%H:%M:%S)" "$load" >> "$RESULTS"
  log "load averages ($ALLOC pass, $1): $load"
}

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
  local before after out scheme=http
  # A TLS server (step 10): the same command over https; h2load offers ALPN h2.
  [[ $name == *-tls ]] && scheme=https
  before=$(cpu_ticks "$pid")
  out=$(timeout "$STEP_TIMEOUT" "${RUN_ENV[@]}" h2load -n "$n" -c 4 -m 64 -d "$BODY" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "$scheme://${ADDR[$name]}/ecommerce.OrderManagement/getOrder" 2>&1) ||
    die "h2load against $name exited non-zero: $out"
  after=$(cpu_ticks "$pid")
  echo "$out" > "$OUT/h2load-$ALLOC-$name-$round.txt"
  local cipher=""
  if [ "$scheme" = https ]; then
    grep -q '^Application protocol: h2$' <<< "$out" ||
      die "h2load against $name: no ALPN h2 over TLS (see $OUT/h2load-$ALLOC-$name-$round.txt)"
    cipher=$(sed -n 's/^Cipher: //p' <<< "$out" | head -n1)
    [ -n "$cipher" ] || die "h2load against $name: no TLS cipher in its output"
  fi
  local rps succeeded data
  rps=$(echo "$out" | sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p')
  succeeded=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
  data=$(echo "$out" | sed -n 's/^traffic: .*(\([0-9]*\)) data$/\1/p')
  [ -n "$rps" ] && [ -n "$data" ] || die "cannot parse h2load output for $name (see $OUT/h2load-$ALLOC-$name-$round.txt)"
  if [ "$succeeded" != "$n" ] || [ "$data" != $((n * REPLY_BYTES)) ]; then
    die "$name round $round: $succeeded/$n succeeded, $data data bytes, expected $((n * REPLY_BYTES)) (= $n x $REPLY_BYTES): some calls did not get the reply"
  fi
  [ "$round" = warmup ] && return
  local cpu_us
  cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN {printf "%.3f", t * 1e6 / hz / n}')
  printf '{"kind":"h2load","alloc":"%s","server":"%s","round":%s,"calls":%s,"calls_per_s":%s,"cpu_us_per_call":%s,"cipher":"%s"}\n' \
    "$ALLOC" "$name" "$round" "$n" "$rps" "$cpu_us" "$cipher" >> "$RESULTS"
  log "h2load $name ($ALLOC) round $round: $rps calls/s, $cpu_us µs CPU/call"
}

SERVERS=(ours ours-ct tonic ceiling ceiling-ct)
h2load_step() {
  local s r i
  log "h2load warm-up (not counted)"
  for s in "${SERVERS[@]}"; do h2load_run "$s" warmup 20000; done
  for r in $(seq "$ROUNDS"); do
    # Rotate the order each round so no server always runs first or last.
    for i in "${!SERVERS[@]}"; do
      h2load_run "${SERVERS[$(((i + r - 1) % ${#SERVERS[@]}))]}" "$r" "$H2LOAD_N"
    done
  done
  for s in "${SERVERS[@]}"; do
    printf '{"kind":"rss","alloc":"%s","phase":"after-h2load","server":"%s","vm_hwm_kib":%s}\n' \
      "$ALLOC" "$s" "$(vm_hwm_kib "${PID[$s]}")" >> "$RESULTS"
  done
}

# ---------------------------------------------------------------- 5./6. bench clients
FAILED_RUNS=0
declare -A PRELOADED
bench_run() { # label client server round args...
  local label=$1 client=$2 server=$3 round=$4; shift 4
  local bin=$OUR_BENCH pid=${PID[$server]}
  [ "$client" = tonic ] && bin=$TONIC_BENCH
  # The streaming modes add their orders on the first run against a server (the
  # two clients add the same ids); later runs of the pass skip the addOrder calls.
  local preloaded=()
  [ -n "${PRELOADED[$server|$label]:-}" ] && preloaded=(--preloaded)
  local tls=()
  [[ $server == *-tls ]] && tls=(--ca "$CERTS/ca.pem")
  local line rc=0 c0 c1 t0 t1 err=$OUT/bench-$ALLOC-$label-$client-$server-$round.err
  c0=$(cpu_ticks "$pid")
  t0=$(date +%s%N)
  line=$(timeout "$STEP_TIMEOUT" "${RUN_ENV[@]}" "$bin" --addr "${ADDR[$server]}" --target "$server" \
    --duration "$BENCH_SECS" --warmup "$WARMUP_SECS" --json "${tls[@]}" "${preloaded[@]}" "$@" 2> "$err") || rc=$?
  t1=$(date +%s%N)
  c1=$(cpu_ticks "$pid")
  # Exit 3: the run finished but some rounds failed (counted in the report, shown as n/a).
  if { [ "$rc" != 0 ] && [ "$rc" != 3 ]; } || ! python3 -c 'import json,sys; json.loads(sys.argv[1])' "$line" 2> /dev/null; then
    FAILED_RUNS=$((FAILED_RUNS + 1))
    printf '{"kind":"bench-failed","alloc":"%s","label":"%s","client":"%s","server":"%s","round":%s,"exit":%s}\n' \
      "$ALLOC" "$label" "$client" "$server" "$round" "$rc" >> "$RESULTS"
    log "FAILED: $label $client->$server ($ALLOC) round $round: exit $rc (see $err); continuing"
    return 0
  fi
  [ "$rc" = 0 ] && PRELOADED[$server|$label]=1
  local cpu_s wall_s
  cpu_s=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
  wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
  printf '{"kind":"bench","alloc":"%s","label":"%s","client":"%s","server":"%s","round":%s,"preloaded":%s,"server_cpu_s":%s,"wall_s":%s,"report":%s}\n' \
    "$ALLOC" "$label" "$client" "$server" "$round" "$([ ${#preloaded[@]} -gt 0 ] && echo true || echo false)" \
    "$cpu_s" "$wall_s" "$line" >> "$RESULTS"
  log "$label $client->$server ($ALLOC) round $round: $(echo "$line" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["calls_per_s"], "calls/s", r["messages_per_s"], "msgs/s", r["latency_us"]["p50"], "µs p50, errors", r["error_total"])'), server CPU ${cpu_s} s in ${wall_s} s"
}

# label | order-bench (and tonic-order-bench) arguments
MODES=(
  "unary-1x1|--mode unary --connections 1 --concurrency 1"
  "unary-4x64|--mode unary --connections 4 --concurrency 64"
  "server-stream-64B|--mode server-stream --connections 1 --concurrency 4 --order-bytes 64 --stream-count 1000"
  "server-stream-4KiB|--mode server-stream --connections 1 --concurrency 4 --order-bytes 4096 --stream-count 1000"
  "client-stream-64B|--mode client-stream --connections 1 --concurrency 4 --order-bytes 64 --stream-count 1000"
  "bidi-1x1|--mode bidi --connections 1 --concurrency 1"
)
BENCH_SERVERS=(ours ours-ct tonic)
# The streaming modes run every (server, client) pair, in an order that alternates
# the clients; the unary modes only with our client (the clients are compared on
# unary in step 6).
STREAM_PAIRS=(ours:ours tonic:tonic ours-ct:ours ours:tonic tonic:ours ours-ct:tonic)
bench_step() {
  local r m label args pairs n i pair
  for r in $(seq "$ROUNDS"); do
    for m in "${MODES[@]}"; do
      label=${m%%|*}; args=${m#*|}
      case $label in
        unary-*)
          [ "$ONLY" = streaming ] && continue
          pairs=(); for i in "${BENCH_SERVERS[@]}"; do pairs+=("$i:ours"); done ;;
        *) pairs=("${STREAM_PAIRS[@]}") ;;
      esac
      n=${#pairs[@]}
      for i in $(seq 0 $((n - 1))); do
        # Rotate by 2 each round so no pair always runs first or last.
        pair=${pairs[$(((i + 2 * (r - 1)) % n))]}
        # shellcheck disable=SC2086
        bench_run "$label" "${pair#*:}" "${pair%%:*}" "$r" $args
      done
    done
  done
}

# Step 11 (issue 18): getOrder and addOrder calls/s on order-server's default
# store (SQLite: reads from memory, each write committed to disk before the
# answer) beside --store memory, with order-bench (4 connections x 16 calls in
# flight), ROUNDS rounds, the two servers alternating.
store_step() {
  local r label mode first second
  for r in $(seq "$ROUNDS"); do
    for label in store-get store-add; do
      mode=unary; [ "$label" = store-add ] && mode=add
      first=ours-mem second=ours-sqlite
      [ $((r % 2)) = 0 ] && first=ours-sqlite second=ours-mem
      bench_run "$label" ours "$first" "$r" --mode "$mode" --connections 4 --concurrency 16
      bench_run "$label" ours "$second" "$r" --mode "$mode" --connections 4 --concurrency 16
    done
  done
}

CLIENT_MODES=(
  "client-unary-4x64|--mode unary --connections 4 --concurrency 64"
  "client-unary-1x1|--mode unary --connections 1 --concurrency 1"
)
client_step() {
  local r m label args s c clients
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
}

# ---------------------------------------------------------------- 7. allocations
allocs_step() {
  local impl bin line
  log "allocation counts (in-process server + client, counted per side)"
  for impl in ours tonic; do
    bin=$OUR_BENCH; [ "$impl" = tonic ] && bin=$TONIC_BENCH
    line=$(timeout "$STEP_TIMEOUT" "${RUN_ENV[@]}" "$bin" --count-allocs --calls 20000 --order-bytes 64 --stream-count 1000 --json) ||
      die "--count-allocs for $impl failed: $line"
    printf '{"kind":"allocs","alloc":"%s","impl":"%s","report":%s}\n' "$ALLOC" "$impl" "$line" >> "$RESULTS"
  done
}

# ---------------------------------------------------------------- 8. instructions (callgrind)
# Wall-clock figures on a shared 2-core machine are noisy; instruction counts
# are not. Each server runs under callgrind, gets 2,000 warm-up calls, has its
# counters zeroed, then serves CALLGRIND_N calls of the same h2load command
# (reply bytes checked); instructions per call = the dump's total / calls.
# Set CALLGRIND=0 to skip (it needs valgrind: apt-get install valgrind).
CALLGRIND_N=${CALLGRIND_N:-20000}
callgrind_run() { # name binary [server args...]; a name ending in -tls: https (step 10)
  local name=$1 bin=$2 scheme=http kind=callgrind
  shift 2
  [[ $name == *-tls ]] && scheme=https kind=callgrind-tls
  local out=$OUT/callgrind.$name
  RUST_LOG=warn "${RUN_ENV[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --addr 127.0.0.1:0 "$@" \
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
      "$scheme://$addr/ecommerce.OrderManagement/getOrder" 2>&1) || { kill "$vpid"; die "h2load under callgrind ($name) failed"; }
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
  printf '{"kind":"%s","server":"%s","calls":%s,"instructions":%s}\n' "$kind" "$name" "$CALLGRIND_N" "$total" >> "$RESULTS"
  [ "$kind" = callgrind-tls ] && tls_split "$name" "$total"
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
  line=$(timeout "$STEP_TIMEOUT" "${RUN_ENV[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" \
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
callgrind_step() {
  [ "${CALLGRIND:-1}" = 1 ] || return 0
  if command -v valgrind > /dev/null && command -v callgrind_control > /dev/null; then
    log "instruction counts under callgrind ($CALLGRIND_N calls per server)"
    callgrind_run ours "$OUR_SERVER" --store memory
    callgrind_run tonic "$TONIC_SERVER"
    callgrind_run ceiling "$CEILING"
    log "client instruction counts under callgrind (${CLIENT_CALLGRIND_SECS} s each, against bare h2)"
    callgrind_client ours "$OUR_BENCH"
    callgrind_client tonic "$TONIC_BENCH"
  else
    log "valgrind not installed: skipping instruction counts (apt-get install valgrind)"
  fi
}

# ---------------------------------------------------------------- 10. TLS
# Where a TLS server's instructions go (from its callgrind_annotate, self cost by
# function): ring (AES-GCM for the records; the handshakes' X25519, ECDSA, SHA-256),
# rustls + tokio-rustls (records, buffers, the ring glue), the rest (gRPC, h2,
# tokio, malloc, memcpy: the same work as without TLS).
tls_split() { # name total
  python3 - "$OUT/callgrind.$1.annotate.txt" "$1" "$2" "$CALLGRIND_N" >> "$RESULTS" <<'PY'
import json, re, sys
path, name, total, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
parts = {"ring": 0, "rustls": 0}
for line in open(path, errors="replace"):
    m = re.match(r"^\s*([0-9,]+)(?: \([^)]*\))?\s+(\S.*)$", line)
    if not m or "PROGRAM TOTALS" in line:
        continue
    n, fn = int(m.group(1).replace(",", "")), m.group(2)
    if re.search(r"(^|[\s<&(])ring::|ring_core_", fn):
        parts["ring"] += n
    elif "rustls::" in fn:
        parts["rustls"] += n
print(json.dumps({"kind": "callgrind-tls-split", "server": name, "calls": calls, "total": total, **parts}))
PY
}
TLS_SERVERS=(ours-tls ours-ct-tls tonic-tls)
TLS_MODES=(
  "server-stream-64B|--mode server-stream --connections 1 --concurrency 4 --order-bytes 64 --stream-count 1000"
  "server-stream-4KiB|--mode server-stream --connections 1 --concurrency 4 --order-bytes 4096 --stream-count 1000"
)
TLS_PAIRS=(ours-tls:ours tonic-tls:tonic ours-ct-tls:ours ours-tls:tonic tonic-tls:ours ours-ct-tls:tonic)
tls_step() {
  local s r i m label args n pair
  log "TLS: h2load warm-up (not counted)"
  for s in "${TLS_SERVERS[@]}"; do h2load_run "$s" warmup 20000; done
  for r in $(seq "$ROUNDS"); do
    for i in "${!TLS_SERVERS[@]}"; do
      h2load_run "${TLS_SERVERS[$(((i + r - 1) % ${#TLS_SERVERS[@]}))]}" "$r" "$H2LOAD_N"
    done
  done
  n=${#TLS_PAIRS[@]}
  for r in $(seq "$ROUNDS"); do
    for m in "${TLS_MODES[@]}"; do
      label=${m%%|*}; args=${m#*|}
      for i in $(seq 0 $((n - 1))); do
        pair=${TLS_PAIRS[$(((i + 2 * (r - 1)) % n))]}
        # shellcheck disable=SC2086
        bench_run "$label" "${pair#*:}" "${pair%%:*}" "$r" $args
      done
    done
  done
  # Instructions per TLS unary call, as step 8 does (glibc pass only).
  if [ "$ALLOC" = glibc ] && [ "${CALLGRIND:-1}" = 1 ] && command -v callgrind_control > /dev/null; then
    log "TLS: instruction counts under callgrind ($CALLGRIND_N calls per server)"
    callgrind_run ours-tls "$OUR_SERVER" --store memory "${TLS_ARGS[@]}"
    callgrind_run tonic-tls "$TONIC_SERVER" "${TLS_ARGS[@]}"
  fi
}

# ---------------------------------------------------------------- the passes
for alloc in $ALLOCATORS; do
  set_allocator "$alloc"
  log "=== $ALLOC pass$([ "$ALLOC" = jemalloc ] && echo " (LD_PRELOAD=$JEMALLOC_SO)")"
  record_load before
  PRELOADED=() # fresh servers, empty stores
  start_servers
  if [ "$ONLY" = store ]; then
    check_client_allocator ours "$OUR_BENCH" ours-mem
    store_step
  elif [ "$ONLY" = tls ]; then
    check_client_allocator ours "$OUR_BENCH" tonic-tls
    check_client_allocator tonic "$TONIC_BENCH" ours-tls
  else
    check_client_allocator ours "$OUR_BENCH" tonic
    check_client_allocator tonic "$TONIC_BENCH" ours
  fi
  [ "$ONLY" = all ] && h2load_step
  [ "$ONLY" != tls ] && [ "$ONLY" != store ] && bench_step
  [ "$ONLY" = all ] && client_step
  [ "$ONLY" != streaming ] && [ "$ONLY" != store ] && tls_step
  for s in "${!PID[@]}"; do
    printf '{"kind":"rss","alloc":"%s","phase":"end","server":"%s","vm_hwm_kib":%s}\n' \
      "$ALLOC" "$s" "$(vm_hwm_kib "${PID[$s]}")" >> "$RESULTS"
  done
  # Allocation counts and instructions do not depend on timing: once, on glibc
  # (under callgrind, a preloaded jemalloc would be counted as the program's).
  if [ "$ONLY" = all ] && [ "$ALLOC" = glibc ]; then
    allocs_step
    callgrind_step
  fi
  record_load after
  stop_servers
done

# ---------------------------------------------------------------- 9. tables
MACHINE="$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -n1), $(uname -r)"
ALLOC_DESC="glibc = the system malloc (glibc $GLIBC_VERSION) in every process; jemalloc = Debian's libjemalloc2 $JEMALLOC_VERSION preloaded (LD_PRELOAD=${JEMALLOC_SO:-n/a}) into every process"
python3 - "$RESULTS" "$MACHINE" "$ROUNDS" "$H2LOAD_N" "$BENCH_SECS" "$WARMUP_SECS" "$ALLOC_DESC" "$ONLY" <<'PY' | tee "$OUT/report.md"
import json, statistics, sys

path, machine, rounds, h2load_n, bench_secs, warmup_secs, alloc_desc, only = sys.argv[1:9]
rows = [json.loads(line) for line in open(path) if line.strip()]
for r in rows:
    r.setdefault("alloc", "glibc")
ALLOCS = [a for a in ("glibc", "jemalloc") if any(r["alloc"] == a and r["kind"] == "bench" for r in rows)]
NAMES = {"ours": "h2grpc", "ours-ct": "h2grpc, connection threads", "tonic": "tonic 0.14",
         "ceiling": "bare h2", "ceiling-ct": "bare h2, connection threads"}
CLIENTS = {"ours": "order-bench (h2grpc client)", "tonic": "tonic-order-bench (tonic client)"}
# The bare-h2 server run the same way (same threading) as each server.
SAME = {"ours": "ceiling", "ours-ct": "ceiling-ct", "tonic": "ceiling",
        "ceiling": "ceiling", "ceiling-ct": "ceiling-ct"}

def med(xs):
    xs = [x for x in xs if x == x]  # a run with failed rounds is a NaN sample: left out
    return statistics.median(xs) if xs else float("nan")

def spread(xs, fmt):
    xs = [x for x in xs if x == x]
    return f"{fmt(med(xs))} ({fmt(min(xs))}–{fmt(max(xs))})" if xs else "n/a"

def k(x):
    return f"{x / 1000:.1f}k" if x >= 10000 else f"{x:.0f}"

def f1(x):
    return f"{x:.1f}"

def f2(x):
    return f"{x:.2f}"

def ratio(a, b):
    return a / b if b else float("nan")

def bench_rows(alloc, label, client, server):
    return [r for r in rows if r["kind"] == "bench" and r["alloc"] == alloc and r["label"] == label
            and r["client"] == client and r["server"] == server]

def bench(alloc, label, client, server, key):
    out = []
    for r in bench_rows(alloc, label, client, server):
        rep = r["report"]
        if rep["error_total"]:
            out.append(float("nan"))
        elif key.startswith("p"):
            out.append(rep["latency_us"][key])
        else:
            out.append(rep[key])
    # A run that failed outright counts as a missing sample, shown by the round count.
    return out

def server_cpu(alloc, label, client, server):
    """Server CPU per counted message (µs, approximate: the whole run's CPU, warm-up and
    process start included, over messages/s × (warm-up + window)) and % of one core."""
    per_msg, share = [], []
    for r in bench_rows(alloc, label, client, server):
        rep = r["report"]
        if rep["error_total"] or not rep["messages_per_s"]:
            continue
        span = rep["window_s"] + rep["config"]["warmup_s"]
        per_msg.append(r["server_cpu_s"] * 1e6 / (rep["messages_per_s"] * span))
        share.append(100 * r["server_cpu_s"] / r["wall_s"])
    return per_msg, share

print(f"Machine: {machine}. Allocators: {alloc_desc}. Every ratio is within one allocator pass "
      f"(all processes on the same allocator). No CPU pinning. Medians of {rounds} rounds (min–max), "
      "(server, client) pairs in rotating order. \"connection threads\": `--connection-threads` = the core "
      "count (h2grpc's `Builder::connection_threads`); otherwise every server runs on tokio's default "
      "work-stealing runtime, as shipped.")
print()
loads = [r for r in rows if r["kind"] == "load"]
if loads:
    print("**Load averages** (1/5/15 min, /proc/loadavg) before and after each pass:")
    print()
    print("| pass | before | after |")
    print("| --- | --- | --- |")
    for a in dict.fromkeys(r["alloc"] for r in loads):
        b = next((r for r in loads if r["alloc"] == a and r["phase"] == "before"), None)
        e = next((r for r in loads if r["alloc"] == a and r["phase"] == "after"), None)
        fmt = lambda r: f"{r['loadavg']} ({r['time']} UTC)" if r else "n/a"
        print(f"| {a} | {fmt(b)} | {fmt(e)} |")
    print()
failed = [r for r in rows if r["kind"] == "bench-failed"]
if failed:
    print(f"**Failed runs** ({len(failed)}; not in the medians):", ", ".join(
        f"{r['label']} {r['client']}→{r['server']} ({r['alloc']}, round {r['round']}, exit {r['exit']})" for r in failed))
    print()
erred = [r for r in rows if r["kind"] == "bench" and r["report"]["error_total"]]
if erred:
    print(f"**Runs with failed rounds** ({len(erred)}; not in the medians):", ", ".join(
        f"{r['label']} {r['client']}→{r['server']} ({r['alloc']}, round {r['round']}: {r['report']['errors']}, "
        f"{r['report']['stuck_workers']} stuck)" for r in erred))
    print()

res = {}
h2 = {(a, s): [r for r in rows if r["kind"] == "h2load" and r["alloc"] == a and r["server"] == s]
      for a in ALLOCS for s in NAMES}
if any(h2.values()):
    rate = {key: [r["calls_per_s"] for r in v] for key, v in h2.items()}
    cpu = {key: [r["cpu_us_per_call"] for r in v] for key, v in h2.items()}
    rss = {(r["alloc"], r["phase"], r["server"]): r["vm_hwm_kib"] / 1024 for r in rows if r["kind"] == "rss"}
    print(f"**Unary `getOrder(\"102\")` under h2load** (`-n {h2load_n} -c 4 -m 64`, the same command for every server; "
          f"reply bytes checked = calls × 79):")
    print()
    print("| server | allocator | calls/s | server CPU µs/call | peak RSS after h2load / at end (MiB) | calls/s ÷ tonic | "
          "CPU ÷ tonic | calls/s ÷ bare h2, same threading |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for a in ALLOCS:
        for s in NAMES:
            print(f"| {NAMES[s]} | {a} | {spread(rate[a, s], k)} | {spread(cpu[a, s], f2)} | "
                  f"{rss.get((a, 'after-h2load', s), float('nan')):.1f} / {rss.get((a, 'end', s), float('nan')):.1f} | "
                  f"{ratio(med(rate[a, s]), med(rate[a, 'tonic'])):.2f} | {ratio(med(cpu[a, s]), med(cpu[a, 'tonic'])):.2f} | "
                  f"{ratio(med(rate[a, s]), med(rate[a, SAME[s]])):.2f} |")
    print()
cg = {r["server"]: r["instructions"] / r["calls"] for r in rows if r["kind"] == "callgrind"}
CG_SERVERS = ("ours", "tonic", "ceiling")
if len(cg) == 3:
    print("**Server instructions per unary call** (callgrind, glibc, same h2load command, after 2,000 warm-up calls; "
          "deterministic, so not disturbed by other load on the machine):")
    print()
    print("| server | instructions/call | ÷ tonic | ÷ bare h2 |")
    print("| --- | --- | --- | --- |")
    for s in CG_SERVERS:
        print(f"| {NAMES[s]} | {cg[s]:,.0f} | {cg[s] / cg['tonic']:.2f} | {cg[s] / cg['ceiling']:.2f} |")
    print()
cgc = {r["client"]: r["instructions"] / r["calls"] for r in rows if r["kind"] == "callgrind-client"}
if len(cgc) == 2:
    print("**Client instructions per unary call** (callgrind, glibc; order-bench vs tonic-order-bench against the bare-h2 "
          "server, 1 connection × 16 calls; start-up included):")
    print()
    print("| client | instructions/call | ÷ tonic |")
    print("| --- | --- | --- |")
    for c in ("ours", "tonic"):
        print(f"| {NAMES[c]} | {cgc[c]:,.0f} | {cgc[c] / cgc['tonic']:.2f} |")
    print()
FIGS = [
    ("unary 1×1: p50 latency (µs)", "unary-1x1", "p50", f1),
    ("unary 1×1: p99 latency (µs)", "unary-1x1", "p99", f1),
    ("unary 4×64: calls/s", "unary-4x64", "calls_per_s", k),
    ("server-streaming 64 B, 1×4: msgs/s", "server-stream-64B", "messages_per_s", k),
    ("server-streaming 4 KiB, 1×4: MB/s", "server-stream-4KiB", "mb_per_s", f1),
    ("client-streaming 64 B, 1×4: msgs/s", "client-stream-64B", "messages_per_s", k),
    ("bidi ping-pong 1×1 (3 ids → 2 shipments): p50 (µs)", "bidi-1x1", "p50", f1),
    ("bidi ping-pong 1×1: p99 (µs)", "bidi-1x1", "p99", f1),
]
STREAM_LABELS = ("server-stream-64B", "server-stream-4KiB", "client-stream-64B", "bidi-1x1")
for client in ("ours", "tonic"):
    figs = [f for f in FIGS if any(bench_rows(a, f[1], client, "ours") for a in ALLOCS)]
    if not figs:
        continue
    print(f"**{CLIENTS[client]} against each server** ({bench_secs} s windows after {warmup_secs} s warm-up; "
          "1000 orders per streaming call; connections × concurrent calls per connection):")
    print()
    print("| figure | allocator | h2grpc server | h2grpc, connection threads | tonic server | h2grpc ÷ tonic | "
          "connection threads ÷ tonic |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, label, key, fmt in figs:
        for a in ALLOCS:
            x, c, t = (bench(a, label, client, s, key) for s in ("ours", "ours-ct", "tonic"))
            res[a, client, label, key] = ratio(med(x), med(t))
            res[a, client, label, key, "ct"] = ratio(med(c), med(t))
            print(f"| {name} | {a} | {spread(x, fmt)} | {spread(c, fmt)} | {spread(t, fmt)} | "
                  f"{res[a, client, label, key]:.2f} | {res[a, client, label, key, 'ct']:.2f} |")
    print()
stream_cpu = [(a, c, l) for a in ALLOCS for c in ("ours", "tonic") for l in STREAM_LABELS if bench_rows(a, l, c, "ours")]
if stream_cpu:
    print("**Server CPU in the streaming runs** (`/proc/PID/stat` of the server around each run; µs per counted "
          "message is approximate: the run's CPU over messages/s × (warm-up + window); the first run of a pass "
          "also adds the 1000 orders; in parentheses: % of one core over the run):")
    print()
    print("| mode | allocator | client | h2grpc server | h2grpc, connection threads | tonic server | h2grpc ÷ tonic |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for a, c, l in stream_cpu:
        cells, meds = [], {}
        for s in ("ours", "ours-ct", "tonic"):
            per_msg, share = server_cpu(a, l, c, s)
            meds[s] = med(per_msg)
            cells.append(f"{meds[s]:.2f} ({med(share):.0f} %)" if per_msg else "n/a")
        print(f"| {l} | {a} | {NAMES[c]} | {' | '.join(cells)} | {ratio(meds['ours'], meds['tonic']):.2f} |")
    print()
if len(ALLOCS) == 2 and any(bench_rows("glibc", f[1], c, "ours") for f in FIGS for c in CLIENTS):
    print("**jemalloc ÷ glibc, same contestant** (for information: the two passes ran minutes apart, so this "
          "mixes the allocator with the machine's drift; > 1 is better for rates, < 1 for latency):")
    print()
    print("| figure | client | h2grpc server | h2grpc, connection threads | tonic server |")
    print("| --- | --- | --- | --- | --- |")
    for name, label, key, fmt in FIGS:
        for client in ("ours", "tonic"):
            if not bench_rows("glibc", label, client, "ours"):
                continue
            cells = [f"{ratio(med(bench('jemalloc', label, client, s, key)), med(bench('glibc', label, client, s, key))):.2f}"
                     for s in ("ours", "ours-ct", "tonic")]
            print(f"| {name} | {NAMES[client]} | {' | '.join(cells)} |")
    print()
if any(bench_rows(a, "client-unary-4x64", "ours", "ours") for a in ALLOCS):
    print("**Clients against the same server** (order-bench vs tonic-order-bench, unary `getOrder`):")
    print()
    print("| server | allocator | figure | h2grpc client | tonic client | h2grpc ÷ tonic |")
    print("| --- | --- | --- | --- | --- | --- |")
    for s in ("ours", "tonic"):
        for a in ALLOCS:
            for name, label, key, fmt in (("4×64 calls/s", "client-unary-4x64", "calls_per_s", k),
                                          ("1×1 p50 latency (µs)", "client-unary-1x1", "p50", f1)):
                x, t = bench(a, label, "ours", s, key), bench(a, label, "tonic", s, key)
                res[a, label, key, s] = ratio(med(x), med(t))
                print(f"| {NAMES[s]} | {a} | {name} | {spread(x, fmt)} | {spread(t, fmt)} | {res[a, label, key, s]:.2f} |")
    print()
allocs = {r["impl"]: r["report"] for r in rows if r["kind"] == "allocs"}
if len(allocs) == 2:
    print("**Allocations** (counting wrapper over glibc; in-process server and client, each on its own thread, "
          "counted per side; 20,000 sequential unary calls; 200 searchOrders calls × 1000 orders of 64 B):")
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

def verdict(value, op, bar):
    if value != value:
        return "n/a"
    return "met" if (value >= bar if op == ">=" else value <= bar) else "MISSED"

if any(len(key) == 4 and key[2] in STREAM_LABELS for key in res):
    print("**Issue 15 streaming targets** (this run; ours ÷ tonic of the medians, same client against both "
          "servers, same allocator in every process):")
    print()
    print("| figure | target | allocator | load generator | h2grpc as shipped | | h2grpc, connection threads | |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name, label, key, op, bar in (("server-streaming msgs/s (64 B)", "server-stream-64B", "messages_per_s", ">=", 1.5),
                                  ("client-streaming msgs/s (64 B)", "client-stream-64B", "messages_per_s", ">=", 1.5),
                                  ("bidi ping-pong p50 latency", "bidi-1x1", "p50", "<=", 0.8)):
    for a in ALLOCS:
        for c in ("ours", "tonic"):
            if (a, c, label, key) not in res:
                continue
            v, w = res[a, c, label, key], res[a, c, label, key, "ct"]
            print(f"| {name} | {op} {bar} | {a} | {CLIENTS[c]} | {v:.2f} | {verdict(v, op, bar)} | {w:.2f} | {verdict(w, op, bar)} |")
if any(len(key) == 4 and key[2] in STREAM_LABELS for key in res):
    print()
if only == "all":
    print("**Issue 6 targets** (this run):")
    print()
    print("| figure | allocator | target | measured | |")
    print("| --- | --- | --- | --- | --- |")
    def target(name, a, value, op, bar):
        print(f"| {name} | {a} | {op} {bar} | {value:.2f} | {verdict(value, op, bar)} |")
    for a in ALLOCS:
        if not any(h2[a, s] for s in NAMES):
            continue
        for s, tag in (("ours", ""), ("ours-ct", ", connection threads")):
            target(f"unary calls/s via h2load, ours ÷ tonic{tag}", a, ratio(med(rate[a, s]), med(rate[a, "tonic"])), ">=", 1.25)
            target(f"unary calls/s via h2load, ours ÷ bare h2 (same threading){tag}", a,
                   ratio(med(rate[a, s]), med(rate[a, SAME[s]])), ">=", 0.90)
            target(f"server CPU µs per unary call, ours ÷ tonic{tag}", a, ratio(med(cpu[a, s]), med(cpu[a, "tonic"])), "<=", 0.75)
        for s in ("ours", "tonic"):
            if (a, "client-unary-4x64", "calls_per_s", s) in res:
                target(f"our client ÷ tonic client, unary 4×64 calls/s, {NAMES[s]} server", a,
                       res[a, "client-unary-4x64", "calls_per_s", s], ">=", 1.25)
    if len(cg) == 3:
        target("server instructions per unary call, ours ÷ tonic (callgrind)", "glibc", cg["ours"] / cg["tonic"], "<=", 0.75)
    if len(cgc) == 2:
        # calls/s ≥ 1.25× at equal work means ≤ 1/1.25 = 0.8 of the instructions per call.
        target("client instructions per unary call, ours ÷ tonic (callgrind)", "glibc", cgc["ours"] / cgc["tonic"], "<=", 0.8)
    if "server_allocs_per_call" in res:
        target("allocations per unary call, server side, ours ÷ tonic", "glibc", res["server_allocs_per_call"], "<=", 0.5)
    print()

# ---- step 10: TLS (issue 16)
TLS = {"ours-tls": "h2grpc", "ours-ct-tls": "h2grpc, connection threads", "tonic-tls": "tonic 0.14"}
PLAIN = {"ours-tls": "ours", "ours-ct-tls": "ours-ct", "tonic-tls": "tonic"}
tls_h2 = {(a, s): [r for r in rows if r["kind"] == "h2load" and r["alloc"] == a and r["server"] == s]
          for a in ALLOCS for s in TLS}
if any(tls_h2.values()):
    ciphers = sorted({r.get("cipher", "") for v in tls_h2.values() for r in v})
    trate = {key: [r["calls_per_s"] for r in v] for key, v in tls_h2.items()}
    tcpu = {key: [r["cpu_us_per_call"] for r in v] for key, v in tls_h2.items()}
    print("**TLS: unary `getOrder(\"102\")` under h2load over https** (the same command as above, `-n "
          f"{h2load_n} -c 4 -m 64`, ALPN h2; both servers on rustls 0.23 with the ring provider, one ECDSA P-256 "
          f"certificate; h2load negotiated {', '.join(ciphers)}; reply bytes checked = calls × 79):")
    print()
    head = "| server | allocator | calls/s | server CPU µs/call | calls/s ÷ tonic | CPU ÷ tonic |"
    plain_too = any(h2.get((a, "tonic")) for a in ALLOCS)
    print(head + (" calls/s TLS ÷ plaintext |" if plain_too else ""))
    print("| --- " * (6 + plain_too) + "|")
    for a in ALLOCS:
        for s in TLS:
            line = (f"| {TLS[s]} | {a} | {spread(trate[a, s], k)} | {spread(tcpu[a, s], f2)} | "
                    f"{ratio(med(trate[a, s]), med(trate[a, 'tonic-tls'])):.2f} | "
                    f"{ratio(med(tcpu[a, s]), med(tcpu[a, 'tonic-tls'])):.2f} |")
            if plain_too:
                line += f" {ratio(med(trate[a, s]), med(rate[a, PLAIN[s]])):.2f} |"
            print(line)
    print()
TLS_FIGS = [("server-streaming 64 B, 1×4: msgs/s", "server-stream-64B", "messages_per_s", k),
            ("server-streaming 4 KiB, 1×4: MB/s", "server-stream-4KiB", "mb_per_s", f1)]
tls_res = {}
if any(bench_rows(a, l, c, "ours-tls") for a in ALLOCS for _, l, _, _ in TLS_FIGS for c in CLIENTS):
    print(f"**TLS: server-streaming** (order-bench / tonic-order-bench with `--ca`; {bench_secs} s windows after "
          f"{warmup_secs} s warm-up; 1000 orders per call; server CPU per counted message as in the streaming CPU "
          "table):")
    print()
    print("| figure | allocator | client | h2grpc server | h2grpc, connection threads | tonic server | h2grpc ÷ tonic | "
          "connection threads ÷ tonic |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, label, key, fmt in TLS_FIGS:
        for a in ALLOCS:
            for c in CLIENTS:
                x, ct, t = (bench(a, label, c, s, key) for s in TLS)
                tls_res[a, c, label] = ratio(med(x), med(t))
                tls_res[a, c, label, "ct"] = ratio(med(ct), med(t))
                print(f"| {name} | {a} | {NAMES[c]} | {spread(x, fmt)} | {spread(ct, fmt)} | {spread(t, fmt)} | "
                      f"{tls_res[a, c, label]:.2f} | {tls_res[a, c, label, 'ct']:.2f} |")
        for a in ALLOCS:
            for c in CLIENTS:
                cells, meds = [], {}
                for s in TLS:
                    per_msg, share = server_cpu(a, label, c, s)
                    meds[s] = med(per_msg)
                    cells.append(f"{meds[s]:.2f} ({med(share):.0f} %)" if per_msg else "n/a")
                print(f"| {label}: server CPU µs/msg (% of a core) | {a} | {NAMES[c]} | {' | '.join(cells)} | "
                      f"{ratio(meds['ours-tls'], meds['tonic-tls']):.2f} | "
                      f"{ratio(meds['ours-ct-tls'], meds['tonic-tls']):.2f} |")
    print()
tcg = {r["server"]: r for r in rows if r["kind"] == "callgrind-tls-split"}
if "ours-tls" in tcg and "tonic-tls" in tcg:
    print("**TLS: server instructions per unary call** (callgrind, glibc, the same h2load command over https, after "
          "2,000 warm-up calls, 4 new connections in the window; self cost by function: ring = the ring crate "
          "(AES-GCM; the 4 handshakes' X25519, ECDSA, SHA-256), rustls = rustls + tokio-rustls):")
    print()
    print("| server | instructions/call | ÷ tonic | ring | rustls | the rest (gRPC, h2, tokio, malloc, memcpy) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for s in ("ours-tls", "tonic-tls"):
        r = tcg[s]
        per = lambda n: f"{n / r['calls']:,.0f}"
        rest = r["total"] - r["ring"] - r["rustls"]
        print(f"| {TLS[s]} | {per(r['total'])} | {r['total'] / tcg['tonic-tls']['total']:.2f} | {per(r['ring'])} | "
              f"{per(r['rustls'])} | {per(rest)} |")
    print()
if any(tls_h2.values()) or tls_res:
    print("**Issue 16 TLS targets** (this run; ours ÷ tonic of the medians, both on TLS, same allocator in every "
          "process):")
    print()
    print("| figure | target | allocator | load generator | h2grpc as shipped | | h2grpc, connection threads | |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for a in ALLOCS:
        if any(tls_h2[a, s] for s in TLS):
            v, w = (ratio(med(trate[a, s]), med(trate[a, "tonic-tls"])) for s in ("ours-tls", "ours-ct-tls"))
            print(f"| TLS unary calls/s | >= 1.25 | {a} | h2load | {v:.2f} | {verdict(v, '>=', 1.25)} | {w:.2f} | "
                  f"{verdict(w, '>=', 1.25)} |")
        for name, label, key, _ in TLS_FIGS:
            for c in CLIENTS:
                if (a, c, label) in tls_res:
                    v, w = tls_res[a, c, label], tls_res[a, c, label, "ct"]
                    print(f"| TLS {name} | >= 1.25 | {a} | {CLIENTS[c]} | {v:.2f} | {verdict(v, '>=', 1.25)} | "
                          f"{w:.2f} | {verdict(w, '>=', 1.25)} |")
    print()
if any(r["kind"] == "bench" and r["label"].startswith("store-") for r in rows):
    print("**order-server's stores** (step 11; order-bench, 4 connections x 16 calls in flight; medians, min-max; "
          "SQLite = the default store, each addOrder committed to disk before it answers):")
    print()
    print("| call | allocator | --store memory | SQLite (default) | SQLite ÷ memory |")
    print("| --- | --- | --- | --- | --- |")
    for a in ALLOCS:
        for label, name in (("store-get", "getOrder calls/s"), ("store-add", "addOrder calls/s")):
            m = bench(a, label, "ours", "ours-mem", "calls_per_s")
            q = bench(a, label, "ours", "ours-sqlite", "calls_per_s")
            if m and q:
                print(f"| {name} | {a} | {spread(m, k)} | {spread(q, k)} | {ratio(med(q), med(m)):.2f} |")
    print()
PY
log "raw results: $RESULTS; report: $OUT/report.md"
[ "$FAILED_RUNS" = 0 ] || die "$FAILED_RUNS bench runs failed (listed in the report; raw results in $OUT)"
