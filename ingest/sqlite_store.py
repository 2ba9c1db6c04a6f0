"""The embedded time-series store of the demo: one SQLite file, no server needed.

One row per reading, keyed by ``reading_id``: ``INSERT OR REPLACE`` makes a redelivered
batch overwrite itself, as a point with the same series and timestamp does in InfluxDB.
WAL mode lets a reader (the TUI) look while the gateway writes; ``synchronous=FULL`` makes a
committed batch survive power loss, since the gateway acknowledges MQTT messages only once
they are stored. One connection serves all threads, guarded by a lock.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from thermogate.ingest.points import FLOAT_FIELDS, STRING_FIELDS, TAG_COLUMNS, ScreeningPoints
from thermogate.ingest.writer import WriteError

FLOAT_COLUMNS: Final = FLOAT_FIELDS
TEXT_COLUMNS: Final = tuple(name for name in STRING_FIELDS if name != "reading_id")
COLUMNS: Final = (
    "reading_id",
    "ts_ns",
    *TAG_COLUMNS,
    "seq",
    *FLOAT_COLUMNS,
    *TEXT_COLUMNS,
)

_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS readings (
    reading_id TEXT PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    {", ".join(f"{c} TEXT NOT NULL" for c in TAG_COLUMNS)},
    seq INTEGER NOT NULL,
    {", ".join(f"{c} REAL" for c in FLOAT_COLUMNS)},
    error TEXT,
    decision TEXT NOT NULL,
    person_id TEXT,
    clock TEXT
);
CREATE INDEX IF NOT EXISTS readings_entrance ON readings (building, entrance);
CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts_ns);
CREATE TABLE IF NOT EXISTS metric_lines (id INTEGER PRIMARY KEY, line BLOB NOT NULL);
"""
_INSERT: Final = (
    f"INSERT OR REPLACE INTO readings ({', '.join(COLUMNS)}) "  # noqa: S608 - fixed names
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


class SqliteStore:
    """Readings in a SQLite file; also answers the counts a live view needs."""

    def __init__(self, path: Path, *, name: str | None = None, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.name = name or f"sqlite {self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=timeout_s, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def write(self, points: ScreeningPoints) -> None:
        """Store (or overwrite) every reading of the batch in one transaction."""
        if len(points) == 0:
            return
        rows = _rows(points)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany(_INSERT, rows)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:  # locked, disk full, I/O: may pass
                raise WriteError(self.name, f"SQLite: {exc}", retryable=True) from exc
            except sqlite3.Error as exc:
                raise WriteError(self.name, f"SQLite: {exc}", retryable=False) from exc

    def write_lines(self, body: bytes) -> None:
        """Keep line protocol of the gateway's own metrics as it is (the demo's store)."""
        lines = [(line,) for line in body.splitlines() if line]
        with self._lock:
            try:
                self._db.executemany("INSERT INTO metric_lines (line) VALUES (?)", lines)
            except sqlite3.Error as exc:
                raise WriteError(self.name, f"SQLite: {exc}", retryable=True) from exc

    def metric_lines(self) -> list[bytes]:
        """Every metric line kept, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT line FROM metric_lines ORDER BY id").fetchall()
        return [bytes(row[0]) for row in rows]

    def count(self) -> int:
        """Number of readings stored."""
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM readings").fetchone()
        return int(n)

    def counts_by_entrance(self) -> dict[tuple[str, str], int]:
        """Readings stored per (building, entrance), for a live view."""
        with self._lock:
            rows = self._db.execute(
                "SELECT building, entrance, count(*) FROM readings GROUP BY building, entrance"
            ).fetchall()
        return {(str(b), str(e)): int(n) for b, e, n in rows}

    def close(self) -> None:
        """Close the file (the WAL is checkpointed)."""
        with self._lock:
            self._db.close()


def _nullable(column: npt.NDArray[np.float64]) -> list[float | None]:
    values = np.asarray(column, dtype=np.float64)
    finite = np.isfinite(values)
    return [v if ok else None for v, ok in zip(values.tolist(), finite.tolist(), strict=True)]


def _rows(points: ScreeningPoints) -> list[tuple[Any, ...]]:
    columns: list[list[Any]] = [
        list(points.reading_id),
        np.asarray(points.ts_ns, dtype=np.int64).tolist(),
        *(list(getattr(points, c)) for c in TAG_COLUMNS),
        np.asarray(points.seq, dtype=np.int64).tolist(),
        *(_nullable(getattr(points, c)) for c in FLOAT_COLUMNS),
        *(list(getattr(points, c)) for c in TEXT_COLUMNS),
    ]
    return list(zip(*columns, strict=True))
