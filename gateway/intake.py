"""The MQTT receive path: stamp, enqueue, return. Nothing else runs on the network thread.

The queue is bounded. With MQTT 5 the gateway announces a Receive Maximum no larger than the
queue, so the broker never has more unacknowledged messages out to it than fit; under MQTT
3.1.1 a full queue makes the network thread wait, which is backpressure through TCP.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import paho.mqtt.client as paho

log = logging.getLogger(__name__)

FULL_QUEUE_LOG_INTERVAL_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class Envelope:
    """One received message, not yet acknowledged."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    received_ns: int
    epoch: int
    """The connection it arrived on: its ``mid`` means nothing on another one."""


class Intake:
    """Bounded hand-off from the network thread to the batch worker."""

    def __init__(self, maxsize: int, epoch: Callable[[], int]) -> None:
        self.queue: queue.Queue[Envelope] = queue.Queue(maxsize=maxsize)
        self._epoch = epoch
        self._last_full_log = 0.0

    def on_message(self, message: paho.MQTTMessage) -> None:
        """paho callback: wrap and enqueue."""
        envelope = Envelope(
            topic=message.topic,
            payload=bytes(message.payload),
            mid=message.mid,
            qos=message.qos,
            received_ns=time.time_ns(),
            epoch=self._epoch(),
        )
        try:
            self.queue.put_nowait(envelope)
        except queue.Full:
            now = time.monotonic()
            if now - self._last_full_log > FULL_QUEUE_LOG_INTERVAL_S:
                self._last_full_log = now
                log.warning(
                    "intake queue full, applying backpressure", extra={"size": self.queue.maxsize}
                )
            self.queue.put(envelope)

    def take_batch(self, max_items: int, wait_s: float, poll_s: float = 0.2) -> list[Envelope]:
        """Up to ``max_items`` envelopes, waiting at most ``wait_s`` after the first one."""
        try:
            first = self.queue.get(timeout=poll_s)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + wait_s
        while len(batch) < max_items:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch
