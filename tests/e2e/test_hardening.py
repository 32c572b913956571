"""End-to-end hardening scenarios with clients nobody here wrote: paho-mqtt (PyPI) and
mosquitto_sub (Debian's mosquitto-clients).

- Every retained message reaches a new wildcard subscriber, however many are stored: they are
  streamed against the subscriber's window, never cut at some count.
- A client that sends 300 x SUBSCRIBE # in one write and never reads cannot grow the broker
  or hold up anyone else.
- Offline sessions take no listener slot.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess

import paho.mqtt.client as mqtt
import pytest

from e2e_helpers import Client, unique

V5 = mqtt.MQTTv5
V311 = mqtt.MQTTv311
N_RETAINED = 20_000


def broker_rss(broker) -> int:
    """Resident memory of the broker process, in bytes."""
    with open(f"/proc/{broker.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def store_retained(broker, prefix: str, n: int) -> None:
    """n retained messages under prefix/, confirmed by a QoS 1 retained one sent last."""
    pub = Client(broker, V5)
    payload = b"x" * 100
    for i in range(n):
        info = pub.c.publish(f"{prefix}/{i % 100}/{i}", payload, qos=0, retain=True)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS
    pub.publish(f"{prefix}/last", payload, qos=1, retain=True)
    pub.disconnect()


def encode_len(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def raw_subscribe_v311(packet_id: int, topic_filter: str) -> bytes:
    body = struct.pack("!H", packet_id) + struct.pack("!H", len(topic_filter))
    body += topic_filter.encode() + b"\x00"
    return b"\x82" + encode_len(len(body)) + body


def raw_connect_v311(client_id: str) -> bytes:
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", 60) + struct.pack("!H", len(cid)) + cid
    return b"\x10" + encode_len(len(body)) + body


def test_every_retained_message_reaches_a_wildcard_subscriber(broker):
    if shutil.which("mosquitto_sub") is None:
        pytest.fail("mosquitto_sub not found: apt-get install mosquitto-clients")
    prefix = unique("bulk")
    store_retained(broker, prefix, N_RETAINED)
    # QoS 1: the retained stream is paced by mosquitto_sub's acknowledgements.
    out = subprocess.run(
        ["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-V", "mqttv5",
         "-t", f"{prefix}/#", "-q", "1", "-C", str(N_RETAINED + 1), "-W", "60",
         "-F", "%t"],
        capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    topics = out.stdout.split()
    assert len(topics) == N_RETAINED + 1
    assert len(set(topics)) == N_RETAINED + 1, "each retained message exactly once"


def test_subscribe_flood_from_a_silent_client_is_contained(broker):
    prefix = unique("amp")
    store_retained(broker, prefix, N_RETAINED)
    before = broker_rss(broker)
    attacker = socket.create_connection((broker.host, broker.port))
    try:
        attacker.sendall(raw_connect_v311(unique("amp")))
        flood = b"".join(raw_subscribe_v311(i, "#") for i in range(1, 301))
        attacker.sendall(flood)
        # The attacker never reads. Others are served meanwhile, behind its 300 SUBSCRIBEs:
        other = Client(broker, V5)
        other.subscribe(f"{prefix}/7/7", qos=1)
        got = other.wait_messages(1, topic=f"{prefix}/7/7")
        assert got[0].retain
        other.publish(f"{prefix}/echo", b"ping", qos=1)
        other.disconnect()
        grown = broker_rss(broker) - before
        # 300 answers carrying 20,000 retained messages each would be over a gigabyte.
        assert grown < 64 << 20, f"broker grew by {grown >> 20} MB"
    finally:
        attacker.close()


def test_offline_sessions_do_not_keep_listener_slots(broker_factory):
    broker = broker_factory(env={"STARLING_LISTENER__0__MAX_CONNECTIONS": "3"})
    for round_ in range(2):
        for i in range(3):
            c = Client(broker, V311, client_id=f"keeper-{i}", clean=False)
            present = c.connacks[-1][0].session_present
            assert present == (round_ > 0)
            c.disconnect()
    # A newcomer still gets in.
    Client(broker, V5).disconnect()
