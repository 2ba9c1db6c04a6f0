"""The edge's disk buffer: every reading is on disk before anything else happens to it.

One SQLite file (WAL, ``synchronous=FULL``) holds the per-device sequence counters and the
outbox of encoded readings. :meth:`ReadingBuffer.append` takes the next sequence number,
builds the reading and stores it in one transaction, and returns only after the commit is on
disk; a row leaves the outbox only when the broker has acknowledged the message that carried
it (:meth:`acknowledge`). So a kill -9 or a power cut after ``append`` returned loses nothing,
and a sequence number is never handed out twice.

The buffer is bounded by ``capacity`` readings. When it is full the *oldest* reading is dropped
to make room (the newest matter most at a door: they may be someone with a fever standing
there now); every drop is counted, logged and reported in the edge's status, and the gateway
alerts the duty staff when a buffer passes 80 % (docs/reliability.md).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from thermogate.contract import Reading, encode
from thermogate.contract.topics import readings_topic

log = logging.getLogger(__name__)

DROP_LOG_INTERVAL_S: Final = 10.0

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS sequence (device_id TEXT PRIMARY KEY, last INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " device_id TEXT NOT NULL,"
    " topic TEXT NOT NULL,"
    " payload BLOB NOT NULL,"
    " created_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS outbox_device ON outbox (device_id, id)",
    "CREATE TABLE IF NOT EXISTS recent_frames ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " device_id TEXT NOT NULL,"
    " frame BLOB NOT NULL,"
    " at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS recent_frames_key ON recent_frames (device_id, frame)",
)
RECENT_FRAMES_KEPT: Final = 4096
"""Per device, how many stored frames are remembered to recognise a device's resend."""
RECENT_FRAMES_MAX_AGE_MS: Final = 24 * 3600 * 1000
"""A resend older than this is taken as a new reading (a device rebooted, reusing numbers)."""


@dataclass(frozen=True, slots=True)
class BufferedReading:
    """One reading waiting for the broker's acknowledgement."""

    id: int
    device_id: str
    topic: str
    payload: bytes


class ReadingBuffer:
    """Durable sequences and outbox; thread-safe (one connection behind a lock)."""

    def __init__(self, path: Path, capacity: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.capacity = capacity
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._pending = int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        self.dropped = 0
        """Readings dropped because the buffer was full, since this process started."""
        self._last_drop_log = 0.0

    @property
    def pending(self) -> int:
        """Readings stored and not yet acknowledged by the broker."""
        return self._pending

    def seen(self, device_id: str, frame: bytes) -> bool:
        """Whether this exact frame of this device was stored recently (a device's resend)."""
        with self._lock:
            return self._seen(device_id, frame)

    def _seen(self, device_id: str, frame: bytes) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM recent_frames WHERE device_id = ? AND frame = ? AND at_ms >= ?",
            (device_id, frame, int(time.time() * 1000) - RECENT_FRAMES_MAX_AGE_MS),
        ).fetchone()
        return row is not None

    def append(
        self, device_id: str, build: Callable[[int], Reading], frame: bytes | None = None
    ) -> Reading | None:
        """Number, build and store one reading; durable when this returns.

        ``frame`` is the device's line: when it was stored already (the device sent it again
        because our acknowledgement was lost) nothing is stored and None is returned.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if frame is not None and self._seen(device_id, frame):
                    self._db.execute("ROLLBACK")
                    return None
                row = self._db.execute(
                    "INSERT INTO sequence (device_id, last) VALUES (?, 1) "
                    "ON CONFLICT(device_id) DO UPDATE SET last = last + 1 RETURNING last",
                    (device_id,),
                ).fetchone()
                reading = build(int(row[0]))
                topic = readings_topic(reading.building, reading.entrance, reading.device_id)
                self._db.execute(
                    "INSERT INTO outbox (device_id, topic, payload, created_ms) VALUES (?,?,?,?)",
                    (device_id, topic, encode(reading), int(time.time() * 1000)),
                )
                if frame is not None:
                    self._remember(device_id, frame)
                overflow = self._pending + 1 - self.capacity
                if overflow > 0:
                    self._db.execute(
                        "DELETE FROM outbox WHERE id IN "
                        "(SELECT id FROM outbox ORDER BY id LIMIT ?)",
                        (overflow,),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._pending += 1 - max(overflow, 0)
            if overflow > 0:
                self.dropped += overflow
                self._log_drop()
            return reading

    def _remember(self, device_id: str, frame: bytes) -> None:
        cursor = self._db.execute(
            "INSERT INTO recent_frames (device_id, frame, at_ms) VALUES (?, ?, ?)",
            (device_id, frame, int(time.time() * 1000)),
        )
        newest = int(cursor.lastrowid or 0)
        if newest % 256 == 0:  # prune now and then, keeping the newest per device
            self._db.execute(
                "DELETE FROM recent_frames WHERE device_id = ? AND id <= ("
                " SELECT id FROM recent_frames WHERE device_id = ? ORDER BY id DESC"
                " LIMIT 1 OFFSET ?)",
                (device_id, device_id, RECENT_FRAMES_KEPT),
            )

    def max_id(self) -> int:
        """The id of the newest buffered reading (0 when empty)."""
        with self._lock:
            row = self._db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()
            return int(row[0])

    def between(self, after_id: int, up_to_id: int, limit: int) -> list[BufferedReading]:
        """Buffered readings with ``after_id < id <= up_to_id``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, device_id, topic, payload FROM outbox WHERE id > ? AND id <= ? "
                "ORDER BY id LIMIT ?",
                (after_id, up_to_id, limit),
            ).fetchall()
        return [BufferedReading(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def acknowledge(self, ids: Iterable[int]) -> None:
        """The broker has these readings: remove them (durably)."""
        ids = list(ids)
        if not ids:
            return
        with self._lock:
            deleted = self._db.execute(
                f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(ids))})",  # noqa: S608
                ids,
            ).rowcount
            self._pending -= deleted

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _log_drop(self) -> None:
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL_S:
            self._last_drop_log = now
            log.error(
                "edge buffer full: oldest readings dropped",
                extra={"capacity": self.capacity, "dropped_total": self.dropped},
            )
