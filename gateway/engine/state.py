"""The engine's state on disk, so a gateway restart forgets neither an open re-check nor how
it decided a reading the broker may deliver again.

One SQLite file in ``gateway.state_dir`` (WAL, ``synchronous=FULL``): open re-checks by person,
and the decisions the re-check protocol made, by reading id (bounded). The engine writes the
changes of a batch in one transaction before the gateway acknowledges the batch.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DECIDED_KEPT: Final = 200_000
PRUNE_EVERY_SAVES: Final = 500

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS open_recheck (person_id TEXT PRIMARY KEY, reading_id TEXT NOT NULL,"
    " device_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, adjusted_c REAL NOT NULL,"
    " threshold_c REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS decided (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " reading_id TEXT NOT NULL UNIQUE, decision INTEGER NOT NULL, reason INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS watermark (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " ts_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS device_history (device_id TEXT PRIMARY KEY,"
    " last_ts_ms INTEGER NOT NULL, vals BLOB NOT NULL)",
    # Changes for the other gateways of a shared-subscription group, until the broker has them.
    "CREATE TABLE IF NOT EXISTS shared_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " payload BLOB NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class OpenRecheckRow:
    """An open re-check as stored."""

    reading_id: str
    device_id: str
    ts_ms: int
    adjusted_c: float
    threshold_c: float


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """What a starting engine loads."""

    open_rechecks: dict[str, OpenRecheckRow]
    decided: dict[str, tuple[int, int]]
    watermark_ms: int
    device_history: dict[str, tuple[int, bytes]]
    """device id -> (newest included time, float64 values as bytes)."""


class EngineStore:
    """Durable engine state; thread-safe."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._saves = 0

    def load(self) -> EngineSnapshot:
        """Everything stored, oldest decisions first."""
        with self._lock:
            opened = {
                row[0]: OpenRecheckRow(row[1], row[2], int(row[3]), float(row[4]), float(row[5]))
                for row in self._db.execute(
                    "SELECT person_id, reading_id, device_id, ts_ms, adjusted_c, threshold_c "
                    "FROM open_recheck ORDER BY ts_ms"
                )
            }
            decided = {
                row[0]: (int(row[1]), int(row[2]))
                for row in self._db.execute(
                    "SELECT reading_id, decision, reason FROM decided ORDER BY id"
                )
            }
            mark = self._db.execute("SELECT ts_ms FROM watermark WHERE id = 1").fetchone()
            history = {
                row[0]: (int(row[1]), bytes(row[2]))
                for row in self._db.execute(
                    "SELECT device_id, last_ts_ms, vals FROM device_history"
                )
            }
        return EngineSnapshot(opened, decided, int(mark[0]) if mark else 0, history)

    def save(
        self,
        opened: Mapping[str, OpenRecheckRow],
        closed: Iterable[str],
        decided: Mapping[str, tuple[int, int]],
        watermark_ms: int,
        device_history: Mapping[str, tuple[int, bytes]] | None = None,
        *,
        outgoing: bytes | None = None,
    ) -> None:
        """Apply one batch's changes in one durable transaction (with ``outgoing``, the same
        changes as the other gateways of a group will receive them)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "DELETE FROM open_recheck WHERE person_id = ?", [(p,) for p in closed]
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO open_recheck VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (p, o.reading_id, o.device_id, o.ts_ms, o.adjusted_c, o.threshold_c)
                        for p, o in opened.items()
                    ],
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO decided (reading_id, decision, reason) VALUES (?,?,?)",
                    [(r, d, why) for r, (d, why) in decided.items()],
                )
                self._saves += 1
                if self._saves % PRUNE_EVERY_SAVES == 0:
                    self._db.execute(
                        "DELETE FROM decided WHERE id <= (SELECT max(id) FROM decided) - ?",
                        (DECIDED_KEPT,),
                    )
                self._db.executemany(
                    "INSERT OR REPLACE INTO device_history VALUES (?, ?, ?)",
                    [(d, ts, vals) for d, (ts, vals) in (device_history or {}).items()],
                )
                if outgoing is not None:
                    self._db.execute("INSERT INTO shared_outbox (payload) VALUES (?)", (outgoing,))
                self._db.execute(
                    "INSERT INTO watermark (id, ts_ms) VALUES (1, ?) "
                    "ON CONFLICT(id) DO UPDATE SET ts_ms = max(ts_ms, excluded.ts_ms)",
                    (watermark_ms,),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def pending_changes(self, limit: int = 100) -> list[tuple[int, bytes]]:
        """Changes not yet published, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, payload FROM shared_outbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [(int(row[0]), bytes(row[1])) for row in rows]

    def forget_changes(self, ids: Iterable[int]) -> None:
        """Published: remove them."""
        with self._lock:
            self._db.executemany("DELETE FROM shared_outbox WHERE id = ?", [(i,) for i in ids])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
