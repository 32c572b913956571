#!/usr/bin/env bash
# Starling vs Mosquitto vs rumqttd on this machine, with `starling bench`.
#
#   scripts/compare.sh                    # 3 rounds, all brokers, all scenarios
#   ROUNDS=1 OUT=/tmp/r.md scripts/compare.sh
#
# Installs the peers if missing (Debian's mosquitto with apt-get; rumqttd with
# `cargo install rumqttd --version $RUMQTTD_VERSION --locked` into $PEERS_ROOT), builds Starling
# release, then for every round, every scenario, every broker in turn (round-robin, so the
# brokers see the same machine conditions) starts a fresh broker on its own loopback port, runs
# one `starling bench` with --broker-pid, and stops the broker. Writes a Markdown table
# (medians, ratios, per-run values) to stdout and to $OUT; raw JSON stays in $RUN_DIR.
#
# Environment:
#   ROUNDS=3  DURATION=10s  CONNS=19000  OUT=target/compare/results.md
#   BROKERS="starling mosquitto rumqttd starling-mt"
#     starling: Starling with node.worker_threads = 1. The generator runs on the same 2 cores and
#     needs about one of them; Mosquitto is single-threaded. starling-mt: Starling's default, one
#     worker thread per core (on a machine shared with the generator, the cost of waking the
#     second worker for every hand-off between tasks makes it slower; see docs/benchmarks.md).
#   SCENARIOS="conn fanin0 fanin1 fanin1p fanout0 pairs0 lat10k fanin0_16k conn_tls conn_ws
#              fanin0_tls fanin0_ws fanin0_quic"
#     conn_tls: $CONNS_TLS idle connections over TLS: handshakes per second and RSS per idle TLS
#     connection (conn_ws: the same over WebSocket, Starling only; conn_tls_full: every
#     handshake a full one, no session resumption).
#     fanin0_tls/_ws/_quic: fanin0 over TLS, WebSocket, QUIC (compare with fanin0,
#     plain TCP, in the same run). Every broker gets a TLS listener on its port + 1000 (the same
#     ECDSA P-256 certificate, made here with openssl); Starling also WebSocket on + 2000 and QUIC
#     on + 3000 (Debian's Mosquitto has no WebSocket or QUIC: those runs show "–").
#     fanin1p: fan-in QoS 1 into a persistent subscriber (session kept, expiry 1 h): every
#     message is written to the store and acked once durable.
#   More brokers for the durability rows: starling-interval (fsync = "interval", 100 ms) and
#   mosquitto-persist (Mosquitto with persistence on, autosave_interval 1800 s: its snapshot).
#   RUMQTTD_VERSION=0.20.0  PEERS_ROOT=target/compare/peers  RUN_DIR=target/compare/run-<time>
#   SKIP_INSTALL=1 (do not install or build anything)  BENCH_TIMEOUT=120 (s, per bench run)
#   BASE_BIN=path (an earlier starling binary, e.g. built from main before a change): adds the
#     broker "starling-base", run as "starling" is, so a change is measured before and after in
#     the same run (BROKERS="starling starling-base mosquitto"); with the same extra listeners
#     unless BASE_TRANSPORTS=0
#   IFADDR= (e.g. 127.0.0.2,127.0.0.3: source addresses for the idle connections; off by default:
#     19,000 fit in one address's ephemeral range (32768-60999), and with --ifaddr the generator
#     binds before connecting, which after an earlier run's 19,000 TIME_WAIT sockets on the same
#     addresses made the kernel's port search take ~50 s of system time)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
HERE=$ROOT/scripts/compare

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-19000}
OUT=${OUT:-target/compare/results.md}
BROKERS=${BROKERS:-"starling mosquitto rumqttd starling-mt"}
SCENARIOS=${SCENARIOS:-"conn fanin0 fanin1 fanin1p fanout0 pairs0 lat10k fanin0_16k conn_tls conn_tls_full conn_ws fanin0_tls fanin0_ws fanin0_quic"}
CONNS_TLS=${CONNS_TLS:-5000}
RUMQTTD_VERSION=${RUMQTTD_VERSION:-0.20.0}
PEERS_ROOT=${PEERS_ROOT:-$ROOT/target/compare/peers}
RUN_DIR=${RUN_DIR:-$ROOT/target/compare/run-$(date +%Y%m%d-%H%M%S)}
BIN=$ROOT/target/release/starling
RUMQTTD=${RUMQTTD:-$PEERS_ROOT/bin/rumqttd}

