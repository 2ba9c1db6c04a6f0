"""The MQTT receive path: stamp, enqueue, return. Nothing else runs on the network thread.

The queue is bounded twice: in messages and in bytes. With MQTT 5 the gateway announces a
Receive Maximum no larger than the message bound, so the broker never has more
unacknowledged messages out to it than fit. The byte bound keeps memory flat when those
messages are large batches (an edge replaying its backlog sends thousands of readings per
message): past it, the network thread waits until the worker has taken a batch, which is
backpressure through TCP; it waits at most ``ROOM_WAIT_S`` per message, because the same
thread reads the PUBACKs the worker may be waiting for. A batch the worker takes is bounded
the same two ways.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import paho.mqtt.client as paho

log = logging.getLogger(__name__)

FULL_QUEUE_LOG_INTERVAL_S: Final = 10.0
DEFAULT_MAX_BYTES: Final = 8 * 1024 * 1024
ROOM_WAIT_S: Final = 0.5
"""Longest wait of the network thread for room: it also reads the PUBACKs the worker may be
waiting for (alerts, dead letters), so the byte bound is soft rather than a deadlock."""


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

    def __init__(
        self, maxsize: int, epoch: Callable[[], int], max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.queue: queue.Queue[Envelope] = queue.Queue(maxsize=maxsize)
        self._epoch = epoch
        self._last_full_log = 0.0
        self._max_bytes = max_bytes
        self._bytes = 0
        self._room = threading.Condition()

    @property
    def queued_bytes(self) -> int:
        """Payload bytes waiting for the worker."""
        return self._bytes

    def on_message(self, message: paho.MQTTMessage) -> None:
        """paho callback: wrap and enqueue (waiting while the queue is full)."""
        envelope = Envelope(
            topic=message.topic,
            payload=bytes(message.payload),
            mid=message.mid,
            qos=message.qos,
            received_ns=time.time_ns(),
            epoch=self._epoch(),
        )
        size = len(envelope.payload)
        with self._room:
            if self._bytes and self._bytes + size > self._max_bytes:
                self._full("bytes")
                self._room.wait_for(
                    lambda: not self._bytes or self._bytes + size <= self._max_bytes, ROOM_WAIT_S
                )
            self._bytes += size
        try:
            self.queue.put_nowait(envelope)
        except queue.Full:
            self._full("messages")
            self.queue.put(envelope)

    def _full(self, bound: str) -> None:
        now = time.monotonic()
        if now - self._last_full_log > FULL_QUEUE_LOG_INTERVAL_S:
            self._last_full_log = now
            log.warning(
                "intake queue full, applying backpressure",
                extra={"bound": bound, "messages": self.queue.qsize(), "bytes": self._bytes},
            )

    def take_batch(
        self,
        max_items: int,
        wait_s: float,
        poll_s: float = 0.2,
        max_bytes: int | None = None,
    ) -> list[Envelope]:
        """Up to ``max_items`` envelopes (and about ``max_bytes`` of payload), waiting at most
        ``wait_s`` after the first one."""
        try:
            first = self.queue.get(timeout=poll_s)
        except queue.Empty:
            return []
        batch = [first]
        size = len(first.payload)
        limit = self._max_bytes if max_bytes is None else max_bytes
        deadline = time.monotonic() + wait_s
        while len(batch) < max_items and size < limit:
            remaining = deadline - time.monotonic()
            try:
                envelope = (
                    self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
                )
            except queue.Empty:
                break
            batch.append(envelope)
            size += len(envelope.payload)
        with self._room:
            self._bytes -= size
            self._room.notify_all()
        return batch
