"""SCRAM-SHA-256 / SCRAM-SHA-512 enhanced authentication (MQTT 5.0 AUTH packets) against a real
broker process, with `scramp` (PyPI) as the SCRAM client: an implementation nobody here wrote.
Covers the exchange at CONNECT, the refusals, and re-authentication (AUTH 0x19).

paho has no API for a multi-step AUTH exchange, so MQTT is spoken over a raw socket by the small
codec below (CONNECT, AUTH, CONNACK, DISCONNECT, PINGREQ). The user is created through the
management API (after the forced change of the admin's default password), which is when the
broker derives its SCRAM credentials. Every wait is on a packet, bounded by a socket timeout.
"""

from __future__ import annotations

import socket
import struct

import pytest
import requests
import scramp

from test_api import admin_session, base

CONFIG = """
[auth]
allow_anonymous = false
failure_delay = "10ms"
max_failure_delay = "20ms"
[[auth.authn]]
kind = "scram"
"""

CONNACK, PINGRESP, DISCONNECT, AUTH = 2, 13, 14, 15
CONTINUE, REAUTHENTICATE = 0x18, 0x19

# Property id -> kind, for what the broker may send (MQTT 5.0 section 2.2.2.2).
_PROPS = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "varint",
    0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str", 0x16: "bin", 0x17: "byte",
    0x18: "u32", 0x19: "byte", 0x1A: "str", 0x1C: "str", 0x1F: "str", 0x21: "u16",
    0x22: "u16", 0x23: "u16", 0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32",
    0x28: "byte", 0x29: "byte", 0x2A: "byte",
}


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(b: bytes) -> bytes:
    return struct.pack(">H", len(b)) + b


def auth_props(method: str, data: bytes) -> bytes:
    body = b"\x15" + string(method.encode()) + b"\x16" + string(data)
    return varint(len(body)) + body


def packet(kind: int, body: bytes, flags: int = 0) -> bytes:
    return bytes([kind << 4 | flags]) + varint(len(body)) + body


def connect(client_id: str, method: str, data: bytes) -> bytes:
    variable = string(b"MQTT") + bytes([5, 0x02]) + struct.pack(">H", 0)
    return packet(1, variable + auth_props(method, data) + string(client_id.encode()))


def auth(reason: int, method: str, data: bytes) -> bytes:
    return packet(AUTH, bytes([reason]) + auth_props(method, data))


def parse_props(body: bytes, at: int) -> tuple[dict, int]:
    length, at = read_varint(body, at)
    end, props = at + length, {}
    while at < end:
        pid, at = body[at], at + 1
        kind = _PROPS[pid]
        if kind == "byte":
            value, at = body[at], at + 1
        elif kind == "u16":
            value, at = struct.unpack_from(">H", body, at)[0], at + 2
        elif kind == "u32":
            value, at = struct.unpack_from(">I", body, at)[0], at + 4
        elif kind == "varint":
            value, at = read_varint(body, at)
        elif kind in ("str", "bin"):
            n = struct.unpack_from(">H", body, at)[0]
            value, at = body[at + 2:at + 2 + n], at + 2 + n
            if kind == "str":
                value = value.decode()
        else:  # a user property: two strings
            k = struct.unpack_from(">H", body, at)[0]
            v = struct.unpack_from(">H", body, at + 2 + k)[0]
            value, at = body[at + 2:at + 2 + k], at + 4 + k + v
        props[pid] = value
    return props, end


def read_varint(body: bytes, at: int) -> tuple[int, int]:
    n, shift = 0, 0
    while True:
        byte, at = body[at], at + 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, at


class Mqtt:
    """One raw MQTT 5.0 connection; `recv` waits (bounded) for the next whole packet."""

    def __init__(self, broker):
        self.sock = socket.create_connection((broker.host, broker.port), timeout=10)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _need(self, n: int) -> None:
        while len(self.buf) < n:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            self.buf += chunk

    def recv(self) -> tuple[int, int, dict]:
        """(packet type, reason code, properties) of the next packet."""
        self._need(2)
        at, length, shift = 1, 0, 0
        while True:
            self._need(at + 1)
            byte = self.buf[at]
            at += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        self._need(at + length)
        kind, body = self.buf[0] >> 4, self.buf[at:at + length]
        self.buf = self.buf[at + length:]
        if kind == CONNACK:
            props, _ = parse_props(body, 2)
            return kind, body[1], props
        if kind in (AUTH, DISCONNECT):
            if not body:
                return kind, 0, {}
            props, _ = parse_props(body, 1) if len(body) > 1 else ({}, 1)
            return kind, body[0], props
        return kind, 0, {}

    def closed(self) -> bool:
        """True once the broker closes the connection (waits for it)."""
        try:
            while self.sock.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            return False
        return True

    def close(self) -> None:
        self.sock.close()