declare -A PORT=([starling]=18830 [mosquitto]=18831 [rumqttd]=18832 [starling-mt]=18834 [starling-base]=18835 [starling-interval]=18836 [mosquitto-persist]=18837)

log() { echo "== $(date +%T) $*" >&2; }

# ---------------------------------------------------------------- cleanup
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- install + build
if [[ -z ${SKIP_INSTALL:-} ]]; then
  if ! command -v mosquitto >/dev/null && [[ ! -x /usr/sbin/mosquitto ]]; then
    log "installing mosquitto (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >&2 \
      || log "mosquitto install FAILED"
  fi
  if [[ " $BROKERS " == *" rumqttd "* && ! -x $RUMQTTD ]]; then
    log "installing rumqttd $RUMQTTD_VERSION (cargo install --locked) into $PEERS_ROOT"
    mkdir -p "$RUN_DIR" "$PEERS_ROOT"
    # With --locked, 0.20.0 pins metrics 0.22.1, which rustc 1.95 rejects (E0521 in
    # metrics/src/recorder/mod.rs); without --locked cargo picks a later metrics 0.22.x.
    if ! cargo install rumqttd --version "$RUMQTTD_VERSION" --locked --root "$PEERS_ROOT" \
         > "$RUN_DIR/rumqttd-install.log" 2>&1; then
      log "rumqttd $RUMQTTD_VERSION --locked did not build; retrying without --locked"
      echo "$RUMQTTD_VERSION, cargo install without --locked (--locked fails to build)" > "$PEERS_ROOT/rumqttd.how"
      if ! cargo install rumqttd --version "$RUMQTTD_VERSION" --root "$PEERS_ROOT" \
           >> "$RUN_DIR/rumqttd-install.log" 2>&1; then
        log "rumqttd $RUMQTTD_VERSION did NOT build (see $RUN_DIR/rumqttd-install.log); continuing without it"
      fi
    else
      echo "$RUMQTTD_VERSION, cargo install --locked" > "$PEERS_ROOT/rumqttd.how"
    fi
  fi
  log "building starling (release)"
  cargo build --release -p starling >&2 || { log "starling build failed"; exit 1; }
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

avail=()
for b in $BROKERS; do
  case $b in
    starling|starling-mt|starling-interval) [[ -x $BIN ]] && avail+=("$b") ;;
    starling-base) [[ -n ${BASE_BIN:-} && -x $BASE_BIN ]] && avail+=(starling-base) || log "no BASE_BIN; starling-base skipped" ;;
    mosquitto|mosquitto-persist) [[ -x $MOSQUITTO ]] && avail+=("$b") || log "no mosquitto; $b skipped" ;;
    rumqttd)   [[ -x $RUMQTTD ]] && avail+=(rumqttd) || log "no rumqttd; skipped" ;;
  esac
done
BROKERS="${avail[*]}"
[[ -n $BROKERS ]] || { log "no broker to run"; exit 1; }

ulimit -n 20000 || { log "ulimit -n 20000 failed"; exit 1; }
mkdir -p "$RUN_DIR" "$(dirname "$OUT")"
# Run a private copy: other work in this tree may rebuild target/release/starling mid-run.
cp "$BIN" "$RUN_DIR/starling" && BIN=$RUN_DIR/starling
[[ -n ${BASE_BIN:-} ]] && cp "$BASE_BIN" "$RUN_DIR/starling-base" && BASE_BIN=$RUN_DIR/starling-base

