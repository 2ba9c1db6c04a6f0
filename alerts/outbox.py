"""The alert outbox: every alert is on disk before the gateway acknowledges its reading.

One SQLite file (``<state_dir>/alerts.sqlite3``, WAL, ``synchronous=FULL``) holds one row per
alert id. :meth:`AlertOutbox.add` commits the alert before it returns and refuses an id it
already holds, which makes the outbox the persistent deduplication of redelivered readings.
Each row then records its two deliveries separately, because they fail separately:

- MQTT: ``published_at`` is set once the broker acknowledged the publication (PUBACK). It is
  never given up: ``publish_attempts`` and ``next_publish_at`` only pace the retries.
- push: ``push_done`` lists the channels that accepted the alert, ``pushed_at`` is set when
  every channel did; after too many attempts the push is given up (``gave_up_at``).

A row is *finished* when it is published and either pushed or given up; finished rows older
than the retention are pruned (:meth:`prune`), so the file stays small. Times are wall-clock
Unix seconds, since they must mean the same thing to the next process.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from thermogate.contract.messages import Alert, encode

log = logging.getLogger(__name__)

FILE_NAME: Final = "alerts.sqlite3"
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"  # insertion order: alerts go out oldest first
    " alert_id TEXT NOT NULL UNIQUE,"
    " alert BLOB NOT NULL,"  # the wire document (contract v1), exactly as published
    " created_at REAL NOT NULL,"
    " published_at REAL,"  # PUBACK received; NULL while not
    " publish_attempts INTEGER NOT NULL DEFAULT 0,"
    " next_publish_at REAL NOT NULL,"
    " push_done TEXT NOT NULL DEFAULT '[]',"  # JSON list of the channels that accepted it
    " pushed_at REAL,"  # every channel accepted it (or there was none to push to)
    " push_attempts INTEGER NOT NULL DEFAULT 0,"
    " next_push_at REAL NOT NULL,"
    " gave_up_at REAL,"  # the push was given up after the last retry
    " last_error TEXT)",
    "CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL",
    "CREATE INDEX IF NOT EXISTS outbox_unpushed ON outbox (id)"
    " WHERE pushed_at IS NULL AND gave_up_at IS NULL",
    "CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created_at)",
)
_COLUMNS: Final = (
    "alert_id, alert, created_at, published_at, publish_attempts, next_publish_at,"
    " push_done, pushed_at, push_attempts, next_push_at, gave_up_at, last_error"
)
_UNPUBLISHED: Final = "published_at IS NULL"
_UNPUSHED: Final = "pushed_at IS NULL AND gave_up_at IS NULL"
_UNFINISHED: Final = f"({_UNPUBLISHED} OR {_UNPUSHED})"
_DUE: Final = "({column} <= :now OR {column} > :now + :horizon)"
"""Due now, or scheduled further ahead than any backoff: the wall clock went back, go now."""
DEFAULT_HORIZON_S: Final = 3600.0


class OutboxClosedError(RuntimeError):
    """The outbox was used after :meth:`AlertOutbox.close`."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One row: an alert and how far its deliveries got."""

    alert_id: str
    payload: bytes
    """The alert's wire document (what is published and pushed)."""
    created_at: float
    published_at: float | None
    publish_attempts: int
    next_publish_at: float
    push_done: frozenset[str]
    """Names of the channels that accepted the push."""
    pushed_at: float | None
    push_attempts: int
    next_push_at: float
    gave_up_at: float | None
    last_error: str | None

    @property
    def published(self) -> bool:
        """The broker acknowledged the MQTT publication."""
        return self.published_at is not None

    @property
    def pushed(self) -> bool:
        """Every push channel accepted the alert."""
        return self.pushed_at is not None

    @property
    def gave_up(self) -> bool:
        """The push was given up after the last retry."""
        return self.gave_up_at is not None

    @property
    def finished(self) -> bool:
        """Nothing is left to do for this alert."""
        return self.published and (self.pushed or self.gave_up)

    def alert(self) -> Alert:
        """The alert itself, decoded from its wire document."""
        return Alert.model_validate_json(self.payload)


