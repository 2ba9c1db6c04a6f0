"""A real paho subscriber that tests use to watch topics on the test broker."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from thermogate.config import MqttSettings


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> dict:
        return orjson.loads(self.payload)


class MqttProbe:
    """Subscribes to filters and records every message; ``wait_until`` polls a condition."""

    def __init__(self, settings: MqttSettings, *filters: str) -> None:
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"probe-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5 if settings.protocol == "5" else paho.MQTTv311,
        )
        self._filters = filters
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(settings.host, settings.port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "probe could not subscribe"

    def _on_connect(self, client, _u, _f, _rc, _p) -> None:
        client.subscribe([(f, 1) for f in self._filters])

    def _on_message(self, _c, _u, message: paho.MQTTMessage) -> None:
        with self._lock:
            self._messages.append(Received(message.topic, bytes(message.payload), message.retain))

    def messages(self, prefix: str = "") -> list[Received]:
        with self._lock:
            return [m for m in self._messages if m.topic.startswith(prefix)]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return condition()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self._client.publish(topic, payload, qos=qos).wait_for_publish(10)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