# One server certificate for every broker's TLS listener (same key type, same chain length).
CA=$RUN_DIR/tls/ca.pem CERT=$RUN_DIR/tls/server.pem KEY=$RUN_DIR/tls/server.key
mkdir -p "$RUN_DIR/tls" && chmod 755 "$RUN_DIR/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=compare CA" -keyout "$RUN_DIR/tls/ca.key" -out "$CA" 2>/dev/null \
  && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$KEY" -out "$RUN_DIR/tls/server.csr" 2>/dev/null \
  && openssl x509 -req -in "$RUN_DIR/tls/server.csr" -CA "$CA" -CAkey "$RUN_DIR/tls/ca.key" \
    -CAcreateserial -days 30 -out "$CERT" \
    -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') 2>/dev/null \
  || { log "openssl could not make the TLS certificate"; exit 1; }
# Mosquitto drops root privileges before reading its key: these throwaway files are readable.
chmod 644 "$RUN_DIR"/tls/*
tport() { echo $(( PORT[$1] + 1000 )); }
wport() { echo $(( PORT[$1] + 2000 )); }
qport() { echo $(( PORT[$1] + 3000 )); }
# Starling's extra listeners (starling-base gets them too unless BASE_TRANSPORTS=0).
starling_transports() {  # $1 broker: prints env assignments
  echo "STARLING_LISTENER__1__KIND=tls STARLING_LISTENER__1__BIND=127.0.0.1:$(tport "$1")" \
    "STARLING_LISTENER__1__TLS__CERTFILE=$CERT STARLING_LISTENER__1__TLS__KEYFILE=$KEY" \
    "STARLING_LISTENER__2__KIND=ws STARLING_LISTENER__2__BIND=127.0.0.1:$(wport "$1")" \
    "STARLING_LISTENER__3__KIND=quic STARLING_LISTENER__3__BIND=127.0.0.1:$(qport "$1")" \
    "STARLING_LISTENER__3__TLS__CERTFILE=$CERT STARLING_LISTENER__3__TLS__KEYFILE=$KEY"
}

# Per-run configs: the committed files with the port rewritten, plus a TLS listener.
{ sed "s/^listener [0-9]* /listener ${PORT[mosquitto]} /" "$HERE/mosquitto.conf"
  printf 'listener %s 127.0.0.1\ncertfile %s\nkeyfile %s\n' "$(tport mosquitto)" "$CERT" "$KEY"
} > "$RUN_DIR/mosquitto.conf"
{ sed "s/^listener [0-9]* /listener ${PORT[mosquitto-persist]} /" "$HERE/mosquitto.conf"
  echo "persistence true"; echo "persistence_location $RUN_DIR/mosquitto-data/"; echo "autosave_interval 1800"
} > "$RUN_DIR/mosquitto-persist.conf"
mkdir -p "$RUN_DIR/mosquitto-data"
sed "s/127.0.0.1:18832/127.0.0.1:${PORT[rumqttd]}/" "$HERE/rumqttd.toml" > "$RUN_DIR/rumqttd.toml"

# ---------------------------------------------------------------- versions
{
  echo "date: $(date -u +%FT%TZ)"
  echo "starling: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo ' (+ uncommitted changes)'), $(rustc --version)"
  echo "mosquitto: $("$MOSQUITTO" -h 2>/dev/null | head -1)"
  echo "rumqttd: $([[ -x $RUMQTTD ]] && cat "$PEERS_ROOT/rumqttd.how" 2>/dev/null || echo "$RUMQTTD" || echo 'not installed')"
  echo "nproc: $(nproc)"
  echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB total"}'), swap $(free -g | awk '/^Swap:/ {print $2 " GiB"}')"
  echo "kernel: $(uname -srm)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "rounds: $ROUNDS, duration $DURATION, brokers: $BROKERS"
} > "$RUN_DIR/machine.txt"
cat "$RUN_DIR/machine.txt" >&2

# ---------------------------------------------------------------- brokers
BPID=
start_broker() {  # $1 broker, $2 log file; sets BPID
  local b=$1 logf=$2
  case $b in
    starling)
      # A fresh store per start: what one scenario retained must not load into the next.
      env $(starling_transports starling) STARLING_LISTENER__0__BIND=127.0.0.1:${PORT[starling]} STARLING_LOG=warn \
        STARLING_NODE__DATA_DIR="$(mktemp -d "$RUN_DIR/data.XXXXXX")" \
        STARLING_NODE__WORKER_THREADS=1 "$BIN" start > "$logf" 2>&1 &
      ;;
    starling-base)
      # The same listeners and a data directory of its own, as "starling" has, so the two
      # differ only by the code (BASE_TRANSPORTS=0 for a binary older than the transports).
      local extra=()
      if [[ ${BASE_TRANSPORTS:-1} == 1 ]]; then
        read -r -a extra <<< "$(starling_transports starling-base)"
        extra+=("STARLING_NODE__DATA_DIR=$(mktemp -d "$RUN_DIR/data.XXXXXX")")
      fi
      env "${extra[@]}" STARLING_LISTENER__0__BIND=127.0.0.1:${PORT[starling-base]} STARLING_LOG=warn \
        STARLING_NODE__WORKER_THREADS=1 "$BASE_BIN" start > "$logf" 2>&1 &
      ;;
    starling-mt)
      env $(starling_transports starling-mt) STARLING_LISTENER__0__BIND=127.0.0.1:${PORT[starling-mt]} STARLING_LOG=warn \
        STARLING_NODE__DATA_DIR="$(mktemp -d "$RUN_DIR/data.XXXXXX")" \
        "$BIN" start > "$logf" 2>&1 &
      ;;
    starling-interval)
      env $(starling_transports starling-interval) STARLING_LISTENER__0__BIND=127.0.0.1:${PORT[starling-interval]} STARLING_LOG=warn \
        STARLING_NODE__DATA_DIR="$(mktemp -d "$RUN_DIR/data.XXXXXX")" \
        STARLING_DURABILITY__FSYNC=interval \
        STARLING_NODE__WORKER_THREADS=1 "$BIN" start > "$logf" 2>&1 &
      ;;
    mosquitto) "$MOSQUITTO" -c "$RUN_DIR/mosquitto.conf" > "$logf" 2>&1 & ;;
    mosquitto-persist)
      rm -rf "$RUN_DIR/mosquitto-data" && mkdir -p "$RUN_DIR/mosquitto-data"
      "$MOSQUITTO" -c "$RUN_DIR/mosquitto-persist.conf" > "$logf" 2>&1 & ;;
    rumqttd)   "$RUMQTTD" -c "$RUN_DIR/rumqttd.toml" > "$logf" 2>&1 & ;;
  esac
  BPID=$!
  PIDS+=("$BPID")
  local i
  for i in $(seq 1 100); do   # up to 10 s for the port to accept
    if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$b]}") 2>/dev/null; then
      sleep 0.3
      return 0
    fi
    kill -0 "$BPID" 2>/dev/null || { log "$b exited at start (see $logf)"; return 1; }
    sleep 0.1
  done
  log "$b did not listen on ${PORT[$b]} within 10 s"
  return 1
}
stop_broker() {
  local p=$BPID i
  [[ -n $p ]] || return 0
  kill "$p" 2>/dev/null
  for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  BPID=
}

# ---------------------------------------------------------------- scenarios
args_of() {  # $1 scenario, $2 broker (for the transport ports; "<b>" in commands.txt)
  local b=${2:-starling} fanin="pubsub --pubs 100 --subs 1 -t bench/fanin -q 0 -s 64 -d $DURATION"
  case $1 in
    conn_tls)    echo "conn -c $CONNS_TLS -d 3s --url mqtts://127.0.0.1:$(tport "$b") --cafile $CA" ;;
    conn_ws)     echo "conn -c $CONNS_TLS -d 3s --url ws://127.0.0.1:$(wport "$b")/mqtt" ;;
    conn_tls_full) echo "conn -c $CONNS_TLS -d 3s --url mqtts://127.0.0.1:$(tport "$b") --cafile $CA --no-tls-resume" ;;
    fanin0_tls)  echo "$fanin --url mqtts://127.0.0.1:$(tport "$b") --cafile $CA" ;;
    fanin0_ws)   echo "$fanin --url ws://127.0.0.1:$(wport "$b")/mqtt" ;;
    fanin0_quic) echo "$fanin --url quic://127.0.0.1:$(qport "$b") --cafile $CA" ;;
    conn)       echo "conn -c $CONNS -d 3s${IFADDR:+ --ifaddr $IFADDR}" ;;
    fanin0)     echo "pubsub --pubs 100 --subs 1 -t bench/fanin -q 0 -s 64 -d $DURATION" ;;
    fanin1)     echo "pubsub --pubs 100 --subs 1 -t bench/fanin -q 1 -s 64 -d $DURATION" ;;
    fanin1p)    echo "pubsub --pubs 100 --subs 1 -t bench/fanin -q 1 -s 64 -d $DURATION --no-clean --session-expiry 3600" ;;
    fanout0)    echo "pubsub --pubs 1 --subs 100 -t bench/fanout -q 0 -s 64 -d $DURATION" ;;
    pairs0)     echo "pubsub --pubs 1000 --subs 1000 -t bench/pair/%i -q 0 -s 64 -d $DURATION" ;;
    lat10k)     echo "pubsub --pubs 1 --subs 1 -t bench/lat -q 0 -R 10000 -s 64 -d $DURATION" ;;
    fanin0_16k) echo "pubsub --pubs 100 --subs 1 -t bench/fanin -q 0 -s 16384 -d $DURATION" ;;
    *) return 1 ;;
  esac
}
for s in $SCENARIOS; do args_of "$s" >/dev/null || { log "unknown scenario $s"; exit 1; }; done
for s in $SCENARIOS; do echo "$s: starling bench $(args_of "$s") -p <port> --json --broker-pid <pid>"; done > "$RUN_DIR/commands.txt"
# Transport scenarios run only on brokers that serve the transport.
serves() {  # $1 scenario, $2 broker
  case $1:$2 in
    *_tls:starling-base|*_ws:starling-base|*_quic:starling-base|conn_tls*:starling-base) return 1 ;;
    *_ws:mosquitto*|*_quic:mosquitto*|*_tls:rumqttd|*_ws:rumqttd|*_quic:rumqttd|conn_tls*:rumqttd) return 1 ;;
    conn_ws:starling-base) return 1 ;;
  esac
}

for r in $(seq 1 "$ROUNDS"); do
  mkdir -p "$RUN_DIR/r$r"
  for s in $SCENARIOS; do
    for b in $BROKERS; do
      serves "$s" "$b" || continue
      out=$RUN_DIR/r$r/$s.$b
      start_broker "$b" "$out.broker.log" || { stop_broker; continue; }
      a=$(args_of "$s" "$b")
      log "round $r/$ROUNDS $s $b (load $(cut -d' ' -f1-3 /proc/loadavg)): starling bench $a -p ${PORT[$b]} --json --broker-pid $BPID"
      echo "$(cut -d' ' -f1 /proc/loadavg)" > "$out.load"
      # bounded: duration plus generous slack for connecting and draining
      timeout "${BENCH_TIMEOUT:-120}" "$BIN" bench $a -p "${PORT[$b]}" --json --broker-pid "$BPID" > "$out.json" 2> "$out.err"
      rc=$?
      [[ $rc -eq 0 ]] || log "bench exited $rc (see $out.err)"
      tail -1 "$out.err" >&2
      stop_broker
      sleep 1
    done
  done
done

# ---------------------------------------------------------------- table
python3 "$HERE/table.py" "$RUN_DIR" $BROKERS | tee "$OUT"
log "table in $OUT, raw runs in $RUN_DIR"
