#!/usr/bin/env bash
# The kill -9 crash test at length: retained QoS 1/2 publishers, and persistent QoS 1 and QoS 2
# subscribers (lost, QoS 2 duplicates, sessions resumed), while the broker is killed with
# SIGKILL and restarted on the same store, CYCLES times (default 300; bounded in count, and each
# cycle in time). Counts acknowledged messages lost (must be 0). CI runs a short version
# (tests/e2e/test_persist.py with E2E_CRASH_CYCLES=5).
set -euo pipefail
cd "$(dirname "$0")/.."
CYCLES=${CYCLES:-300}
cargo build --release -p starling
STARLING_BIN="$PWD/target/release/starling" E2E_CRASH_CYCLES="$CYCLES" \
  timeout 1800 python3 -m pytest tests/e2e/test_persist.py -q -s
