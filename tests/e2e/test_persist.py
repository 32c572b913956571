"""Durable state across `kill -9`, driven with paho-mqtt.

A publisher sends retained QoS 1 and QoS 2 messages, each on its own topic, while the broker is
killed with SIGKILL at a random moment and restarted on the same store. Every message whose
PUBACK or PUBCOMP the publisher received was acknowledged only once the store had it, so after
the restart a new subscriber must find each one as a retained message: the checker counts
acknowledged messages lost (must be 0) and retained messages changed (must be 0).

A second test keeps persistent QoS 1 and QoS 2 subscribers connected (paho reconnects them)
through the same cycles: acknowledged messages lost, QoS 2 duplicates delivered and sessions
resumed without Session Present are counted, and all must be 0.

E2E_CRASH_CYCLES sets the number of kill/restart cycles (CI runs a few; `scripts/crash.sh`
runs hundreds).
"""

from __future__ import annotations

import collections
import os
import random
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

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


class Subscriber:
    """A persistent subscriber that stays one paho client across every crash: paho reconnects
    it (Clean Start 0 / clean session 0) and keeps its own QoS 2 state, as a real application's
    client would. Counts every payload it is given and records Session Present of every
    CONNACK."""

    def __init__(self, broker, client_id: str, topic: str, qos: int, protocol):
        self.counts: collections.Counter[bytes] = collections.Counter()
        self.present: list[bool] = []
        self.cond = threading.Condition()
        self.topic, self.qos = topic, qos
        kwargs = {"clean_session": False} if protocol != V5 else {}
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=protocol, **kwargs)
        self.c.reconnect_delay_set(min_delay=0.05, max_delay=0.5)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda *a: self._note("subscribed")
        self.subscribed = False
        if protocol == V5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            self.c.connect(broker.host, broker.port, clean_start=False, properties=props)
        else:
            self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        with self.cond:
            assert self.cond.wait_for(lambda: self.subscribed, timeout=30), "no SUBACK"

    def _note(self, what):
        with self.cond:
            self.subscribed = True
            self.cond.notify_all()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self.cond:
            self.present.append(bool(flags.session_present))
            self.cond.notify_all()
        if not self.present[1:]:  # the first connection subscribes; the others resume
            client.subscribe(self.topic, qos=self.qos)

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.counts[msg.payload] += 1
            self.cond.notify_all()

    def wait_connected(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.present) >= n, timeout=60), \
                f"{self.c._client_id!r}: {len(self.present)} connections, wanted {n}"

    def wait_for_all(self, want: set[bytes], timeout: float = 60) -> set[bytes]:
        """Waits (bounded) until every payload in want came; returns those still missing."""
        with self.cond:
            self.cond.wait_for(lambda: want <= self.counts.keys(), timeout=timeout)
            return want - self.counts.keys()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_persistent_subscribers_lose_nothing_and_get_qos2_once_across_kill_9(broker):
    """QoS 1 (3.1.1, clean session 0) and QoS 2 (5.0, session expiry) persistent subscribers
    stay subscribed while a publisher sends to them and the broker is killed and restarted.
    Every acknowledged message must reach its subscriber (lost: 0), a QoS 2 message exactly
    once (duplicates: 0), and every reconnection must resume the session (Session Present)."""
    prefix = unique("crash-sess")
    rng = random.Random(os.environ.get("E2E_CRASH_SEED", "2"))
    sub1 = Subscriber(broker, unique("s1"), f"{prefix}/q1/#", 1, mqtt.MQTTv311)
    sub2 = Subscriber(broker, unique("s2"), f"{prefix}/q2/#", 2, V5)
    acked1: set[bytes] = set()
    acked2: set[bytes] = set()
    for cycle in range(CYCLES):
        pub = SessionPublisher(broker, prefix, cycle)
        deadline = time.monotonic() + rng.uniform(0.05, 0.3)
        while time.monotonic() < deadline:
            pub.publish_some(16)
            time.sleep(0.005)  # pacing the generator, not synchronising the test
        broker.kill()
        a1, a2 = pub.stop()
        acked1 |= a1
        acked2 |= a2
        broker.crash_and_restart()
        sub1.wait_connected(cycle + 2)
        sub2.wait_connected(cycle + 2)
    lost1 = sub1.wait_for_all(acked1)
    lost2 = sub2.wait_for_all(acked2)
    dup2 = [p for p, n in sub2.counts.items() if n > 1]
    not_present = [i for s in (sub1, sub2) for i, p in enumerate(s.present[1:]) if not p]
    sub1.close()
    sub2.close()
    assert acked1 and acked2, "nothing was acknowledged"
    assert not lost1, f"QoS 1: {len(lost1)} of {len(acked1)} acknowledged lost\n{broker.log()[-3000:]}"
    assert not lost2, f"QoS 2: {len(lost2)} of {len(acked2)} acknowledged lost\n{broker.log()[-3000:]}"
    assert not dup2, f"QoS 2 delivered twice: {dup2[:5]}"
    assert not not_present, f"reconnections without Session Present: {not_present}"
    print(f"{CYCLES} kill -9 cycles: {len(acked1)} QoS 1 and {len(acked2)} QoS 2 acknowledged, "
          f"0 lost, 0 QoS 2 duplicates, {2 * CYCLES} sessions resumed")


class SessionPublisher:
    """Publishes unique payloads, QoS 1 to q1/ and QoS 2 to q2/, recording which were acked."""

    def __init__(self, broker, prefix: str, cycle: int):
        self.prefix, self.cycle, self.n = prefix, cycle, 0
        self.sent: dict[int, tuple[int, bytes]] = {}
        self.acked_mids: set[int] = set()
        self.lock = threading.Lock()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("crash-spub"),
                             protocol=V5)
        self.c.max_inflight_messages_set(32)
        self.c.on_publish = self._on_publish
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        if not reason_code.is_failure:
            with self.lock:
                self.acked_mids.add(mid)

    def publish_some(self, count: int) -> None:
        for _ in range(count):
            self.n += 1
            qos = 1 if self.n % 2 else 2
            payload = f"{self.cycle}-{self.n}".encode()
            info = self.c.publish(f"{self.prefix}/q{qos}/t", payload, qos=qos)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
            self.sent[info.mid] = (qos, payload)

    def stop(self) -> tuple[set[bytes], set[bytes]]:
        self.c.loop_stop()
        with self.lock:
            acked = [self.sent[m] for m in self.acked_mids if m in self.sent]
        return ({p for q, p in acked if q == 1}, {p for q, p in acked if q == 2})
