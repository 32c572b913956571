"""Durable state across `kill -9`, driven with paho-mqtt.

A publisher sends retained QoS 1 and QoS 2 messages, each on its own topic, while the broker is
killed with SIGKILL at a random moment and restarted on the same store. Every message whose
PUBACK or PUBCOMP the publisher received was acknowledged only once the store had it, so after
the restart a new subscriber must find each one as a retained message: the checker counts
acknowledged messages lost (must be 0) and retained messages changed (must be 0).

E2E_CRASH_CYCLES sets the number of kill/restart cycles (CI runs a few; `scripts/crash.sh`
runs hundreds).
"""

from __future__ import annotations

import os
import random
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes  # noqa: F401  (kept for 5.0 properties later)

from e2e_helpers import Client, unique

CYCLES = int(os.environ.get("E2E_CRASH_CYCLES", "5"))
V5 = mqtt.MQTTv5


class Publisher:
    """Publishes retained messages as fast as its window allows, recording which were acked."""

    def __init__(self, broker, prefix: str):
        self.prefix = prefix
        self.acked_mids: set[int] = set()
        self.sent: dict[int, tuple[str, bytes]] = {}
        self.lock = threading.Lock()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("crash-pub"),
                             protocol=V5)
        self.c.max_inflight_messages_set(32)
        self.c.on_publish = self._on_publish
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        self.n = 0

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        # Only the mid here: the ack can come before publish() returns its mid to us.
        if not reason_code.is_failure:
            with self.lock:
                self.acked_mids.add(mid)

    def publish_some(self, count: int) -> None:
        for _ in range(count):
            self.n += 1
            topic = f"{self.prefix}/{self.n:06d}"
            payload = f"m{self.n}".encode()
            qos = 1 if self.n % 2 else 2
            info = self.c.publish(topic, payload, qos=qos, retain=True)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
            self.sent[info.mid] = (topic, payload)

    def stop(self) -> dict[str, bytes]:
        """Stops the client (its broker is gone) and returns what was acknowledged."""
        self.c.loop_stop()
        with self.lock:
            return dict(self.sent[mid] for mid in self.acked_mids if mid in self.sent)


def retained_under(broker, prefix: str, expected: dict[str, bytes]) -> dict[str, bytes]:
    """The retained messages under prefix/ that a fresh subscriber gets, waiting (bounded)
    until every expected topic has come. Retained messages are streamed behind the SUBACK
    against the session's credit, so live traffic (a sentinel) can overtake them: the wait is
    for the expected topics themselves, and what is missing after the bound is reported."""
    sub = Client(broker, V5)
    sub.subscribe(f"{prefix}/#", qos=1)

    missing = set(expected)
    read = [0]

    def all_here():  # called under the client's lock on every message: incremental
        for m in sub.messages[read[0]:]:
            missing.discard(m.topic)
        read[0] = len(sub.messages)
        return not missing

    with sub.cond:
        sub.cond.wait_for(all_here, timeout=60)
    got = {m.topic: m.payload for m in sub.received()}
    sub.disconnect()
    sub.close()
    return got


def check(broker, prefix: str, acked: dict[str, bytes], when: str) -> None:
    kept = retained_under(broker, prefix, acked)
    lost = [t for t in acked if t not in kept]
    changed = [t for t, p in acked.items() if t in kept and kept[t] != p]
    assert not lost, (f"{when}: {len(lost)} of {len(acked)} acknowledged messages lost, "
                      f"e.g. {lost[:5]}\n{broker.log()[-3000:]}")
    assert not changed, f"{when}: retained messages changed: {changed[:5]}"


def test_acknowledged_retained_messages_survive_kill_9(broker):
    prefix = unique("crash")
    rng = random.Random(os.environ.get("E2E_CRASH_SEED", "1"))
    acked_total: dict[str, bytes] = {}
    for cycle in range(CYCLES):
        pub = Publisher(broker, f"{prefix}/{cycle}")
        # Let acks flow for a random moment, then kill the broker mid-stream.
        deadline = time.monotonic() + rng.uniform(0.05, 0.3)
        while time.monotonic() < deadline:
            pub.publish_some(16)
            time.sleep(0.005)  # pacing the generator, not synchronising the test
        broker.kill()
        acked = pub.stop()
        broker.crash_and_restart()
        assert acked, f"cycle {cycle}: no message was acknowledged before the kill"
        acked_total.update(acked)
        # This cycle's messages after its kill; everything again at the end (reading all of
        # them every cycle would make the checker, not the broker, the slow part).
        check(broker, f"{prefix}/{cycle}", acked, f"cycle {cycle}")
    check(broker, prefix, acked_total, f"after {CYCLES} cycles")
    print(f"{CYCLES} kill -9 cycles, {len(acked_total)} acknowledged retained messages, 0 lost")
