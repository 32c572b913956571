"""The TLS, WebSocket and WebSocket-over-TLS listeners, driven by clients nobody here wrote
(issue #10, "Transports"): `mosquitto_pub`/`mosquitto_sub` (Debian's mosquitto-clients) over
TLS, and paho-mqtt 2 over WebSocket and WebSocket over TLS, MQTT 3.1.1 and 5.0.

- TLS with the broker's generated default certificates: a client trusting
  `<data_dir>/certs/ca.pem` connects by IP (127.0.0.1) and by name (localhost).
- Mutual TLS with a CA and certificates made by `openssl` here: a client certificate from the
  configured CA is accepted; none, or one from another CA, is refused; with
  `peer_cert_as_clientid = "cn"` the client's identifier is the certificate's CN (seen in the
  `$SYS/.../connected` event).
- paho-mqtt over ws:// and wss:// on /mqtt: subscribe, publish QoS 1, receive.
- Refusals: an upgrade on another path is answered 404; plain MQTT on the TLS port is closed
  without a CONNACK; the broker serves a normal client after each.

Waits are on explicit signals (mosquitto_sub -d's SUBACK line, paho callbacks, process exit);
each is bounded, and every process is killed at teardown. QUIC is not driven here: no
third-party MQTT-over-QUIC client is packaged for this machine.
"""

from __future__ import annotations

import json
import pathlib
import queue
import shutil
import socket
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest

from e2e_helpers import V5, V311, VERSION_IDS, Client, unique

PROC_TIMEOUT = 10
MOSQ_VERSIONS = {V311: "mqttv311", V5: "mqttv5"}
CLIENT_CN = "device-42"


@pytest.fixture(autouse=True)
def _require_tools():
    # Not a skip: a missing tool is a broken test environment, reported as such.
    for tool in ("openssl", "mosquitto_sub", "mosquitto_pub", "stdbuf"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: apt-get install openssl mosquitto-clients coreutils")


# --- certificates made with openssl ---

def _openssl(d: pathlib.Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True,
                   timeout=PROC_TIMEOUT)


def _ca(d: pathlib.Path, name: str) -> None:
    _openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def _leaf(d: pathlib.Path, name: str, cn: str, ca: str, usage: str, san: str = "") -> None:
    ext = (f"extendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"
           "keyUsage=critical,digitalSignature\n" + (f"subjectAltName={san}\n" if san else ""))
    (d / f"{name}.ext").write_text(ext)
    _openssl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
    _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """ca issues server (localhost, 127.0.0.1) and client (CN=device-42); other-ca issues rogue."""
    d = tmp_path_factory.mktemp("certs")
    _ca(d, "ca")
    _ca(d, "other-ca")
    _leaf(d, "server", "server", "ca", "serverAuth", san="DNS:localhost,IP:127.0.0.1")
    _leaf(d, "client", CLIENT_CN, "ca", "clientAuth")
    _leaf(d, "rogue", CLIENT_CN, "other-ca", "clientAuth")
    return d


def mtls_listener(certs: pathlib.Path, **tls) -> dict:
    return {"kind": "tls", "tls": {"certfile": str(certs / "server.pem"),
                                   "keyfile": str(certs / "server.key"),
                                   "cacertfile": str(certs / "ca.pem"),
                                   "verify": "required", **tls}}


def default_ca(broker) -> pathlib.Path:
    """The CA the broker generated in its working directory's data/ (node.data_dir)."""
    ca = broker.workdir / "data" / "certs" / "ca.pem"
    assert ca.is_file(), f"no generated CA at {ca}:\n{broker.log()}"
    return ca


# --- mosquitto clients ---

class MosquittoSub:
    """mosquitto_sub -d, its output read line by line by a thread; killed by close()."""

    def __init__(self, port: int, topic: str, tls: list[str], version="mqttv5", host="127.0.0.1",
                 count=1):
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        self.output: list[str] = []
        # stdbuf: mosquitto_sub block-buffers stdout into a pipe, hiding the SUBACK line.
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "mosquitto_sub", "-h", host, "-p", str(port), "-V", version,
             "-t", topic, "-q", "1", "-C", str(count), "-W", str(PROC_TIMEOUT), "-d",
             "-F", "MSG|%t|%p", *tls],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, pred) -> str:
        deadline = time.monotonic() + PROC_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"mosquitto_sub exited ({self.proc.poll()}): {self.output}")
            self.output.append(line)
            if pred(line):
                return line
        raise AssertionError(f"timed out; mosquitto_sub output so far: {self.output}")

    def wait_subscribed(self):
        self.wait_line(lambda l: "received SUBACK" in l)

    def message(self) -> tuple[str, str]:
        _, topic, payload = self.wait_line(lambda l: l.startswith("MSG|")).split("|", 2)
        return topic, payload

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


