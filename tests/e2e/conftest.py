"""Fixtures that run the real `starling` binary for the end-to-end tests.

The binary is taken from $STARLING_BIN, or <repo>/target/release/starling. Each broker listens on
a free port on 127.0.0.1; teardown sends SIGTERM and requires exit code 0 within 10 s.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
STARLING_BIN = os.environ.get("STARLING_BIN", str(REPO / "target" / "release" / "starling"))

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One running `starling start` process."""

    def __init__(self, env: dict[str, str] | None = None, config: str | None = None):
        if not os.access(STARLING_BIN, os.X_OK):
            pytest.fail(
                f"starling binary not found at {STARLING_BIN}; "
                "run `cargo build --release -p starling` or set STARLING_BIN"
            )
        self.host = "127.0.0.1"
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="starling-e2e-")
        self.log_path = pathlib.Path(self._tmp.name) / "broker.log"
        full_env = dict(os.environ)
        # Keep the caller's broker settings out of the test. This includes STARLING_BIN: the
        # broker reads every STARLING_* variable as configuration and refuses unknown ones.
        for k in list(full_env):
            if k.startswith("STARLING_"):
                del full_env[k]
        full_env["STARLING_LISTENER__0__BIND"] = f"{self.host}:{self.port}"
        # The management API on a port of its own, so brokers can run side by side.
        self.api_port = free_port()
        full_env["STARLING_API__BIND"] = f"{self.host}:{self.api_port}"
        full_env.update(env or {})
        args = [STARLING_BIN, "start"]
        if config is not None:
            cfg = pathlib.Path(self._tmp.name) / "starling.toml"
            cfg.write_text(config)
            args += ["-c", str(cfg)]
        self._log = open(self.log_path, "wb")
        self._args, self._env = args, full_env
        # The store lives in the working directory's data/ (the default node.data_dir), so a
        # restart in the same directory finds what the previous process kept.
        self._spawn()

    def _spawn(self) -> None:
        self.proc = subprocess.Popen(
            self._args, env=self._env, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=self._tmp.name,
        )
        self.returncode: int | None = None
        self._wait_ready()

    def crash_and_restart(self) -> None:
        """SIGKILL (no shutdown, no final flush), then start again on the same store and port."""
        self.kill()
        self._spawn()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"starling exited with {self.proc.returncode} during startup:\n{self.log()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)  # polling a port that has no readiness event
        self.kill()
        raise RuntimeError(f"starling did not accept TCP on {self.port} within "
                           f"{STARTUP_TIMEOUT}s:\n{self.log()}")

    def log(self) -> str:
        try:
            self._log.flush()
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"

    def stop(self) -> int | None:
        """SIGTERM, wait up to SHUTDOWN_TIMEOUT; SIGKILL if it hangs. Idempotent."""
        if self.returncode is None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.returncode = self.proc.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                self.returncode = None
                return None
        elif self.returncode is None:
            self.returncode = self.proc.returncode
        return self.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def close(self) -> None:
        self.kill()
        self._log.close()
        keep = os.environ.get("E2E_KEEP_LOGS")  # a directory to copy every broker log into
        if keep:
            os.makedirs(keep, exist_ok=True)
            name = os.environ.get("PYTEST_CURRENT_TEST", "broker").split(" ")[0]
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
            shutil.copy(self.log_path, os.path.join(keep, f"{safe}-{self.port}.log"))
        self._tmp.cleanup()


def _run_broker(env=None, config=None):
    broker = Broker(env=env, config=config)
    try:
        yield broker
        rc = broker.stop()
        assert rc is not None, (
            f"starling did not exit within {SHUTDOWN_TIMEOUT}s of SIGTERM:\n{broker.log()}"
        )
        assert rc == 0, f"starling exited with {rc} after SIGTERM:\n{broker.log()}"
    finally:
        broker.close()


@pytest.fixture
def broker():
    """A broker with the embedded defaults, on a free port of 127.0.0.1."""
    yield from _run_broker()


@pytest.fixture
def broker_fast_sys():
    """A broker publishing $SYS every second and refusing CONNECT-less connections after 2 s."""
    yield from _run_broker(env={
        "STARLING_SYS__INTERVAL": "1s",
        "STARLING_MQTT__CONNECT_TIMEOUT": "2s",
    })


