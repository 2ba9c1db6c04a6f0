"""Forward the disk buffer to the broker: live readings at once, the backlog at a set rate.

On every (re)connection the buffer is split at its newest reading: what was buffered before
is the backlog, replayed oldest first in batched messages (one device per message) at
``replay_rate_per_s`` readings per second; what arrives after is live and goes out at once as
single-reading messages. A buffered reading is removed only when the broker's PUBACK for the
message that carried it arrives. A connection lost with messages in flight leaves their rows
in the buffer, and the next connection sends them again: delivery is at least once, and the
gateway absorbs the duplicates (same point, same alert id).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from typing import Final

from thermogate.edge.buffer import BufferedReading, ReadingBuffer
from thermogate.mqtt import MqttConnection

log = logging.getLogger(__name__)

LIVE_FETCH: Final = 200
MAX_INFLIGHT_MESSAGES: Final = 500
IDLE_WAIT_S: Final = 0.05


class Forwarder(threading.Thread):
    """The one thread that sends buffered readings and retires acknowledged ones."""

    def __init__(
        self,
        buffer: ReadingBuffer,
        mqtt: MqttConnection,
        *,
        replay_rate_per_s: float,
        replay_batch_max: int,
        stop: threading.Event,
    ) -> None:
        super().__init__(name="edge-forwarder", daemon=True)
        self._buffer = buffer
        self._mqtt = mqtt
        self._rate = replay_rate_per_s
        self._batch_max = replay_batch_max
        self._stop_event = stop
        self._acks: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._inflight: dict[int, list[int]] = {}
        self._epoch = -1
        self._floor = 0
        self._live_after = 0
        self._backlog_after = 0
        self._tokens = 0.0
        self._last_tick = time.monotonic()
        self.sent_messages = 0
        self.replayed = 0

    def wake(self) -> None:
        """A reading was appended: send it without waiting for the next tick."""
        self._wake.set()

    def on_published(self, mid: int, accepted: bool) -> None:
        """paho callback (network thread): hand the PUBACK to the forwarder thread."""
        self._acks.put((mid, accepted))
        self._wake.set()

    @property
    def backlog(self) -> int:
        """Buffered readings older than the current connection not yet sent on it."""
        return max(0, self._floor - self._backlog_after)

    def run(self) -> None:
        """Send and retire until stopped."""
        while not self._stop_event.is_set():
            self._retire_acknowledged()
            if not self._mqtt.connected.is_set():
                self._stop_event.wait(IDLE_WAIT_S * 2)
                continue
            if self._mqtt.epoch != self._epoch:
                self._new_connection()
            sent = self._send_live() + self._send_backlog()
            if not sent:
                self._wake.wait(IDLE_WAIT_S)
                self._wake.clear()

    def _new_connection(self) -> None:
        """Everything buffered so far is backlog; what was in flight will be sent again."""
        self._epoch = self._mqtt.epoch
        self._inflight.clear()
        self._floor = self._buffer.max_id()
        self._live_after = self._floor
        self._backlog_after = 0
        self._tokens = 0.0
        self._last_tick = time.monotonic()
        if self._buffer.pending:
            log.info(
                "replaying edge backlog",
                extra={"pending": self._buffer.pending, "rate_per_s": self._rate},
            )

    def _send_live(self) -> int:
        if len(self._inflight) >= MAX_INFLIGHT_MESSAGES:
            return 0
        rows = self._buffer.between(self._live_after, 2**62, LIVE_FETCH)
        for row in rows:
            if not self._publish(row.topic, row.payload, [row.id]):
                break
            self._live_after = row.id
        return len(rows)

    def _send_backlog(self) -> int:
        now = time.monotonic()
        self._tokens = min(self._tokens + (now - self._last_tick) * self._rate, self._batch_max)
        self._last_tick = now
        if (
            self._backlog_after >= self._floor
            or self._tokens < min(1.0, self._floor - self._backlog_after)
            or len(self._inflight) >= MAX_INFLIGHT_MESSAGES
        ):
            return 0
        rows = self._buffer.between(self._backlog_after, self._floor, max(1, int(self._tokens)))
        if not rows:
            self._backlog_after = self._floor
            return 0
        for device_rows in _by_device(rows):
            payload = b'{"v":1,"readings":[' + b",".join(r.payload for r in device_rows) + b"]}"
            if not self._publish(device_rows[0].topic, payload, [r.id for r in device_rows]):
                return 0
        self._backlog_after = rows[-1].id
        self._tokens -= len(rows)
        self.replayed += len(rows)
        return len(rows)

    def _publish(self, topic: str, payload: bytes, ids: list[int]) -> bool:
        info = self._mqtt.publish(topic, payload, qos=1)
        if info.rc != 0:
            return False  # not connected any more: the rows stay for the next connection
        self._inflight[info.mid] = ids
        self.sent_messages += 1
        return True

    def _retire_acknowledged(self) -> None:
        retired: list[int] = []
        while True:
            try:
                mid, accepted = self._acks.get_nowait()
            except queue.Empty:
                break
            ids = self._inflight.pop(mid, None)
            if ids is None:
                continue  # from an earlier connection: its rows were (or will be) resent
            if accepted:
                retired += ids
            else:
                log.error("broker refused a reading message", extra={"mid": mid, "rows": ids})
        self._buffer.acknowledge(retired)


def _by_device(rows: list[BufferedReading]) -> list[list[BufferedReading]]:
    """Group rows per device (one topic per message), keeping each group oldest first."""
    groups: dict[str, list[BufferedReading]] = defaultdict(list)
    for row in rows:
        groups[row.device_id].append(row)
    return list(groups.values())
