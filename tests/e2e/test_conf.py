"""The running configuration on a real broker process: `starling ctl conf set|show|reload`, the
API's refusals, SIGHUP, and a change that outlives a restart. paho-mqtt sees a live change at
its next CONNECT.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import paho.mqtt.client as mqtt
import requests

from conftest import STARLING_BIN
from e2e_helpers import Client, unique
from test_api import NEW_PASSWORD, admin_session, base, login, wait_api

FILE = '[log]\nlevel = "{level}"\n'


def ctl(broker, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
    env.update(STARLING_API_URL=base(broker), STARLING_API_USERNAME="admin",
               STARLING_API_PASSWORD=NEW_PASSWORD)
    return subprocess.run([STARLING_BIN, "ctl", *args], env=env, capture_output=True,
                          text=True, timeout=30)


def max_qos_announced(broker) -> int | None:
    c = Client(broker, mqtt.MQTTv5, unique("conf"))
    try:
        props = c.connacks[0][2]
        return getattr(props, "MaximumQoS", None)
    finally:
        c.disconnect()
        c.close()


def wait_log(broker, text: str, timeout: float = 10.0) -> None:
    """The broker logs each reload: wait for that line (bounded)."""
    deadline = time.monotonic() + timeout
    while text not in broker.log():
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{broker.log()}"
        time.sleep(0.05)


def test_conf_set_show_reload_and_restart(broker_factory):
    broker = broker_factory(config=FILE.format(level="info"))
    admin_session(broker)
    cfg = os.path.join(os.path.dirname(broker.log_path), "starling.toml")

    # A live key: the next client is told the new Maximum QoS.
    assert max_qos_announced(broker) is None
    out = ctl(broker, "conf", "set", "mqtt.max_qos", "1")
    assert out.returncode == 0, out.stderr
    assert "applied: mqtt.max_qos" in out.stdout
    assert max_qos_announced(broker) == 1
    shown = ctl(broker, "conf", "show", "mqtt")
    assert "mqtt.max_qos = 1" in shown.stdout, shown.stdout

    # A restart-only key is saved, and reported as such.
    out = ctl(broker, "conf", "set", "session.max_queue_len", "5")
    assert out.returncode == 0, out.stderr
    assert "in force after a restart: session.max_queue_len" in out.stdout

    # A bad value is refused naming the key; nothing changes.
    bad = ctl(broker, "conf", "set", "mqtt.max_qos", "9")
    assert bad.returncode == 1, bad.stdout
    assert "mqtt.max_qos" in bad.stderr, bad.stderr
    assert "mqtt.max_qos = 1" in ctl(broker, "conf", "show", "mqtt").stdout

    # The file edited, then `conf reload`: the log level is applied.
    with open(cfg, "w") as f:
        f.write(FILE.format(level="debug"))
    out = ctl(broker, "conf", "reload")
    assert out.returncode == 0, out.stderr
    assert "applied: log.level" in out.stdout, out.stdout

    # A file that does not validate: refused, naming the key, nothing changed.
    with open(cfg, "w") as f:
        f.write(FILE.format(level="loud"))
    bad = ctl(broker, "conf", "reload")
    assert bad.returncode == 1 and "log.level" in bad.stderr, (bad.stdout, bad.stderr)

    # SIGHUP reloads too.
    with open(cfg, "w") as f:
        f.write(FILE.format(level="info"))
    broker.proc.send_signal(signal.SIGHUP)
    wait_log(broker, "SIGHUP: configuration reloaded")

    # After a restart, the saved changes still hold.
    assert broker.stop() == 0, broker.log()
    broker._spawn()
    wait_api(broker)
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + login(broker, NEW_PASSWORD)["token"]
    session = s.get(base(broker) + "/api/v5/configs/session", timeout=10).json()
    assert session["max_queue_len"] == 5, session
    assert max_qos_announced(broker) == 1