def exchange(mqtt: Mqtt, client: scramp.ScramClient, method: str, first_packet) -> tuple:
    """Sends the client-first (in `first_packet`), answers the server-first; returns the
    broker's last packet (CONNACK or AUTH) as (type, reason, properties)."""
    mqtt.send(first_packet(method, client.get_client_first().encode()))
    kind, reason, props = mqtt.recv()
    if kind != AUTH:
        return kind, reason, props
    assert reason == CONTINUE and props[0x15] == method, (kind, reason, props)
    client.set_server_first(props[0x16].decode())
    mqtt.send(auth(CONTINUE, method, client.get_client_final().encode()))
    return mqtt.recv()


@pytest.fixture
def scram_broker(broker_factory):
    broker = broker_factory(config=CONFIG)
    api = admin_session(broker)
    made = api.post(base(broker) + "/api/v5/authentication/password_based:built_in_database/users",
                    json={"user_id": "alice", "password": "wonder-land"}, timeout=10)
    assert made.status_code == 200, made.text
    return broker


def scram_connect(broker, method: str, user: str, password: str):
    mqtt = Mqtt(broker)
    client = scramp.ScramClient([method], user, password)
    done = exchange(mqtt, client, method, lambda m, d: connect("e2e-scram", m, d))
    return mqtt, client, done


@pytest.mark.parametrize("method", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scramp_authenticates_and_verifies_the_server(scram_broker, method):
    mqtt, client, (kind, reason, props) = scram_connect(scram_broker, method, "alice",
                                                        "wonder-land")
    assert (kind, reason) == (CONNACK, 0), scram_broker.log()
    assert props[0x15] == method
    # scramp checks the server's signature: the broker knew the user's keys.
    client.set_server_final(props[0x16].decode())
    mqtt.send(packet(12, b""))  # PINGREQ on the authenticated connection
    assert mqtt.recv()[0] == PINGRESP
    mqtt.close()
    assert "wonder-land" not in scram_broker.log()


def test_a_wrong_password_an_unknown_user_and_an_unknown_method_are_refused(scram_broker):
    mqtt, _, (kind, reason, _) = scram_connect(scram_broker, "SCRAM-SHA-256", "alice", "nope")
    assert (kind, reason) == (CONNACK, 0x87)
    assert mqtt.closed()
    mqtt, _, (kind, reason, _) = scram_connect(scram_broker, "SCRAM-SHA-512", "mallory", "x")
    assert (kind, reason) == (CONNACK, 0x86)
    assert mqtt.closed()
    mqtt = Mqtt(scram_broker)
    mqtt.send(connect("e2e-plain", "PLAIN", b"\0alice\0wonder-land"))
    assert mqtt.recv()[:2] == (CONNACK, 0x8C)
    assert mqtt.closed()
    stats = requests.get(base(scram_broker) + "/api/v5/status", timeout=10)
    assert stats.status_code == 200


def test_scramp_re_authenticates_on_the_same_connection(scram_broker):
    mqtt, client, (kind, reason, props) = scram_connect(scram_broker, "SCRAM-SHA-256", "alice",
                                                        "wonder-land")
    assert (kind, reason) == (CONNACK, 0)
    client.set_server_final(props[0x16].decode())
    again = scramp.ScramClient(["SCRAM-SHA-256"], "alice", "wonder-land")
    kind, reason, props = exchange(mqtt, again, "SCRAM-SHA-256",
                                   lambda m, d: auth(REAUTHENTICATE, m, d))
    assert (kind, reason) == (AUTH, 0), scram_broker.log()
    again.set_server_final(props[0x16].decode())
    mqtt.send(packet(12, b""))
    assert mqtt.recv()[0] == PINGRESP
    # A re-authentication with a wrong password ends the connection with 0x87.
    wrong = scramp.ScramClient(["SCRAM-SHA-256"], "alice", "nope")
    kind, reason, _ = exchange(mqtt, wrong, "SCRAM-SHA-256",
                               lambda m, d: auth(REAUTHENTICATE, m, d))
    assert (kind, reason) == (DISCONNECT, 0x87)
    assert mqtt.closed()


def test_re_authentication_with_another_method_is_a_protocol_error(scram_broker):
    mqtt, _, (kind, reason, _) = scram_connect(scram_broker, "SCRAM-SHA-512", "alice",
                                               "wonder-land")
    assert (kind, reason) == (CONNACK, 0)
    other = scramp.ScramClient(["SCRAM-SHA-256"], "alice", "wonder-land")
    mqtt.send(auth(REAUTHENTICATE, "SCRAM-SHA-256", other.get_client_first().encode()))
    assert mqtt.recv()[:2] == (DISCONNECT, 0x82)
    assert mqtt.closed()