@pytest.fixture
def mosquitto_sub():
    made: list[MosquittoSub] = []

    def start(*args, **kwargs) -> MosquittoSub:
        made.append(MosquittoSub(*args, **kwargs))
        return made[-1]

    yield start
    for s in made:
        s.close()


def mosquitto_pub(port: int, topic: str, payload: str, tls: list[str], version="mqttv5",
                  host="127.0.0.1", extra=()) -> subprocess.CompletedProcess:
    """One QoS 1 publish; bounded by a timeout (killed past it)."""
    return subprocess.run(
        ["mosquitto_pub", "-h", host, "-p", str(port), "-V", version, "-t", topic, "-m", payload,
         "-q", "1", *tls, *extra], capture_output=True, text=True, timeout=PROC_TIMEOUT)


def pub_ok(*args, **kwargs) -> None:
    r = mosquitto_pub(*args, **kwargs)
    assert r.returncode == 0, f"mosquitto_pub failed ({r.returncode}): {r.stdout}{r.stderr}"


def plain_client_works(broker, clients) -> None:
    """A paho client on the plain TCP listener subscribes and gets its own QoS 1 publish."""
    c = clients(broker, V5)
    topic = unique("alive")
    c.subscribe(topic, qos=1)
    c.publish(topic, b"still here", qos=1)
    assert c.wait_messages(1, topic)[0].payload == b"still here"


# --- TLS ---

@pytest.mark.parametrize("version", [V311, V5], ids=VERSION_IDS.get)
def test_tls_default_certificates_mosquitto(listener_broker, mosquitto_sub, version):
    b = listener_broker({"kind": "tls"})
    tls = ["--cafile", str(default_ca(b))]
    topic = unique("tls")
    # By IP and by name: the generated server certificate names 127.0.0.1 and localhost.
    sub = mosquitto_sub(b.ports[0], topic, tls, version=MOSQ_VERSIONS[version], host="127.0.0.1")
    sub.wait_subscribed()
    pub_ok(b.ports[0], topic, "over tls", tls, version=MOSQ_VERSIONS[version], host="localhost")
    assert sub.message() == (topic, "over tls")


def test_mtls_client_certificate_from_the_ca_is_accepted(listener_broker, mosquitto_sub, certs):
    b = listener_broker(mtls_listener(certs))
    tls = ["--cafile", str(certs / "ca.pem"),
           "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key")]
    topic = unique("mtls")
    sub = mosquitto_sub(b.ports[0], topic, tls, host="localhost")
    sub.wait_subscribed()
    pub_ok(b.ports[0], topic, "mutual", tls, version="mqttv311")
    assert sub.message() == (topic, "mutual")


def test_mtls_refuses_no_certificate_and_another_cas(listener_broker, clients, certs):
    b = listener_broker(mtls_listener(certs))
    ca = ["--cafile", str(certs / "ca.pem")]
    rogue = ca + ["--cert", str(certs / "rogue.pem"), "--key", str(certs / "rogue.key")]
    for what, tls in (("no client certificate", ca), ("another CA's certificate", rogue)):
        for version in MOSQ_VERSIONS.values():
            r = mosquitto_pub(b.ports[0], unique("refused"), "x", tls, version=version,
                              extra=["-d"])
            out = r.stdout + r.stderr
            assert r.returncode != 0, f"{what} ({version}) was accepted: {out}"
            assert "received CONNACK" not in out, f"{what} ({version}) got a CONNACK: {out}"
    plain_client_works(b, clients)
    good = ca + ["--cert", str(certs / "client.pem"), "--key", str(certs / "client.key")]
    pub_ok(b.ports[0], unique("accepted"), "x", good)


