#!/usr/bin/env python3
"""Markdown table from a scripts/compare.sh run directory.

usage: table.py RUN_DIR broker [broker...]   (first broker is the one the ratios are for)

Reads RUN_DIR/r<N>/<scenario>.<broker>.json (one `starling bench --json` summary each) and
prints, per metric: the median over rounds for each broker, the first broker's ratio to each
other broker, and the per-run values in round order ("–" where a run failed or is missing).
"""
import glob
import json
import os
import statistics
import sys

run_dir, brokers = sys.argv[1], sys.argv[2:]
rounds = sorted(glob.glob(os.path.join(run_dir, "r[0-9]*")), key=lambda p: int(p.rsplit("r", 1)[1]))
NAMES = {
    "starling": "Starling (1 worker)",
    "mosquitto": "Mosquitto",
    "rumqttd": "rumqttd",
    "starling-mt": "Starling (worker per core)",
    "starling-base": "Starling before (1 worker)",
    "starling-interval": "Starling fsync=interval (1 worker)",
    "mosquitto-persist": "Mosquitto persistence on",
}


def load(scenario, broker):
    out = []
    for r in rounds:
        try:
            with open(os.path.join(r, f"{scenario}.{broker}.json")) as f:
                out.append(json.load(f))
        except (OSError, ValueError):
            out.append(None)
    return out


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def kb_to_mb(x):
    return None if x is None else x / 1024


def fmt(x):
    if x is None:
        return "–"
    if isinstance(x, float) and x == int(x):
        x = int(x)
    if isinstance(x, float) and abs(x) < 100:
        return f"{x:.3f}" if 0 < abs(x) < 0.01 else f"{x:.2f}"
    return f"{x:,.0f}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


rows = []


def metric(scenario, label, unit, better, f):
    vals = {b: [None if d is None else f(d) for d in load(scenario, b)] for b in brokers}
    if all(v is None for b in brokers for v in vals[b]):
        return
    rows.append((label, unit, better, {b: med(vals[b]) for b in brokers}, vals))


present = lambda s: any(os.path.exists(os.path.join(r, f"{s}.{b}.json")) for r in rounds for b in brokers)

if present("conn"):
    metric("conn", "idle connections: connected", "conn", "↑", lambda d: get(d, "connected"))
    metric("conn", "idle connections: broker RSS per connection", "bytes", "↓",
           lambda d: get(d, "broker", "rss_per_connection_bytes"))
    metric("conn", "idle connections: connect rate", "conn/s", "↑", lambda d: get(d, "connect_rate"))
    metric("conn", "idle connections: broker peak RSS", "MB", "↓",
           lambda d: kb_to_mb(get(d, "broker", "peak_rss_kb")))

if present("conn_tls"):
    metric("conn_tls", "idle TLS connections: connected", "conn", "↑", lambda d: get(d, "connected"))
    metric("conn_tls", "idle TLS connections: TLS handshakes (connect rate)", "conn/s", "↑",
           lambda d: get(d, "connect_rate"))
    metric("conn_tls", "idle TLS connections: broker RSS per connection", "bytes", "↓",
           lambda d: get(d, "broker", "rss_per_connection_bytes"))
    metric("conn_tls", "idle TLS connections: broker peak RSS", "MB", "↓",
           lambda d: kb_to_mb(get(d, "broker", "peak_rss_kb")))

if present("conn_tls_full"):
    metric("conn_tls_full", "idle TLS connections, full handshakes: TLS handshakes (connect rate)",
           "conn/s", "↑", lambda d: get(d, "connect_rate"))

if present("conn_ws"):
    metric("conn_ws", "idle WebSocket connections: connected", "conn", "↑", lambda d: get(d, "connected"))
    metric("conn_ws", "idle WebSocket connections: connect rate", "conn/s", "↑",
           lambda d: get(d, "connect_rate"))
    metric("conn_ws", "idle WebSocket connections: broker RSS per connection", "bytes", "↓",
           lambda d: get(d, "broker", "rss_per_connection_bytes"))

