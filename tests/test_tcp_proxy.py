"""The fault tests' TCP proxy, against a real Mosquitto and real paho clients.

A client connected through the proxy publishes; :meth:`TcpProxy.cut` drops it at once (paho
sees the disconnect, the broker publishes its will) and refuses its reconnection attempts;
:meth:`TcpProxy.restore` lets it reconnect and messages flow again.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import paho.mqtt.client as paho
import pytest
from mqtt_probe import MqttProbe
from paho.mqtt.enums import CallbackAPIVersion
from servers import MosquittoServer, free_port
from tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(20)

WAIT_S = 5.0


class ProxiedClient:
    """A paho client connected through the proxy, with a will and fast reconnection."""

    def __init__(self, proxy: TcpProxy, will_topic: str) -> None:
        self.connects = 0
        self.disconnects = 0
        self.received: list[bytes] = []
        self._cond = threading.Condition()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"proxied-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5,
        )
        self.client.will_set(will_topic, b"gone", qos=1)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", proxy.port, keepalive=30)
        self.client.loop_start()
        assert self.wait(lambda: self.connects == 1), "no CONNACK through the proxy"

    def _on_connect(self, client: paho.Client, *_: object) -> None:
        client.subscribe("proxied/echo", qos=1)
        with self._cond:
            self.connects += 1
            self._cond.notify_all()

    def _on_disconnect(self, *_: object) -> None:
        with self._cond:
            self.disconnects += 1
            self._cond.notify_all()

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        with self._cond:
            self.received.append(bytes(message.payload))
            self._cond.notify_all()

    def wait(self, condition: Callable[[], bool], timeout: float = WAIT_S) -> bool:
        with self._cond:
            return self._cond.wait_for(condition, timeout)

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(WAIT_S)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def proxy(mosquitto: MosquittoServer) -> Iterator[TcpProxy]:
    with TcpProxy(mosquitto.host, mosquitto.port) as started:
        yield started


@pytest.fixture
def probe(mosquitto: MosquittoServer) -> Iterator[MqttProbe]:
    """A subscriber connected straight to the broker (not through the proxy)."""
    watcher = MqttProbe(mosquitto.mqtt_settings(), "proxied/#")
    yield watcher
    watcher.close()


def payloads(probe: MqttProbe, topic: str) -> list[bytes]:
    return [m.payload for m in probe.messages(topic) if m.topic == topic]


def assert_dropped(port: int) -> None:
    """A connection to ``port`` is reset or closed by the other end without a byte."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock:
            data = sock.recv(1)
    except ConnectionResetError:
        return
    assert data == b""


def test_cut_drops_the_client_and_restore_lets_it_reconnect(
    proxy: TcpProxy, probe: MqttProbe
) -> None:
    client = ProxiedClient(proxy, will_topic="proxied/will")
    try:
        client.publish("proxied/data", b"before")
        assert probe.wait_until(lambda: payloads(probe, "proxied/data") == [b"before"], WAIT_S)
        assert proxy.connections == 1

        assert proxy.cut() == 1
        assert proxy.is_cut
        assert client.wait(lambda: client.disconnects == 1), "paho did not see the cut"
        # The broker saw the client vanish without a DISCONNECT: it published the will.
        assert probe.wait_until(lambda: payloads(probe, "proxied/will") == [b"gone"], WAIT_S)

        # While cut, paho keeps trying (every second) and every attempt is reset.
        assert probe.wait_until(lambda: proxy.refused >= 2, WAIT_S)
        assert client.connects == 1
        assert proxy.connections == 0

        proxy.restore()
        assert client.wait(lambda: client.connects == 2, 10.0), "paho did not reconnect"
        client.publish("proxied/data", b"after")
        assert probe.wait_until(
            lambda: payloads(probe, "proxied/data") == [b"before", b"after"], WAIT_S
        )
        assert proxy.connections == 1
    finally:
        client.close()


def test_a_new_connection_during_a_cut_is_reset_at_once(proxy: TcpProxy) -> None:
    proxy.cut()
    started = time.monotonic()
    assert_dropped(proxy.port)
    assert time.monotonic() - started < 2.0
    assert proxy.refused == 1
    assert proxy.accepted == 0


def test_large_messages_pass_intact_both_ways(proxy: TcpProxy) -> None:
    client = ProxiedClient(proxy, will_topic="proxied/will")
    try:
        big = os.urandom(3 * 1024 * 1024)  # larger than the proxy's per-direction buffer
        client.publish("proxied/echo", big)
        assert client.wait(lambda: len(client.received) == 1, 10.0)
        assert client.received[0] == big
    finally:
        client.close()


def test_a_clean_disconnect_reaches_the_broker_so_no_will(
    proxy: TcpProxy, probe: MqttProbe
) -> None:
    """The client's DISCONNECT and its close travel in order: the proxy passes the FIN on
    only after the bytes before it."""
    client = ProxiedClient(proxy, will_topic="proxied/will")
    client.publish("proxied/data", b"last words")
    client.close()
    assert probe.wait_until(lambda: proxy.connections == 0, WAIT_S)
    assert probe.wait_until(lambda: payloads(probe, "proxied/data") == [b"last words"], WAIT_S)
    time.sleep(0.3)  # a will would have been published by now
    assert payloads(probe, "proxied/will") == []


def test_an_unreachable_target_resets_the_client() -> None:
    with TcpProxy("127.0.0.1", free_port()) as proxy:
        assert_dropped(proxy.port)
        assert proxy.connections == 0


def test_stop_resets_connections_and_stops_listening(mosquitto: MosquittoServer) -> None:
    proxy = TcpProxy(mosquitto.host, mosquitto.port).start()
    client = ProxiedClient(proxy, will_topic="proxied/will")
    try:
        started = time.monotonic()
        proxy.stop()
        assert time.monotonic() - started < 2.0
        assert client.wait(lambda: client.disconnects >= 1)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=WAIT_S).close()
        proxy.stop()  # idempotent
    finally:
        client.close()