@pytest.fixture
def broker_factory():
    """Start brokers with extra environment and/or a config file: factory(env=..., config=...)."""
    started: list[Broker] = []

    def factory(env: dict[str, str] | None = None, config: str | None = None) -> Broker:
        b = Broker(env=env, config=config)
        started.append(b)
        return b

    try:
        yield factory
        for b in started:
            rc = b.stop()
            assert rc == 0, f"starling exited with {rc} after SIGTERM:\n{b.log()}"
    finally:
        for b in started:
            b.close()


@pytest.fixture
def clients():
    """Factory for e2e_helpers.Client objects; every one is closed at teardown."""
    from e2e_helpers import Client

    made: list[Client] = []

    def factory(*args, **kwargs) -> Client:
        kwargs_connect = kwargs.get("connect", True)
        c = Client(*args, **{**kwargs, "connect": False})
        made.append(c)
        if kwargs_connect:
            c.connect()
        return c

    yield factory
    for c in made:
        c.close()


# --- several listeners (tests/e2e/test_transports.py, test_browser.py) ---

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a JSON string of plain text is a TOML basic string


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listeners_toml(listeners: list[dict], ports: list[int]) -> str:
    """`[[listener]]` tables: first a plain "tcp" one (its bind is the conftest's
    STARLING_LISTENER__0__BIND, i.e. broker.port), then one per dict of `listeners`
    ({"kind": ..., "tls": {...}, "ws": {...}, other listener keys}) on 127.0.0.1:ports[i]."""
    out = ['[[listener]]\nname = "plain"\nkind = "tcp"\n'
           '# bind: set by STARLING_LISTENER__0__BIND (broker.port)\nbind = "127.0.0.1:1"\n']
    for i, (spec, port) in enumerate(zip(listeners, ports)):
        spec = dict(spec)
        tls, ws = spec.pop("tls", None), spec.pop("ws", None)
        spec.setdefault("name", f"{spec['kind']}{i + 1}")
        lines = ["[[listener]]", f'bind = "127.0.0.1:{port}"']
        lines += [f"{k} = {_toml_value(v)}" for k, v in spec.items()]
        for table, keys in (("tls", tls), ("ws", ws)):
            if keys is not None:
                lines.append(f"[listener.{table}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in keys.items()]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def wait_tcp_ports(broker: "Broker", ports: list[int], timeout: float = STARTUP_TIMEOUT) -> None:
    """Wait (bounded) until every port accepts TCP on broker.host."""
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            if broker.proc.poll() is not None:
                raise RuntimeError(f"starling exited with {broker.proc.returncode}:\n"
                                   f"{broker.log()}")
            try:
                with socket.create_connection((broker.host, port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"starling did not accept TCP on {port} within "
                                       f"{timeout}s:\n{broker.log()}")
                time.sleep(0.05)  # polling a port that has no readiness event


@pytest.fixture
def listener_broker(broker_factory):
    """Start a broker with a plain TCP listener on broker.port plus the given listeners, each on
    a free port of 127.0.0.1, and wait until every TCP-based one accepts:

        b = listener_broker({"kind": "tls"}, {"kind": "ws", "ws": {"path": "/mqtt"}},
                            extra="[sys]\\nclient_events = true\\n")
        b.ports  # [tls port, ws port], in the order given
        b.workdir / "data" / "certs" / "ca.pem"  # the generated CA when no certfile is set

    `extra` is more TOML (other sections). Teardown is broker_factory's (SIGTERM, exit 0)."""

    def start(*listeners: dict, extra: str = "") -> Broker:
        ports: list[int] = []
        while len(ports) < len(listeners):
            kind = listeners[len(ports)]["kind"]
            p = _free_udp_port() if kind == "quic" else free_port()
            if p not in ports:
                ports.append(p)
        b = broker_factory(config=listeners_toml(list(listeners), ports) + "\n" + extra)
        b.ports = ports
        b.workdir = pathlib.Path(b._tmp.name)
        wait_tcp_ports(b, [p for spec, p in zip(listeners, ports) if spec["kind"] != "quic"])
        return b

    return start