for s, label in [
    ("fanin0", "fan-in 100 -> 1, QoS 0"),
    ("fanin0_tls", "fan-in 100 -> 1, QoS 0, TLS"),
    ("fanin0_ws", "fan-in 100 -> 1, QoS 0, WebSocket"),
    ("fanin0_quic", "fan-in 100 -> 1, QoS 0, QUIC"),
    ("fanin1", "fan-in 100 -> 1, QoS 1"),
    ("fanin1p", "fan-in 100 -> 1, QoS 1, persistent subscriber"),
    ("fanout0", "fan-out 1 -> 100, QoS 0"),
    ("pairs0", "1,000 pairs, QoS 0"),
    ("fanin0_16k", "fan-in 100 -> 1, QoS 0, 16 KB"),
]:
    if not present(s):
        continue
    metric(s, f"{label}: delivered", "msg/s", "↑", lambda d: get(d, "receive_rate"))
    metric(s, f"{label}: loss", "%", "↓", lambda d: get(d, "loss", "loss_pct"))
    metric(s, f"{label}: lost", "msgs", "↓", lambda d: get(d, "loss", "lost"))
    metric(s, f"{label}: latency p50", "µs", "↓", lambda d: get(d, "latency_us", "p50"))
    metric(s, f"{label}: latency p99", "µs", "↓", lambda d: get(d, "latency_us", "p99"))
    metric(s, f"{label}: broker CPU", "cores", "↓", lambda d: get(d, "broker", "cores"))
    metric(s, f"{label}: broker peak RSS", "MB", "↓", lambda d: kb_to_mb(get(d, "broker", "peak_rss_kb")))
    metric(s, f"{label}: bench CPU", "cores", "", lambda d: get(d, "bench_cpu", "cores"))

if present("lat10k"):
    L = "latency at 10,000 msg/s (1 -> 1, QoS 0)"
    metric("lat10k", f"{L}: delivered", "msg/s", "", lambda d: get(d, "receive_rate"))
    metric("lat10k", f"{L}: loss", "%", "↓", lambda d: get(d, "loss", "loss_pct"))
    metric("lat10k", f"{L}: p50", "µs", "↓", lambda d: get(d, "latency_us", "p50"))
    metric("lat10k", f"{L}: p99", "µs", "↓", lambda d: get(d, "latency_us", "p99"))
    metric("lat10k", f"{L}: p99.9", "µs", "↓", lambda d: get(d, "latency_us", "p99_9"))
    metric("lat10k", f"{L}: broker CPU", "cores", "↓", lambda d: get(d, "broker", "cores"))
    metric("lat10k", f"{L}: broker peak RSS", "MB", "↓", lambda d: kb_to_mb(get(d, "broker", "peak_rss_kb")))

first, peers = brokers[0], brokers[1:]
head = ["scenario", "unit", "better"] + [NAMES.get(b, b) for b in brokers]
head += [f"{NAMES.get(first, first)} / {NAMES.get(p, p)}" for p in peers]
head += ["runs (" + "; ".join(NAMES.get(b, b) for b in brokers) + ")"]
print("| " + " | ".join(head) + " |")
print("|---|---|:-:|" + "---:|" * (len(brokers) + len(peers)) + "---|")
for label, unit, better, meds, vals in rows:
    cells = [label, unit, better] + [fmt(meds[b]) for b in brokers]
    for p in peers:
        a, b = meds[first], meds[p]
        cells.append("–" if a is None or not b else f"{a / b:.2f}")
    cells.append("; ".join(", ".join(fmt(x) for x in vals[b]) for b in brokers))
    print("| " + " | ".join(cells) + " |")
print()
print(f"Medians of {len(rounds)} round(s); ratios are {NAMES.get(first, first)} / peer of the medians; "
      "\"better\": ↑ higher is better, ↓ lower is better.")