def test_peer_cert_cn_as_clientid(listener_broker, clients, certs):
    b = listener_broker(mtls_listener(certs, peer_cert_as_clientid="cn"),
                        extra="[sys]\nclient_events = true\n")
    watcher = clients(b, V5)
    watcher.subscribe("$SYS/brokers/+/clients/+/connected")
    tls = ["--cafile", str(certs / "ca.pem"),
           "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key")]
    pub_ok(b.ports[0], unique("cn"), "x", tls, extra=["-i", "chosen-by-the-client"])
    events = watcher.wait_messages(1, f"$SYS/brokers/starling@127.0.0.1/clients/{CLIENT_CN}/"
                                      "connected")
    assert json.loads(events[0].payload)["clientid"] == CLIENT_CN
    assert not [m for m in watcher.received() if b"chosen-by-the-client" in m.payload]


def test_plain_mqtt_on_the_tls_port_is_closed(listener_broker, clients):
    b = listener_broker({"kind": "tls"})
    # CONNECT, MQTT 3.1.1, clean session, keep alive 30, client id "plain".
    connect = bytes([0x10, 17, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 5]) + b"plain"
    received = b""
    with socket.create_connection((b.host, b.ports[0]), timeout=PROC_TIMEOUT) as s:
        s.sendall(connect)
        try:
            while chunk := s.recv(4096):  # bounded by the socket timeout
                received += chunk
        except ConnectionResetError:
            pass
    # Whatever came back (a TLS alert at most) is not a CONNACK, and the socket was closed.
    assert not received.startswith(b"\x20"), f"got a CONNACK on the TLS port: {received!r}"
    plain_client_works(b, clients)
    pub_ok(b.ports[0], unique("tls-after"), "x", ["--cafile", str(default_ca(b))])


# --- WebSocket (paho-mqtt) ---

def ws_client(clients, port: int, version, ca: pathlib.Path | None) -> Client:
    c = clients(SimpleNamespace(host="localhost" if ca else "127.0.0.1", port=port), version,
                connect=False)
    c.c.transport = "websockets"
    c.c.ws_set_options(path="/mqtt")
    if ca is not None:
        c.c.tls_set(ca_certs=str(ca))
    c.connect()
    return c


@pytest.mark.parametrize("version", [V311, V5], ids=VERSION_IDS.get)
@pytest.mark.parametrize("kind", ["ws", "wss"])
def test_paho_over_websocket(listener_broker, clients, kind, version):
    b = listener_broker({"kind": kind, "ws": {"path": "/mqtt"}})
    ca = default_ca(b) if kind == "wss" else None
    sub = ws_client(clients, b.ports[0], version, ca)
    pub = ws_client(clients, b.ports[0], version, ca)
    topic = unique(kind)
    assert [rc.value if hasattr(rc, "value") else rc for rc in sub.subscribe(topic, qos=1)] == [1]
    pub.publish(topic, b"over " + kind.encode(), qos=1)
    m = sub.wait_messages(1, topic)[0]
    assert (m.payload, m.qos) == (b"over " + kind.encode(), 1)


def http_upgrade_status(host: str, port: int, path: str) -> int:
    """The HTTP status of a WebSocket upgrade request (offering subprotocol mqtt) on path."""
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
    with socket.create_connection((host, port), timeout=PROC_TIMEOUT) as s:
        s.sendall(request.encode())
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(4096)  # bounded by the socket timeout
            assert chunk, f"closed before a status line: {head!r}"
            head += chunk
    status = head.split(b"\r\n", 1)[0].split()
    assert status[0].startswith(b"HTTP/1."), head
    return int(status[1])


def test_websocket_upgrade_on_another_path_is_404(listener_broker, clients):
    b = listener_broker({"kind": "ws", "ws": {"path": "/mqtt"}})
    assert http_upgrade_status(b.host, b.ports[0], "/elsewhere") == 404
    assert http_upgrade_status(b.host, b.ports[0], "/mqtt") == 101  # the same request, right path
    plain_client_works(b, clients)
    c = ws_client(clients, b.ports[0], V5, None)
    topic = unique("ws-after")
    c.subscribe(topic, qos=1)
    c.publish(topic, b"x", qos=1)
    c.wait_messages(1, topic)
