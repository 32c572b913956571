"""Access control with clients and files nobody here wrote: a password file made by Debian's
`mosquitto_passwd`, an ACL file in Mosquitto's format, mosquitto_pub/mosquitto_sub with -u/-P,
and paho-mqtt reading the CONNACK reason codes.

Waits end on explicit signals: mosquitto_sub's SUBACK line (-d), its exit after -C messages,
a sentinel message published after the one that must not arrive.
"""

from __future__ import annotations

import shutil
import subprocess

import paho.mqtt.client as mqtt
import pytest

from e2e_helpers import Client, unique
from test_mosquitto_clients import PROC_TIMEOUT, mosquitto_pub, subs  # noqa: F401 (fixture)

V5 = mqtt.MQTTv5
V311 = mqtt.MQTTv311

ACL = """\
# a file written for Mosquitto
user alice
topic write data/#
topic readwrite alice/#

user bob
topic read data/#
topic deny data/secret/#
"""


@pytest.fixture
def auth_broker(broker_factory, tmp_path):
    if shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto_passwd not found: apt-get install mosquitto")
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "alice", "wonderland"],
                   check=True, timeout=PROC_TIMEOUT)
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "bob", "builder"],
                   check=True, timeout=PROC_TIMEOUT)
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    config = f"""
[auth]
allow_anonymous = false
failure_delay = "10ms"
max_failure_delay = "40ms"
[[auth.authn]]
kind = "password_file"
path = "{passwd}"
[[auth.authz]]
kind = "acl_file"
path = "{acl}"
"""
    return broker_factory(config=config)


def creds(user, password):
    return ("-u", user, "-P", password)


@pytest.mark.parametrize("version", ["mqttv5", "mqttv311"])
def test_mosquitto_clients_with_passwords_and_acls(auth_broker, subs, version):  # noqa: F811
    topic = "data/" + unique("m")
    sub = subs(auth_broker, "data/#", version, qos=1, count=1, extra=creds("bob", "builder"))
    sub.wait_subscribed()
    # bob may not read data/secret/...; the open message after it is the one that arrives.
    for t, m in [("data/secret/" + unique("s"), "hidden"), (topic, "shown")]:
        r = mosquitto_pub(auth_broker, t, m, version, qos=1, extra=creds("alice", "wonderland"))
        assert r.returncode == 0, r.stdout + r.stderr
    assert sub.messages(1) == [(topic, 1, 0, "shown")]
    assert sub.finish() == 0


@pytest.mark.parametrize("version", ["mqttv5", "mqttv311"])
def test_mosquitto_pub_with_a_wrong_password_is_refused(auth_broker, version):
    r = mosquitto_pub(auth_broker, "data/x", "m", version, qos=1, extra=creds("alice", "nope"))
    assert r.returncode != 0
    out = (r.stdout + r.stderr).lower()
    assert "bad user name or password" in out or "not authorised" in out, out
    r = mosquitto_pub(auth_broker, "data/x", "m", version, qos=1)
    assert r.returncode != 0, "anonymous clients are not allowed"


@pytest.mark.parametrize("version", [V5, V311])
def test_paho_sees_the_reason_codes(auth_broker, version):
    def attempt(username, password):
        c = Client(auth_broker, version, connect=False)
        if username is not None:
            c.c.username_pw_set(username, password)
        try:
            _, rc, _ = c.connect(expect_success=False)
            return rc.value if hasattr(rc, "value") else int(rc)
        finally:
            c.close()

    assert attempt("alice", "wonderland") == 0
    # paho reports a 3.1.1 return code as its 5.0 reason code (4 -> 134, 5 -> 135).
    bad, anonymous = 134, 135
    assert attempt("alice", "wrong") == bad
    assert attempt("mallory", "wonderland") == bad
    assert attempt(None, None) == anonymous


def test_paho_subscription_to_a_denied_filter_is_refused(auth_broker):
    c = Client(auth_broker, V5, connect=False)
    c.c.username_pw_set("bob", "builder")
    c.connect()
    try:
        codes = c.subscribe("data/secret/#", qos=1)
        assert [getattr(x, "value", x) for x in codes] == [135]
        codes = c.subscribe("data/#", qos=1)
        assert [getattr(x, "value", x) for x in codes] == [1]
    finally:
        c.close()


def _connect_packet(client_id: str, username: str, password: str) -> bytes:
    """A 3.1.1 CONNECT with credentials, by hand (the flood must not wait for CONNACKs)."""
    def s(text: str) -> bytes:
        b = text.encode()
        return len(b).to_bytes(2, "big") + b
    body = s("MQTT") + bytes([4, 0xC2]) + (30).to_bytes(2, "big")
    body += s(client_id) + s(username) + s(password)
    n, length = len(body), b""
    while True:
        byte, n = n % 128, n // 128
        length += bytes([byte | (0x80 if n else 0)])
        if not n:
            break
    return bytes([0x10]) + length + body


def _rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_flood_of_bad_logins_and_a_reconnect_storm_leave_legit_traffic_flowing(auth_broker):
    import socket
    import threading

    sub = Client(auth_broker, V5, connect=False)
    sub.c.username_pw_set("bob", "builder")
    sub.connect()
    sub.subscribe("data/legit/#", qos=1)
    pub = Client(auth_broker, V5, connect=False)
    pub.c.username_pw_set("alice", "wonderland")
    pub.connect()
    rss_before = _rss_kb(auth_broker.proc.pid)

    flood: list[socket.socket] = []
    refused_storm = []

    def bad_logins():
        # 3,000 CONNECTs with a wrong password, all held open while the broker delays its
        # answers (bounded: one address, so the delay is at its 40 ms cap here).
        for i in range(3000):
            s = socket.create_connection((auth_broker.host, auth_broker.port), timeout=10)
            s.sendall(_connect_packet(f"flood-{i}", "alice", "guess-" + str(i)))
            flood.append(s)

    def storm():
        # One client id reconnecting over and over: flapping detection bans it.
        for _ in range(60):
            with socket.create_connection((auth_broker.host, auth_broker.port), timeout=30) as s:
                s.sendall(_connect_packet("stormy", "alice", "wonderland"))
                connack = b""
                while len(connack) < 4:
                    chunk = s.recv(4 - len(connack))
                    assert chunk, "closed before CONNACK"
                    connack += chunk
                if connack[3] != 0:
                    refused_storm.append(connack[3])

    threads = [threading.Thread(target=bad_logins), threading.Thread(target=storm)]
    for t in threads:
        t.start()
    for i in range(300):
        pub.publish(f"data/legit/{i}", f"m{i}".encode(), qos=1)
    got = sub.wait_messages(300, timeout=60)
    for t in threads:
        t.join(timeout=120)
    assert sorted(m.payload for m in got) == sorted(f"m{i}".encode() for i in range(300))
    assert refused_storm, "the reconnect storm was not banned"
    grown_mb = (_rss_kb(auth_broker.proc.pid) - rss_before) / 1024
    for s in flood:
        s.close()
    assert grown_mb < 64, f"broker RSS grew {grown_mb:.1f} MB under the flood"
    print(f"flood: 3000 bad logins, storm refused {len(refused_storm)}/60, RSS +{grown_mb:.1f} MB")
