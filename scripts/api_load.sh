#!/usr/bin/env bash
# Message throughput with and without the management API being used hard at the same time.
#
#   scripts/api_load.sh                  # CLIENTS=10000 SUBS=100000 DURATION=10s ROUNDS=2
#
# Starts the release broker, holds $CLIENTS idle connections (`starling bench conn`) and one
# client with $SUBS subscriptions (paho-mqtt), then runs the same `starling bench pubsub`
# (100 QoS 1 publishers into one subscriber) alone and while two API clients page without
# pause: one through every client (GET /api/v5/clients, 1,000 a page), one through every
# subscription (GET /api/v5/subscriptions, 1,000 a page). Prints msg/s for both and the pages
# per second the listers got. Everything stays on 127.0.0.1; every loop is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-10000}
SUBS=${SUBS:-100000}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
# Pages per second each lister asks for (0: as fast as it can; on 2 cores shared with the
# generator and the Python listers themselves, that measures CPU contention as much as the
# broker).
PACE=${PACE:-0}
BIN=${STARLING_BIN:-target/release/starling}
[ -x "$BIN" ] || cargo build --release -q -p starling
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
export STARLING_LISTENER__0__BIND=127.0.0.1:21883 STARLING_API__BIND=127.0.0.1:28083
export STARLING_MQTT__MAX_SUBSCRIPTIONS=$((SUBS + 10)) STARLING_SYS__INTERVAL='"0s"'
(cd "$WORK" && exec "$OLDPWD/$BIN" start >"$WORK/broker.log" 2>&1) &
python3 - "$CLIENTS" "$SUBS" "$DURATION" "$ROUNDS" "$BIN" "$PACE" <<'PY'
import json, subprocess, sys, threading, time
import paho.mqtt.client as mqtt
import requests
clients, subs, duration, rounds, binary = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
pace = float(sys.argv[6])
api = "http://127.0.0.1:28083"
deadline = time.monotonic() + 20
while True:  # the broker has no readiness event to wait on: poll its health route, bounded
    try:
        if requests.get(api + "/api/v5/status", timeout=1).ok: break
    except requests.ConnectionError:
        pass
    if time.monotonic() > deadline: sys.exit("the broker did not start")
    time.sleep(0.1)
tok = requests.post(api + "/api/v5/login", json={"username": "admin", "password": "public"}).json()["token"]
requests.post(api + "/api/v5/users/admin/change_pwd", json={"old_pwd": "public", "new_pwd": "bench-Pass-1"},
              headers={"Authorization": "Bearer " + tok}).raise_for_status()
tok = requests.post(api + "/api/v5/login", json={"username": "admin", "password": "bench-Pass-1"}).json()["token"]
H = {"Authorization": "Bearer " + tok}
idle = subprocess.Popen([binary, "bench", "conn", "-p", "21883", "-c", str(clients), "-d", "600s",
                         "--prefix", "idle"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
holder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="holder", protocol=mqtt.MQTTv5)
acked = threading.Semaphore(0)
holder.on_subscribe = lambda *a: acked.release()
holder.connect("127.0.0.1", 21883); holder.loop_start()
for i in range(0, subs, 100):
    holder.subscribe([(f"load/{j}", 0) for j in range(i, min(i + 100, subs))])
for _ in range(0, subs, 100):
    if not acked.acquire(timeout=60): sys.exit("SUBACKs did not come")
deadline = time.monotonic() + 120
while requests.get(api + "/api/v5/stats", headers=H).json()["connections.count"] < clients + 1:
    if time.monotonic() > deadline: sys.exit("the idle clients did not all connect")
    time.sleep(0.5)

def bench():
    out = subprocess.run([binary, "bench", "pubsub", "-p", "21883", "--pubs", "100", "--subs", "1",
                          "-t", "bench/fanin", "-q", "1", "-d", duration, "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["receive_rate"]

def lister(path, stop, pages, rows):
    s = requests.Session(); s.headers.update(H)
    cursor = None
    while not stop.is_set():
        if pace:
            stop.wait(1 / pace)
        params = {"limit": 1000}
        if cursor: params["cursor"] = cursor
        page = s.get(api + path, params=params, timeout=30).json()
        pages.append(1); rows.append(len(page["data"]))
        cursor = page["meta"].get("cursor") if page["meta"]["hasnext"] else None

results = {"alone": [], "with_api": []}
listed = {}
for r in range(rounds):
    results["alone"].append(bench())
    stop = threading.Event(); stats = {p: ([], []) for p in ("/api/v5/clients", "/api/v5/subscriptions")}
    threads = [threading.Thread(target=lister, args=(p, stop, *stats[p])) for p in stats]
    t0 = time.monotonic(); [t.start() for t in threads]
    results["with_api"].append(bench())
    stop.set(); [t.join() for t in threads]
    dt = time.monotonic() - t0
    listed = {p: (len(v[0]) / dt, sum(v[1]) / dt) for p, v in stats.items()}
idle.terminate(); holder.loop_stop()
med = lambda v: sorted(v)[len(v) // 2]
a, w = med(results["alone"]), med(results["with_api"])
print(f"listers: {'as fast as they can' if not pace else f'{pace:g} pages/s each'}")
print(f"clients={clients + 1} subscriptions={subs} bench: pubsub --pubs 100 --subs 1 -q 1 -d {duration}, {rounds} rounds")
print(f"alone:    {a:,.0f} msg/s  {results['alone']}")
print(f"with API: {w:,.0f} msg/s  {results['with_api']}  ratio {w / a:.2f}")
for p, (pps, rps) in listed.items():
    print(f"  {p}: {pps:.1f} pages/s ({rps:,.0f} rows/s) during the last round")
PY
