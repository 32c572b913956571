"""End-to-end tests of the real starling binary driven by mosquitto_pub / mosquitto_sub
(Debian package `mosquitto-clients`).

mosquitto_sub runs with -d so its SUBACK line tells us when it is subscribed (no sleeps), -C to
stop after the expected count and -W as a hard bound; every process is killed at teardown.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time

import pytest

from e2e_helpers import unique

VERSIONS = ["mqttv5", "mqttv311", "mqttv31"]
PROC_TIMEOUT = 10



@pytest.fixture(autouse=True)
def _require_mosquitto_clients():
    # Not a skip: a missing client is a broken test environment, reported as such.
    if shutil.which("mosquitto_sub") is None or shutil.which("mosquitto_pub") is None:
        pytest.fail("mosquitto_pub/mosquitto_sub not found: apt-get install mosquitto-clients")


class Sub:
    """A running mosquitto_sub whose stdout is read line by line by a thread."""

    def __init__(self, broker, topic, version, qos=0, count=1, extra=()):
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        self.output: list[str] = []
        # stdbuf: mosquitto_sub block-buffers stdout into a pipe, hiding the SUBACK line.
        args = ["stdbuf", "-oL", "mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-V", version,
                "-t", topic, "-q", str(qos), "-C", str(count), "-W", str(PROC_TIMEOUT),
                "-d", "-F", "MSG|%t|%q|%r|%p", *extra]
        if version == "mqttv31":
            args += ["-i", unique("s")[:20]]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, pred, timeout=PROC_TIMEOUT) -> str:
        """Wait (bounded) for an output line satisfying pred."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; mosquitto_sub output so far: {self.output}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"mosquitto_sub exited ({self.proc.poll()}); "
                                     f"output: {self.output}")
            self.output.append(line)
            if pred(line):
                return line

    def wait_subscribed(self):
        self.wait_line(lambda l: "received SUBACK" in l)

    def messages(self, n) -> list[tuple[str, int, int, str]]:
        out = []
        for _ in range(n):
            line = self.wait_line(lambda l: l.startswith("MSG|"))
            _, topic, qos, retain, payload = line.split("|", 4)
            out.append((topic, int(qos), int(retain), payload))
        return out

    def finish(self) -> int:
        rc = self.proc.wait(timeout=PROC_TIMEOUT + 5)
        self._reader.join(timeout=5)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.output.append(line)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture
def subs():
    made: list[Sub] = []

    def factory(*args, **kwargs) -> Sub:
        s = Sub(*args, **kwargs)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.kill()


def mosquitto_pub(broker, topic, message, version, qos=0, retain=False, client_id=None,
                  extra=()) -> subprocess.CompletedProcess:
    args = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-V", version,
            "-t", topic, "-q", str(qos)]
    if "-n" not in extra:
        args += ["-m", message]
    if retain:
        args.append("-r")
    if client_id is None and version == "mqttv31":
        client_id = unique("p")[:20]
    if client_id is not None:
        args += ["-i", client_id]
    args += list(extra)
    # subprocess.run kills the child if the timeout expires
    return subprocess.run(args, capture_output=True, text=True, timeout=PROC_TIMEOUT)


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("sub_version", VERSIONS)
def test_pub_sub_qos(broker, subs, sub_version, qos):
    topic = unique("mosq") + "/x"
    pub_version = {"mqttv5": "mqttv311", "mqttv311": "mqttv5", "mqttv31": "mqttv31"}[sub_version]
    sub = subs(broker, topic, sub_version, qos=qos, count=3)
    sub.wait_subscribed()
    sent = [f"hello-{qos}-{i}" for i in range(3)]
    for m in sent:
        r = mosquitto_pub(broker, topic, m, pub_version, qos=qos)
        assert r.returncode == 0, f"mosquitto_pub failed: {r.stdout}{r.stderr}"
    got = sub.messages(3)
    assert [(t, q, ret, p) for t, q, ret, p in got] == [(topic, qos, 0, m) for m in sent]
    assert sub.finish() == 0, sub.output


@pytest.mark.parametrize("sub_version", VERSIONS)
def test_retained(broker, subs, sub_version):
    topic = unique("mosqret")
    r = mosquitto_pub(broker, topic, "kept", "mqttv311", qos=1, retain=True)
    assert r.returncode == 0, r.stdout + r.stderr
    sub = subs(broker, topic, sub_version, qos=1, count=1)
    [(t, q, ret, p)] = sub.messages(1)
    assert (t, q, ret, p) == (topic, 1, 1, "kept")
    assert sub.finish() == 0, sub.output

    # An empty retained message (-n) clears it; a new subscriber then gets only the live message.
    r = mosquitto_pub(broker, topic, "", "mqttv5", qos=1, retain=True, extra=["-n"])
    assert r.returncode == 0, r.stdout + r.stderr
    sub2 = subs(broker, topic, sub_version, qos=1, count=1)
    sub2.wait_subscribed()
    r = mosquitto_pub(broker, topic, "live", "mqttv5", qos=1)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sub2.messages(1) == [(topic, 1, 0, "live")]
    assert sub2.finish() == 0


def test_wildcard_and_v5_sub_timeout(broker, subs):
    base = unique("mosqwc")
    sub = subs(broker, f"{base}/#", "mqttv5", qos=1, count=2)
    sub.wait_subscribed()
    for t in (f"{base}/a", "elsewhere", f"{base}/b/c"):
        r = mosquitto_pub(broker, t, t, "mqttv5", qos=1)
        assert r.returncode == 0, r.stdout + r.stderr
    assert [m[0] for m in sub.messages(2)] == [f"{base}/a", f"{base}/b/c"]
    assert sub.finish() == 0


def test_v31_client_id_of_24_chars_refused(broker):
    """MQTT 3.1 (strict_3_1_client_id): client identifiers longer than 23 bytes are refused
    with CONNACK return code 2 (identifier rejected)."""
    r = mosquitto_pub(broker, unique("id"), "x", "mqttv31", qos=1,
                      client_id="abcdefghijklmnopqrstuvwx")
    assert len("abcdefghijklmnopqrstuvwx") == 24
    assert r.returncode != 0, f"24-char 3.1 client id was accepted: {r.stdout}{r.stderr}"
    assert "identifier rejected" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr


def test_v31_client_id_of_23_chars_accepted(broker, subs):
    topic = unique("id23")
    sub = subs(broker, topic, "mqttv311", qos=1, count=1)
    sub.wait_subscribed()
    r = mosquitto_pub(broker, topic, "ok", "mqttv31", qos=1, client_id="abcdefghijklmnopqrstuvw")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sub.messages(1) == [(topic, 1, 0, "ok")]
    assert sub.finish() == 0


def test_v311_long_client_id_accepted(broker):
    r = mosquitto_pub(broker, unique("id"), "x", "mqttv311", qos=1, client_id="c" * 100)
    assert r.returncode == 0, r.stdout + r.stderr


def test_v31_long_client_id_accepted_when_not_strict(broker_factory, subs):
    """mqtt.strict_3_1_client_id = false lifts the 23-byte limit for 3.1 clients."""
    b = broker_factory(config="[mqtt]\nstrict_3_1_client_id = false\n")
    topic = unique("id24")
    sub = subs(b, topic, "mqttv5", qos=1, count=1)
    sub.wait_subscribed()
    r = mosquitto_pub(b, topic, "ok", "mqttv31", qos=1, client_id="abcdefghijklmnopqrstuvwx")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sub.messages(1) == [(topic, 1, 0, "ok")]
    assert sub.finish() == 0
