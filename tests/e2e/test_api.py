"""The management API on a real broker process, driven by `requests` (PyPI) and paho-mqtt, and
fuzzed by schemathesis (PyPI) against the OpenAPI document it serves.

Covers a new user's first steps: the default admin/public login is forced to change its
password, then clients made by paho show up, can be kicked, messages go out through the API,
and Prometheus reads the counters. schemathesis then generates requests for every operation for
a bounded time: no 500s, and every answer matches the document (status, content type, schema).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import paho.mqtt.client as mqtt
import requests

from e2e_helpers import Client, rc_value, unique

NEW_PASSWORD = "e2e-Secret-42"


def base(broker) -> str:
    return f"http://{broker.host}:{broker.api_port}"


def wait_api(broker, timeout: float = 10.0) -> None:
    """The API starts right after the MQTT listeners: poll its health route (no readiness
    event to wait on; bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(base(broker) + "/api/v5/status", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the API did not answer within {timeout}s:\n{broker.log()}")


def login(broker, password: str) -> dict:
    r = requests.post(base(broker) + "/api/v5/login",
                      json={"username": "admin", "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def admin_session(broker) -> requests.Session:
    """Logs in with the default password, changes it, logs in again."""
    wait_api(broker)
    first = login(broker, "public")
    assert first["must_change_password"] is True
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + first["token"]
    refused = s.get(base(broker) + "/api/v5/clients", timeout=10)
    assert refused.status_code == 403
    assert refused.json()["code"] == "CHANGE_PASSWORD_REQUIRED"
    changed = s.post(base(broker) + "/api/v5/users/admin/change_pwd",
                     json={"old_pwd": "public", "new_pwd": NEW_PASSWORD}, timeout=10)
    assert changed.status_code == 204, changed.text
    s.headers["Authorization"] = "Bearer " + login(broker, NEW_PASSWORD)["token"]
    return s


def test_a_new_user_logs_in_changes_the_password_and_manages_clients(broker):
    api = admin_session(broker)
    url = base(broker)
    client_id = unique("paho")
    c = Client(broker, mqtt.MQTTv5, client_id, connect=False)
    c.c.username_pw_set("alice")
    c.connect()
    c.subscribe("api/e2e/#", qos=1)

    clients = api.get(url + "/api/v5/clients", params={"like_clientid": client_id}, timeout=10).json()
    assert [x["clientid"] for x in clients["data"]] == [client_id]
    assert clients["data"][0]["username"] == "alice"
    assert clients["data"][0]["proto_ver"] == 5
    subs = api.get(url + f"/api/v5/clients/{client_id}/subscriptions", timeout=10).json()
    assert subs[0]["topic"] == "api/e2e/#"

    sent = api.post(url + "/api/v5/publish",
                    json={"topic": "api/e2e/hello", "payload": "from the API", "qos": 1}, timeout=10)
    assert sent.status_code == 200, sent.text
    c.wait_messages(1, "api/e2e/hello")
    assert c.received("api/e2e/hello")[0].payload == b"from the API"

    kicked = api.post(url + f"/api/v5/clients/{client_id}/kickout", timeout=10)
    assert kicked.status_code == 204
    c.wait_for(lambda: c.disconnects, what="the kick")
    assert rc_value(c.disconnects[0][0]) == 0x98  # Administrative action

    prom = api.get(url + "/api/v5/prometheus/stats", timeout=10)
    assert "starling_messages_qos1_sent" in prom.text
    assert requests.get(url + "/api/v5/prometheus/stats", timeout=10).status_code == 401
    c.close()


def test_a_trace_on_a_paho_client_records_its_packets(broker):
    api = admin_session(broker)
    url = base(broker)
    client_id = unique("traced")
    started = api.post(url + "/api/v5/trace", json={
        "name": "e2e-trace", "type": "clientid", "clientid": client_id,
        "payload_encode": "text"}, timeout=10)
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "running"

    c = Client(broker, mqtt.MQTTv5, client_id)
    c.subscribe("trace/e2e/#", qos=1)
    c.publish("trace/e2e/a", b"hello trace", qos=1)  # waits for its PUBACK
    c.wait_messages(1, "trace/e2e/a")
    # Its PUBACK for the delivery went before this PUBLISH: the sentinel's PUBACK proves the
    # broker read both.
    c.publish("trace/e2e/sentinel", b"", qos=1)

    listed = api.get(url + "/api/v5/trace", timeout=10).json()
    assert [t["name"] for t in listed] == ["e2e-trace"]
    assert listed[0]["clientid"] == client_id
    stopped = api.put(url + "/api/v5/trace/e2e-trace/stop", timeout=10)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped"
    log = api.get(url + "/api/v5/trace/e2e-trace/download", timeout=10)
    assert log.status_code == 200
    assert log.headers["content-type"].startswith("text/plain")
    assert "attachment" in log.headers["content-disposition"]
    lines = log.text.splitlines()

    def line(*words):
        found = [l for l in lines if all(w in l for w in words)]
        assert found, f"no line with {words} in:\n{log.text}"
        return found[0]

    assert line(" in CONNECT", "proto=5.0").split(" ")[1].startswith(client_id + "@127.0.0.1:")
    assert "reason=0x00" in line(" out CONNACK")
    line(" in SUBSCRIBE", '"trace/e2e/#" qos=1')
    line(" out SUBACK", "reasons=[0x01]")
    line(" in PUBLISH", 'topic="trace/e2e/a" qos=1', 'payload="hello trace"')
    line(" out PUBACK")
    line(" out PUBLISH", 'topic="trace/e2e/a"', 'payload="hello trace"')
    line(" in PUBACK")
    line(" in PUBLISH", 'topic="trace/e2e/sentinel"')
    # One RFC 3339 UTC time per line, first.
    assert all(l.split(" ")[0].endswith("Z") for l in lines), log.text
    c.close()

    assert api.delete(url + "/api/v5/trace/e2e-trace", timeout=10).status_code == 204
    assert api.get(url + "/api/v5/trace/e2e-trace/download", timeout=10).status_code == 404


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(broker):
    api = admin_session(broker)
    url = base(broker)
    # An API key for the fuzzer: HTTP Basic, which logout cannot end. Its own routes are left
    # out of the run, or the fuzzer would delete or disable the key it works with.
    key = api.post(url + "/api/v5/api_key", json={"name": "schemathesis"}, timeout=10).json()
    budget = int(os.environ.get("SCHEMATHESIS_SECONDS", "60"))
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", url + "/api-docs/openapi.json",
           "--auth", f"{key['api_key']}:{key['api_secret']}",
           "--max-time", str(budget), "--workers", "1",
           "--exclude-path-regex", "api_key|logout",
           "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                       "response_schema_conformance",
           "--seed", "1"]
    if shutil.which("schemathesis"):
        cmd = ["schemathesis"] + cmd[3:]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=budget + 120)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # The key still works: the run was authenticated throughout.
    still = requests.get(url + "/api/v5/nodes", auth=(key["api_key"], key["api_secret"]), timeout=10)
    assert still.status_code == 200
