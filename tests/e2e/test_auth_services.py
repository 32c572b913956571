"""The `http` and `jwt` authenticators with clients nobody here wrote: a web service (Python's
http.server) answering with EMQX 5's contract, rules included; tokens signed by PyJWT (PyPI);
mosquitto_pub with -u/-P and paho-mqtt reading the reason codes.

Waits end on explicit signals: CONNACK and PUBACK reason codes, mosquitto_pub's exit.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import paho.mqtt.client as mqtt
import pytest

from e2e_helpers import Client, rc_value, unique
from test_mosquitto_clients import mosquitto_pub

V5 = mqtt.MQTTv5

RULES = [
    {"permission": "allow", "action": "publish", "topic": "up/${clientid}/#"},
    {"permission": "allow", "action": "subscribe", "topic": "down/${username}/#"},
    {"permission": "deny", "action": "all", "topic": "#"},
]


class AuthService:
    """EMQX 5's HTTP authentication contract: alice/pw is let in with RULES, root/pw as a
    superuser, anyone else refused."""

    def __init__(self):
        self.requests: list[dict] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service.requests.append(body)
                if (body["username"], body["password"]) == ("alice", "pw"):
                    answer = {"result": "allow", "acl": RULES}
                elif (body["username"], body["password"]) == ("root", "pw"):
                    answer = {"result": "allow", "is_superuser": True}
                else:
                    answer = {"result": "deny"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mqtt/auth"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_broker(broker_factory):
    service = AuthService()
    config = f"""
[auth]
allow_anonymous = false
failure_delay = "10ms"
max_failure_delay = "40ms"
[[auth.authn]]
kind = "http"
url = "{service.url}"
cache_ttl = "0s"
"""
    try:
        yield broker_factory(config=config), service
    finally:
        service.close()


def connect_rc(broker, username, password, client_id=None) -> int:
    c = Client(broker, V5, client_id or unique("h"), connect=False)
    c.c.username_pw_set(username, password)
    try:
        _, rc, _ = c.connect(expect_success=False)
        return rc_value(rc)
    finally:
        c.close()


def test_http_service_decides_who_connects_and_what_they_may_do(http_broker):
    broker, service = http_broker
    # mosquitto_pub: let in, and its publish to its own subtree is taken (QoS 1: PUBACK).
    cid = unique("alice")
    r = mosquitto_pub(broker, f"up/{cid}/t", "m", "mqttv5", qos=1, client_id=cid,
                      extra=("-u", "alice", "-P", "pw"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert service.requests[-1] == {"clientid": cid, "username": "alice", "password": "pw",
                                    "peerhost": "127.0.0.1"}
    r = mosquitto_pub(broker, "up/x/t", "m", "mqttv5", qos=1, extra=("-u", "bob", "-P", "pw"))
    assert r.returncode != 0, "bob is refused by the service"
    assert connect_rc(broker, "bob", "pw") == 134  # bad user name or password

    # paho: the service's rules are the client's ACL.
    c = Client(broker, V5, unique("alice"), connect=False)
    c.c.username_pw_set("alice", "pw")
    c.connect()
    try:
        mine = c.c.publish(f"up/{c.client_id}/t", b"x", qos=1)
        mine.wait_for_publish(timeout=10)
        assert mine.rc == 0
        assert c.subscribe("down/alice/#", qos=1) == [1]
        assert rc_value(c.subscribe("up/#", qos=1)[0]) == 0x87
        refused = c.publish_acked("elsewhere/t")
        assert refused == 0x87, refused
    finally:
        c.close()

    # A superuser: no ACL check.
    root = Client(broker, V5, unique("root"), connect=False)
    root.c.username_pw_set("root", "pw")
    root.connect()
    try:
        assert root.subscribe("#", qos=0) == [0]
    finally:
        root.close()


SECRET = "e2e-jwt-secret-that-is-long-enough"


@pytest.fixture
def jwt_broker(broker_factory):
    config = f"""
[auth]
allow_anonymous = false
failure_delay = "10ms"
max_failure_delay = "40ms"
[[auth.authn]]
kind = "jwt"
algorithm = "HS256"
secret = "{SECRET}"
verify_claims = {{ sub = "%u" }}
"""
    return broker_factory(config=config)


def token(username: str, exp_in: float, acl=None) -> str:
    claims = {"sub": username, "exp": int(time.time() + exp_in)}
    if acl is not None:
        claims["acl"] = acl
    return jwt.encode(claims, SECRET, algorithm="HS256")


def test_jwt_tokens_from_pyjwt_are_checked_with_their_acl_claim(jwt_broker):
    broker = jwt_broker
    good = token("carol", 3600, acl=RULES)
    cid = unique("carol")
    r = mosquitto_pub(broker, f"up/{cid}/t", "m", "mqttv5", qos=1, client_id=cid,
                      extra=("-u", "carol", "-P", good))
    assert r.returncode == 0, r.stdout + r.stderr
    # Wrong secret, past exp, a sub that is not the username: refused.
    forged = jwt.encode({"sub": "carol", "exp": int(time.time() + 3600)}, "another-secret-that-is-long-enough",
                        algorithm="HS256")
    assert connect_rc(broker, "carol", forged) == 134
    assert connect_rc(broker, "carol", token("carol", -60)) == 134
    assert connect_rc(broker, "dave", good) == 134

    c = Client(broker, V5, unique("carol"), connect=False)
    c.c.username_pw_set("carol", good)
    c.connect()
    try:
        assert rc_value(c.subscribe("up/#", qos=1)[0]) == 0x87
        assert c.publish_acked("elsewhere/t") == 0x87
    finally:
        c.close()
