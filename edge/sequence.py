"""Per-device sequence numbers that are never reused, even across kill -9 or power loss.

The counter lives in SQLite (WAL, ``synchronous=FULL``): a number is handed out only after
the increment is on disk, so a restarted edge continues above every number it ever published.
The reading id on the wire is ``device_id:seq``; reusing a number would overwrite a stored
reading, so durability matters more than the few hundred microseconds a commit costs at a
door's rate of a few readings per second.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class SequenceStore:
    """Durable, thread-safe counters keyed by device id."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sequence "
            "(device_id TEXT PRIMARY KEY, last INTEGER NOT NULL)"
        )

    def next(self, device_id: str) -> int:
        """The next number for ``device_id`` (1, 2, ...), durable before it is returned."""
        with self._lock:
            row = self._db.execute(
                "INSERT INTO sequence (device_id, last) VALUES (?, 1) "
                "ON CONFLICT(device_id) DO UPDATE SET last = last + 1 RETURNING last",
                (device_id,),
            ).fetchone()
            return int(row[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
