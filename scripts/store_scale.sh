#!/usr/bin/env bash
# Durable state at scale: SESSIONS persistent sessions (default 100,000) go offline, MESSAGES
# QoS 1 messages (default 1,000,000) are queued for them in the store, and the broker is
# killed with SIGKILL and started again on the same store. Reports, with the commands that
# measured them:
#   - broker RSS with the sessions offline and nothing queued, then with MESSAGES queued
#     (the target: at most 64 MB more);
#   - the restart: time until the listener accepts, and the store's own recovery time (log);
#   - that a resumed session gets its messages (Session Present, all of them).
# Bounded: every step has a timeout. Loopback only.
#
#   SESSIONS=100000 MESSAGES=1000000 scripts/store_scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-100000}
MESSAGES=${MESSAGES:-1000000}
BATCH=${BATCH:-10000}          # sessions made per `starling bench sub` run (fd cap: 20,000)
PORT=${PORT:-18870}
FSYNC=${FSYNC:-always}
PER=$(( MESSAGES / SESSIONS ))
(( PER >= 1 )) || { echo "MESSAGES must be at least SESSIONS" >&2; exit 1; }
[[ -n ${SKIP_BUILD:-} ]] || cargo build --release -p starling >&2
BIN=$PWD/target/release/starling
RUN=$(mktemp -d "${TMPDIR:-/tmp}/starling-scale.XXXXXX")
DATA=$RUN/data
ulimit -n 20000
log() { echo "== $(date +%T) $*" >&2; }
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
BPID=
start() {
  STARLING_LISTENER__0__BIND=127.0.0.1:$PORT STARLING_NODE__DATA_DIR=$DATA \
    STARLING_SESSION__MAX_OFFLINE=$(( SESSIONS * 2 )) STARLING_DURABILITY__FSYNC=$FSYNC \
    STARLING_LOG=info "$BIN" start >> "$RUN/broker.log" 2>&1 &
  BPID=$!
  local t0=$(date +%s.%N) i
  for i in $(seq 1 6000); do   # up to 10 minutes for a large store
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      STARTED_IN=$(echo "$(date +%s.%N) - $t0" | bc)
      return 0
    fi
    kill -0 "$BPID" 2>/dev/null || { log "broker exited; see $RUN/broker.log"; exit 1; }
    sleep 0.1
  done
  log "broker did not listen within 10 minutes"; exit 1
}
trap '[[ -n $BPID ]] && kill -9 $BPID 2>/dev/null; true' EXIT

start
log "broker up (pid $BPID) on $PORT, data in $DATA, fsync=$FSYNC"
made=0
while (( made < SESSIONS )); do
  n=$(( SESSIONS - made < BATCH ? SESSIONS - made : BATCH ))
  # Each connects with a kept session, subscribes to store/all at QoS 1, and disconnects.
  timeout 300 "$BIN" bench sub -p "$PORT" -c "$n" --prefix "s$made" --no-clean \
    --session-expiry 86400 -t store/all -q 1 -d 1s > "$RUN/sub.$made.log" 2>&1 \
    || { log "bench sub failed (see $RUN/sub.$made.log)"; exit 1; }
  made=$(( made + n ))
done
# The last disconnects are in flight: wait (bounded) for the sessions gauge in $SYS.
log "$made persistent sessions made"
sleep 2
IDLE=$(rss_mb "$BPID")
log "broker RSS with $SESSIONS offline sessions, nothing queued: $IDLE MB"
t0=$(date +%s.%N)
timeout 1200 "$BIN" bench pub -p "$PORT" -c 1 -t store/all -q 1 -s 64 -L "$PER" --inflight 1 \
  > "$RUN/pub.log" 2>&1 || { log "bench pub failed (see $RUN/pub.log)"; exit 1; }
QUEUE_S=$(echo "$(date +%s.%N) - $t0" | bc)
QUEUED=$(( PER * SESSIONS ))
FULL=$(rss_mb "$BPID")
log "$PER messages published to store/all, each acknowledged once durable: $QUEUED queued in ${QUEUE_S}s"
log "broker RSS with $QUEUED messages queued: $FULL MB (+$(echo "$FULL - $IDLE" | bc) MB)"
kill -9 "$BPID"; wait "$BPID" 2>/dev/null || true
log "killed with SIGKILL; starting again on the same store"
start
RECOVERED=$(grep "store recovered" "$RUN/broker.log" | tail -1)
RESTORED=$(grep "restored from the store" "$RUN/broker.log" | tail -1)
log "listening again after ${STARTED_IN}s"
log "  $RECOVERED"
log "  $RESTORED"
AFTER=$(rss_mb "$BPID")
log "broker RSS after the restart: $AFTER MB"
# One session resumes: Session Present, and all of its messages.
got=$(timeout 60 "$BIN" sub -p "$PORT" -i s0_sub_1 --no-clean -x 86400 -t store/all -q 1 \
  -C "$PER" 2>"$RUN/resume.err" | wc -l) || true
log "a resumed session received $got of $PER messages"
cat <<EOF
| what | value |
|---|---|
| persistent sessions, offline | $SESSIONS |
| messages queued in the store | $QUEUED ($PER each, 64 B payload, fsync=$FSYNC) |
| broker RSS, nothing queued | $IDLE MB |
| broker RSS, all queued | $FULL MB (+$(echo "$FULL - $IDLE" | bc) MB) |
| restart after kill -9: listening after | ${STARTED_IN} s |
| broker RSS after the restart | $AFTER MB |
| a resumed session got | $got of $PER |
EOF
