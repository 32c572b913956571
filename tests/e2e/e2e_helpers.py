"""A thin, event-driven wrapper over paho-mqtt 2.x for the end-to-end tests.

Every wait is bounded: a helper that times out raises AssertionError with what it saw.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 5.0

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5
VERSION_IDS = {V311: "v311", V5: "v5"}

_counter = itertools.count()


def unique(prefix: str = "t") -> str:
    """A topic or client-id fragment unique to this run."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}-{next(_counter)}"


def props(packet_type, **values) -> Properties:
    p = Properties(packet_type)
    for k, v in values.items():
        setattr(p, k, v)
    return p


def connect_props(**values) -> Properties:
    return props(PacketTypes.CONNECT, **values)


def publish_props(**values) -> Properties:
    return props(PacketTypes.PUBLISH, **values)


def subscribe_props(**values) -> Properties:
    return props(PacketTypes.SUBSCRIBE, **values)


def rc_value(rc) -> int:
    """The numeric value of a paho ReasonCode (or int)."""
    return rc.value if hasattr(rc, "value") else int(rc)


class Client:
    """A paho client running its network loop in a thread, recording everything it receives."""

    def __init__(self, broker, version, client_id: str | None = None, *, clean: bool = True,
                 session_expiry: int | None = None, will: dict | None = None,
                 connect_properties: Properties | None = None, connect: bool = True,
                 keepalive: int = 30, cond: threading.Condition | None = None):
        self.broker = broker
        self.version = version
        self.client_id = client_id if client_id is not None else unique("c")
        self.clean = clean
        self.session_expiry = session_expiry
        self.connect_properties = connect_properties
        self.keepalive = keepalive
        kwargs = {}
        if version != V5:
            kwargs["clean_session"] = clean
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=version, **kwargs)
        self.c.reconnect_delay_set(1, 1)
        # Clients may share one condition so a test can wait on events from several of them.
        self.cond = cond or threading.Condition()
        self.messages: list[mqtt.MQTTMessage] = []
        self.connacks: list[tuple] = []  # (flags, reason_code, properties)
        self.disconnects: list[tuple] = []  # (reason_code, properties)
        self.subacks: dict[int, list] = {}
        self.unsubacks: dict[int, list] = {}
        self.pubacks: dict[int, int] = {}  # mid -> PUBACK/PUBREC reason code
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_publish = self._on_publish
        if will is not None:
            self.c.will_set(**will)
        self._loop_running = False
        if connect:
            self.connect()

    # --- callbacks (network thread) ---
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        with self.cond:
            self.connacks.append((flags, reason_code, properties))
            self.cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self.cond:
            self.disconnects.append((reason_code, properties))
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self.cond:
            self.subacks[mid] = list(reason_codes)
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self.cond:
            self.pubacks[mid] = rc_value(reason_code)
            self.cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, reason_codes, properties):
        with self.cond:
            self.unsubacks[mid] = list(reason_codes)
            self.cond.notify_all()

    # --- waiting ---
    def wait_for(self, predicate: Callable[[], object], timeout: float = TIMEOUT, what: str = ""):
        """Wait (bounded) until predicate() is truthy under the lock; return its value."""
        with self.cond:
            result = self.cond.wait_for(predicate, timeout=timeout)
        if not result:
            raise AssertionError(
                f"[{self.client_id}] timed out after {timeout}s waiting for {what or predicate}; "
                f"messages={[(m.topic, m.payload) for m in self.messages]} "
                f"connacks={self.connacks} disconnects={self.disconnects}"
            )
        return result

    # --- operations ---
    def connect(self, expect_success: bool = True):
        n = len(self.connacks)
        kwargs = {}
        if self.version == V5:
            kwargs["clean_start"] = self.clean
            p = self.connect_properties
            if self.session_expiry is not None:
                p = p or connect_props()
                p.SessionExpiryInterval = self.session_expiry
            kwargs["properties"] = p
        self.c.connect(self.broker.host, self.broker.port, keepalive=self.keepalive, **kwargs)
        if not self._loop_running:
            self.c.loop_start()
            self._loop_running = True
        flags, rc, p = self.wait_for(lambda: len(self.connacks) > n and self.connacks[n],
                                     what="CONNACK")
        if expect_success:
            assert not rc.is_failure, f"CONNECT refused: {rc}"
        return flags, rc, p

    def subscribe(self, topic, qos=0, options=None, properties=None) -> list:
        """SUBSCRIBE and wait for the SUBACK; return its reason codes."""
        if options is not None:
            rc, mid = self.c.subscribe(topic, options=options, properties=properties)
        elif self.version == V5:
            rc, mid = self.c.subscribe(topic, qos, properties=properties)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe: {rc}"
        return self.wait_for(lambda: self.subacks.get(mid), what=f"SUBACK for {topic}")

    def unsubscribe(self, topic) -> list:
        rc, mid = self.c.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"unsubscribe: {rc}"
        return self.wait_for(lambda: mid in self.unsubacks and [self.unsubacks[mid]],
                             what=f"UNSUBACK for {topic}")[0]

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None):
        """PUBLISH; for QoS 1/2 wait (bounded) for the broker's acknowledgement."""
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish: {info.rc}"
        info.wait_for_publish(timeout=TIMEOUT)
        assert info.is_published(), f"publish to {topic!r} not acknowledged within {TIMEOUT}s"
        return info

    def publish_acked(self, topic, payload=b"", qos=1) -> int:
        """A QoS 1/2 PUBLISH; the reason code of the broker's PUBACK/PUBREC (0x87: refused)."""
        info = self.c.publish(topic, payload, qos=qos)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish: {info.rc}"
        self.wait_for(lambda: info.mid in self.pubacks, what=f"PUBACK for {topic!r}")
        return self.pubacks[info.mid]

    def wait_messages(self, n: int, topic: str | None = None, timeout: float = TIMEOUT):
        """Wait until at least n messages (on topic, if given) have arrived; return them."""
        def got():
            ms = [m for m in self.messages if topic is None or m.topic == topic]
            return ms if len(ms) >= n else None
        return self.wait_for(got, timeout=timeout, what=f"{n} message(s) on {topic}")

    def received(self, topic: str | None = None):
        with self.cond:
            return [m for m in self.messages if topic is None or m.topic == topic]

    def disconnect(self, properties=None):
        """Normal DISCONNECT, wait for the socket to close, stop the loop."""
        n = len(self.disconnects)
        if self.c.is_connected():
            self.c.disconnect(properties=properties)
            self.wait_for(lambda: len(self.disconnects) > n, what="disconnect")
        self.stop_loop()

    def drop(self):
        """Close the TCP connection without sending DISCONNECT (an abnormal disconnection)."""
        self.stop_loop()
        sock = self.c.socket()
        if sock is not None:
            sock.close()

    def stop_loop(self):
        if self._loop_running:
            self.c.loop_stop()
            self._loop_running = False

    def close(self):
        """Teardown: best effort, never hangs."""
        try:
            if self.c.is_connected():
                self.c.disconnect()
        except Exception:
            pass
        self.stop_loop()
        sock = self.c.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def wait_all(clients, predicate, timeout: float = TIMEOUT, what: str = ""):
    """Wait (bounded) for predicate() over clients that share one Condition."""
    cond = clients[0].cond
    assert all(c.cond is cond for c in clients), "clients must share a Condition"
    with cond:
        result = cond.wait_for(predicate, timeout=timeout)
    if not result:
        raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
    return result
