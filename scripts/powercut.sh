#!/usr/bin/env bash
# The power-loss test of the store: CUTS simulated power cuts (default 1000, bounded in time by
# MAX_SECONDS, default 3000) on a FUSE filesystem that throws away every write no fsync covered
# (crates/powercut). A workload commits batches with Fsync::Always and prints each batch the
# store reports durable; the power is cut at a random operation, the workload killed, and the
# store reopened from what survived and checked: every batch reported durable is there, byte
# for byte, batches are whole or absent and in order, and the store opens and reports no damage.
# Every 4th cut is torn (a random part of the unsynced pages survives too).
#
# First, a self-test: with fsync ignored by the filesystem the checks must fail.
#
# Needs root and /dev/fuse (the filesystem is mounted with mount(2): no libfuse, no fusermount).
# CI runs a short version: CUTS=50 scripts/powercut.sh. A failing cut's image, the workload's
# output and its stderr are kept in target/powercut-failures/. SEED picks the cuts (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
CUTS=${CUTS:-1000}
SEED=${SEED:-1}
MAX_SECONDS=${MAX_SECONDS:-3000}

if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/fuse ]; then
  echo "powercut: needs root and /dev/fuse (uid $(id -u); /dev/fuse: $(ls -l /dev/fuse 2>&1))" >&2
  exit 1
fi

cargo build --release -q -p starling-powercut
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/powercut"
WORK=$(mktemp -d /tmp/powercut.XXXXXX)
cleanup() {
  for m in "$WORK"/*/mnt; do
    if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== powercut self-test: fsync ignored, so the checker must find lost batches"
rc=0
timeout 600 "$BIN" run --work "$WORK/selftest" --cuts 8 --chain 2 --ignore-fsync \
  >"$WORK/selftest.log" 2>&1 || rc=$?
if [ "$rc" -ne 1 ]; then
  cat "$WORK/selftest.log" >&2
  echo "powercut: the self-test exited $rc, not 1 (checks failed): the harness is broken" >&2
  exit 1
fi
caught=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2 of 8 cuts/p' "$WORK/selftest.log")
echo "powercut self-test: the checker caught lost batches in ${caught:-?}"

echo "== powercut: $CUTS cuts (seed $SEED, at most ${MAX_SECONDS}s)"
status=0
timeout $((MAX_SECONDS + 300)) "$BIN" run --work "$WORK/run" --cuts "$CUTS" --seed "$SEED" \
  --max-seconds "$MAX_SECONDS" || status=$?
if [ -d "$WORK/run/failures" ]; then
  rm -rf target/powercut-failures
  mkdir -p target
  cp -r "$WORK/run/failures" target/powercut-failures
  echo "powercut: failing cuts kept in target/powercut-failures/" >&2
fi
exit "$status"