class AlertOutbox:
    """Durable alert rows; thread-safe (one connection behind a lock).

    ``path=None`` keeps the rows in memory: the same behaviour without durability, for
    callers that do not need it (unit tests, tools).
    """

    def __init__(self, path: Path | None, *, horizon_s: float = DEFAULT_HORIZON_S) -> None:
        """Open (or create) the database and its schema."""
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._horizon_s = horizon_s
        self._lock = threading.Lock()
        self._closed = False
        self._db = sqlite3.connect(
            ":memory:" if path is None else path, check_same_thread=False, isolation_level=None
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> AlertOutbox:
        """The gateway's outbox: ``<state_dir>/alerts.sqlite3``."""
        return cls(state_dir / FILE_NAME)

    def close(self) -> None:
        """Close the database (idempotent); any later call raises :class:`OutboxClosedError`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()

    # -- writes ---------------------------------------------------------------------------
    def add(self, alert: Alert, *, push: bool = True, now: float | None = None) -> bool:
        """Store a new alert durably; False (and nothing changed) when its id is already here.

        ``push=False`` records the alert as needing no push (no channel is configured).
        """
        at = time.time() if now is None else now
        with self._lock:
            self._check_open()
            cursor = self._db.execute(
                "INSERT INTO outbox (alert_id, alert, created_at, next_publish_at, next_push_at,"
                " pushed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO NOTHING",
                (alert.alert_id, encode(alert), at, at, at, None if push else at),
            )
            return cursor.rowcount == 1

    def add_many(
        self, alerts: Sequence[Alert], *, push: bool = True, now: float | None = None
    ) -> list[bool]:
        """:meth:`add` for several alerts in one durable transaction (one disk flush for a
        batch's alerts); for each, whether it was new."""
        if not alerts:
            return []
        at = time.time() if now is None else now
        with self._lock:
            self._check_open()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                added = [
                    self._db.execute(
                        "INSERT INTO outbox (alert_id, alert, created_at, next_publish_at,"
                        " next_push_at, pushed_at) VALUES (?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (alert_id) DO NOTHING",
                        (alert.alert_id, encode(alert), at, at, at, None if push else at),
                    ).rowcount
                    == 1
                    for alert in alerts
                ]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return added

    def mark_published(self, alert_ids: Iterable[str], *, now: float | None = None) -> int:
        """The broker acknowledged these alerts; returns how many rows changed."""
        ids = list(alert_ids)
        if not ids:
            return 0
        at = time.time() if now is None else now
        with self._lock:
            self._check_open()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                changed = sum(
                    self._db.execute(
                        "UPDATE outbox SET published_at = ?,"
                        " publish_attempts = publish_attempts + 1"
                        " WHERE alert_id = ? AND published_at IS NULL",
                        (at, alert_id),
                    ).rowcount
                    for alert_id in ids
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return changed

    def record_publish_failure(self, alert_id: str, *, retry_at: float, error: str) -> int:
        """A publication failed; try again at ``retry_at``. Returns the attempts so far."""
        return self._update_returning_attempts(
            "UPDATE outbox SET publish_attempts = publish_attempts + 1, next_publish_at = ?,"
            " last_error = ? WHERE alert_id = ? RETURNING publish_attempts",
            (retry_at, error, alert_id),
        )

    def mark_pushed(self, alert_id: str, done: Iterable[str], *, now: float | None = None) -> None:
        """Every channel accepted the alert (``done`` names them)."""
        at = time.time() if now is None else now
        self._update_returning_attempts(
            "UPDATE outbox SET pushed_at = ?, push_done = ?, push_attempts = push_attempts + 1"
            " WHERE alert_id = ? RETURNING push_attempts",
            (at, _names(done), alert_id),
        )

    def record_push_failure(
        self, alert_id: str, done: Iterable[str], *, retry_at: float, error: str
    ) -> int:
        """Some channel refused; the others (``done``) are not tried again. Returns attempts."""
        return self._update_returning_attempts(
            "UPDATE outbox SET push_done = ?, push_attempts = push_attempts + 1,"
            " next_push_at = ?, last_error = ? WHERE alert_id = ? RETURNING push_attempts",
            (_names(done), retry_at, error, alert_id),
        )

    def give_up_push(
        self, alert_id: str, done: Iterable[str], *, error: str, now: float | None = None
    ) -> int:
        """The last retry failed too: stop pushing this alert. Returns the attempts made."""
        at = time.time() if now is None else now
        return self._update_returning_attempts(
            "UPDATE outbox SET push_done = ?, push_attempts = push_attempts + 1,"
            " gave_up_at = ?, last_error = ? WHERE alert_id = ? RETURNING push_attempts",
            (_names(done), at, error, alert_id),
        )

    def give_up_all_pushes(self, error: str, *, now: float | None = None) -> int:
        """Give up every unfinished push (no channel is left to take them); returns how many."""
        at = time.time() if now is None else now
        with self._lock:
            self._check_open()
            return self._db.execute(
                "UPDATE outbox SET gave_up_at = ?, last_error = ?"
                " WHERE pushed_at IS NULL AND gave_up_at IS NULL",
                (at, error),
            ).rowcount

    def resume(self, *, now: float | None = None) -> int:
        """Make every unfinished delivery due now (a fresh start); returns the unfinished rows."""
        at = time.time() if now is None else now
        with self._lock:
            self._check_open()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE outbox SET next_publish_at = ?"
                    " WHERE published_at IS NULL AND next_publish_at > ?",
                    (at, at),
                )
                self._db.execute(
                    f"UPDATE outbox SET next_push_at = ? WHERE {_UNPUSHED} AND next_push_at > ?",  # noqa: S608
                    (at, at),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return self._count_unfinished()

    def prune(self, max_age_s: float, *, now: float | None = None) -> int:
        """Delete finished rows created more than ``max_age_s`` ago; returns how many.

        Unfinished rows are never pruned. A pruned id no longer deduplicates, so the
        retention must outlast every redelivery (the broker's session expiry).
        """
        at = time.time() if now is None else now
        with self._lock:
            self._check_open()
            return self._db.execute(
                f"DELETE FROM outbox WHERE created_at < ? AND NOT {_UNFINISHED}",  # noqa: S608
                (at - max_age_s,),
            ).rowcount

    # -- reads ----------------------------------------------------------------------------
    def get(self, alert_id: str) -> OutboxEntry | None:
        """The row of one alert, if the outbox holds it."""
        with self._lock:
            self._check_open()
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE alert_id = ?",  # noqa: S608
                (alert_id,),
            ).fetchone()
        return None if row is None else _entry(row)

    def due_publications(
        self, limit: int, *, exclude: Iterable[str] = (), now: float | None = None
    ) -> list[OutboxEntry]:
        """Unpublished alerts due for an attempt, oldest first, except the ``exclude`` ids."""
        return self._due(_UNPUBLISHED, "next_publish_at", limit, set(exclude), now)

    def due_pushes(self, limit: int, *, now: float | None = None) -> list[OutboxEntry]:
        """Alerts whose push is due for an attempt, oldest first."""
        return self._due(_UNPUSHED, "next_push_at", limit, set(), now)

    def next_publication_at(self) -> float | None:
        """When the earliest unpublished alert is due (None: there is none)."""
        return self._min("next_publish_at", _UNPUBLISHED)

    def next_push_at(self) -> float | None:
        """When the earliest pending push is due (None: there is none)."""
        return self._min("next_push_at", _UNPUSHED)

    def unpublished(self) -> int:
        """Alerts the broker has not acknowledged yet."""
        with self._lock:
            self._check_open()
            return self._count(_UNPUBLISHED)

    def unpushed(self) -> int:
        """Alerts still to be pushed (neither pushed nor given up)."""
        with self._lock:
            self._check_open()
            return self._count(_UNPUSHED)

    def unfinished(self) -> int:
        """Alerts with a delivery still to do.

        Two counts, each over its partial index, rather than one ``OR`` (which SQLite answers
        by reading the whole table): the cost follows the alerts still pending, not every
        alert kept for deduplication.
        """
        with self._lock:
            self._check_open()
            return self._count_unfinished()

    def unpublished_ids(self, limit: int) -> list[str]:
        """The oldest alert ids the broker has not acknowledged yet (for logs)."""
        return self._ids(_UNPUBLISHED, limit)

    def unpushed_ids(self, limit: int) -> list[str]:
        """The oldest alert ids still to be pushed (for logs)."""
        return self._ids(_UNPUSHED, limit)

    def __len__(self) -> int:
        with self._lock:
            self._check_open()
            return self._count("1")

    # -- helpers --------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise OutboxClosedError("the alert outbox is closed")

    def _count_unfinished(self) -> int:
        return self._count(_UNPUBLISHED) + self._count(f"{_UNPUSHED} AND published_at IS NOT NULL")

    def _count(self, where: str) -> int:
        row = self._db.execute(f"SELECT count(*) FROM outbox WHERE {where}").fetchone()  # noqa: S608
        return int(row[0])

    def _ids(self, where: str, limit: int) -> list[str]:
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                f"SELECT alert_id FROM outbox WHERE {where} ORDER BY id LIMIT ?",  # noqa: S608
                (limit,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def _min(self, column: str, where: str) -> float | None:
        with self._lock:
            self._check_open()
            row = self._db.execute(f"SELECT min({column}) FROM outbox WHERE {where}").fetchone()  # noqa: S608
        return None if row[0] is None else float(row[0])

    def _due(
        self, where: str, column: str, limit: int, exclude: set[str], now: float | None
    ) -> list[OutboxEntry]:
        at = time.time() if now is None else now
        due = _DUE.format(column=column)
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE {where} AND {due} ORDER BY id",  # noqa: S608
                {"now": at, "horizon": self._horizon_s},
            )
            found: list[OutboxEntry] = []
            for row in rows:
                if row[0] in exclude:
                    continue
                found.append(_entry(row))
                if len(found) >= limit:
                    break
            rows.close()
        return found

    def _update_returning_attempts(self, sql: str, parameters: Sequence[object]) -> int:
        with self._lock:
            self._check_open()
            rows = self._db.execute(sql, parameters).fetchall()  # to the end: committed
        if not rows:
            raise KeyError(f"no alert {parameters[-1]!r} in the outbox")
        return int(rows[0][0])


def _names(done: Iterable[str]) -> str:
    return orjson.dumps(sorted(set(done))).decode()


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    (alert_id, payload, created, published, p_attempts, p_next) = row[:6]
    (done, pushed, u_attempts, u_next, gave_up, error) = row[6:]
    return OutboxEntry(
        alert_id=alert_id,
        payload=bytes(payload),
        created_at=created,
        published_at=published,
        publish_attempts=p_attempts,
        next_publish_at=p_next,
        push_done=frozenset(orjson.loads(done)),
        pushed_at=pushed,
        push_attempts=u_attempts,
        next_push_at=u_next,
        gave_up_at=gave_up,
        last_error=error,
    )
