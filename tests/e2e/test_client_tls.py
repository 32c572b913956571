"""`starling pub` / `starling sub` over TLS against a broker nobody here wrote: Debian's
`mosquitto` (2.0, built without WebSocket, so TLS only) with TLS listeners on free loopback ports,
certificates made by `openssl` in the test. `mosquitto_sub --cafile` checks what `starling pub`
sent.

Every process is bounded (-W, -C, subprocess timeouts) and killed at teardown.
"""

from __future__ import annotations

import json
import os
import pathlib
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import STARLING_BIN, free_port
from e2e_helpers import unique

PROC_TIMEOUT = 10
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@pytest.fixture(autouse=True)
def _require_tools():
    # Not a skip: a missing tool is a broken test environment, reported as such.
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.fail("mosquitto not found: apt-get install mosquitto")
    for tool in ("openssl", "mosquitto_sub", "mosquitto_pub"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: apt-get install openssl mosquitto-clients")
    if not os.access(STARLING_BIN, os.X_OK):
        pytest.fail(f"starling binary not found at {STARLING_BIN}; "
                    "run `cargo build --release -p starling` or set STARLING_BIN")


def openssl(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                   timeout=PROC_TIMEOUT)


def make_ca(d: pathlib.Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_leaf(d: pathlib.Path, name: str, ca: str, ext: str) -> None:
    (d / f"{name}.ext").write_text(ext)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


class Mosquitto:
    """mosquitto with two TLS listeners on 127.0.0.1: `port` (server certificate only) and
    `mtls_port` (a client certificate issued by the CA is required)."""

    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="starling-e2e-tls-")
        d = self.dir = pathlib.Path(self._tmp.name)
        d.chmod(0o755)  # mosquitto may drop to its own user when started as root
        make_ca(d, "ca")
        make_ca(d, "other-ca")
        make_leaf(d, "server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                  "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
                  "keyUsage=critical,digitalSignature\n")
        make_leaf(d, "client", "ca", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"
                  "keyUsage=critical,digitalSignature\n")
        for f in d.iterdir():
            f.chmod(0o644)
        self.ca, self.other_ca = d / "ca.pem", d / "other-ca.pem"
        self.client_cert, self.client_key = d / "client.pem", d / "client.key"
        self.port, self.mtls_port = free_port(), free_port()
        tls = f"cafile {d / 'ca.pem'}\ncertfile {d / 'server.pem'}\nkeyfile {d / 'server.key'}\n"
        conf = d / "mosquitto.conf"
        conf.write_text(
            "per_listener_settings false\nallow_anonymous true\n"
            "log_dest stdout\nlog_type all\n"
            f"listener {self.port} 127.0.0.1\n{tls}"
            f"listener {self.mtls_port} 127.0.0.1\n{tls}require_certificate true\n"
        )
        self.log_path = d / "mosquitto.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + PROC_TIMEOUT
        for port in (self.port, self.mtls_port):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited with {self.proc.returncode}:\n"
                                       f"{self.log()}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"mosquitto did not listen on {port}:\n{self.log()}")
                    time.sleep(0.05)  # polling a port that has no readiness event

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        self._tmp.cleanup()


@pytest.fixture
def mosquitto():
    m = Mosquitto()
    try:
        yield m
    finally:
        m.close()


def starling(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARLING_")}
    return subprocess.run([STARLING_BIN, *args], capture_output=True, text=True,
                          timeout=PROC_TIMEOUT + 5, env=env, stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess, m: Mosquitto) -> str:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstderr: {result.stderr}\nmosquitto log:\n{m.log()}")
    return result.stdout


class MosquittoSub:
    """mosquitto_sub over TLS, read line by line (-d shows the SUBACK)."""

    def __init__(self, m: Mosquitto, topic: str):
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-h", "localhost", "-p", str(m.port),
             "--cafile", str(m.ca), "-t", topic, "-q", "1", "-C", "1", "-W", str(PROC_TIMEOUT),
             "-d", "-F", "MSG|%t|%p"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, pred) -> str:
        deadline = time.monotonic() + PROC_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; mosquitto_sub output: {self.output}")
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

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


def test_mosquitto_sub_receives_what_starling_pub_sent_over_tls(mosquitto):
    topic = unique("tls") + "/x"
    sub = MosquittoSub(mosquitto, topic)
    try:
        sub.wait_line(lambda l: "received SUBACK" in l)
        url = f"mqtts://localhost:{mosquitto.port}"
        ok(starling("pub", "--url", url, "--cafile", str(mosquitto.ca), "-t", topic,
                    "-m", "over TLS", "-q", "1"), mosquitto)
        assert sub.wait_line(lambda l: l.startswith("MSG|")) == f"MSG|{topic}|over TLS"
        assert sub.proc.wait(timeout=PROC_TIMEOUT) == 0
    finally:
        sub.kill()


@pytest.mark.parametrize("version", ["5", "3.1.1"])
def test_starling_pub_and_sub_over_tls(mosquitto, version):
    topic = unique("tls") + "/r"
    # -h/-p with --cafile means TLS, as with mosquitto_pub; the retained message needs no
    # synchronisation with the subscriber.
    ok(starling("pub", "-h", "localhost", "-p", str(mosquitto.port), "--cafile",
                str(mosquitto.ca), "-V", version, "-t", topic, "-m", "kept", "-r", "-q", "1"),
       mosquitto)
    out = ok(starling("sub", "--url", f"mqtts://127.0.0.1:{mosquitto.port}", "--cafile",
                      str(mosquitto.ca), "-V", version, "-t", topic, "-C", "1", "-W", "10"),
             mosquitto)
    assert out == "kept\n"
    # --insecure: no verification, the CA does not matter.
    out = ok(starling("sub", "--url", f"mqtts://localhost:{mosquitto.port}", "--insecure",
                      "-V", version, "-t", topic, "-C", "1", "-W", "10"), mosquitto)
    assert out == "kept\n"
    ok(starling("pub", "--url", f"mqtts://localhost:{mosquitto.port}", "--cafile",
                str(mosquitto.ca), "-t", topic, "-r", "-n"), mosquitto)


def test_wrong_ca_fails_clearly(mosquitto):
    r = starling("pub", "--url", f"mqtts://localhost:{mosquitto.port}", "--cafile",
                 str(mosquitto.other_ca), "-t", "t", "-m", "x")
    assert r.returncode == 1, r
    assert r.stderr.strip() == (f"starling: TLS handshake with localhost:{mosquitto.port} failed: "
                                "invalid peer certificate: UnknownIssuer"), r.stderr
    # The same port without TLS: the TLS server does not answer MQTT.
    r = starling("pub", "-h", "127.0.0.1", "-p", str(mosquitto.port), "-t", "t", "-m", "x")
    assert r.returncode == 1, r
    assert r.stderr.startswith("starling: "), r.stderr


def test_mutual_tls(mosquitto):
    topic = unique("mtls") + "/r"
    url = f"mqtts://localhost:{mosquitto.mtls_port}"
    identity = ["--cert", str(mosquitto.client_cert), "--key", str(mosquitto.client_key)]
    ok(starling("pub", "--url", url, "--cafile", str(mosquitto.ca), *identity, "-t", topic,
                "-m", "mutual", "-r", "-q", "1"), mosquitto)
    out = ok(starling("sub", "--url", url, "--cafile", str(mosquitto.ca), *identity, "-t", topic,
                      "-C", "1", "-W", "10"), mosquitto)
    assert out == "mutual\n"
    r = starling("pub", "--url", url, "--cafile", str(mosquitto.ca), "-t", topic, "-m", "x")
    assert r.returncode == 1, r
    assert f"TLS handshake with localhost:{mosquitto.mtls_port} failed" in r.stderr, r.stderr


def test_bench_conn_over_tls(mosquitto):
    r = starling("bench", "conn", "-c", "20", "-d", "1s", "--json", "--url",
                 f"mqtts://127.0.0.1:{mosquitto.port}", "--cafile", str(mosquitto.ca))
    summary = json.loads(ok(r, mosquitto))
    assert summary["connected"] == 20, summary
    assert summary["connect_failed"] == 0, summary
