"""Stores each batch in every sink, retrying until all have it (or it cannot be stored).

``Ingestor.store`` returns only once every writer has stored the batch: this is what lets
the gateway acknowledge an MQTT message only when its reading is stored. A writer that has
already stored the batch is not asked again while another one is retried. Retryable
failures (server down, timeout, overload) are retried with exponential backoff and jitter
for as long as it takes; a non-retryable one (the sink refuses the data) raises
:class:`WriteRejected` at once (sinks that already stored the batch keep it); setting
``stop`` while waiting raises :class:`IngestAborted`. Writers report failure only through
:class:`~thermogate.ingest.writer.WriteError`; any other exception is a bug and propagates.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from thermogate.ingest.points import ScreeningPoints
from thermogate.ingest.writer import TimeSeriesWriter, WriteError

log = logging.getLogger(__name__)


class IngestAborted(Exception):  # noqa: N818 - the name the gateway uses
    """Stop was requested while a batch was waiting for a retry; it is not fully stored."""


class WriteRejected(Exception):  # noqa: N818 - the name the gateway uses
    """A sink refused the batch for good (e.g. HTTP 400); retrying would not help."""

    def __init__(self, reason: str, *, sink: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.sink = sink


@dataclass(frozen=True, slots=True)
class IngestStats:
    """Counters since start: points stored and failures per sink, batches, retries."""

    points_stored: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    batches_stored: int = 0
    retries: int = 0
    rejected: int = 0
    aborted: int = 0


class Ingestor:
    """Writes batches to all sinks; see the module docstring for the guarantees."""

    def __init__(
        self,
        writers: Sequence[TimeSeriesWriter],
        retry_initial_s: float,
        retry_max_s: float,
        stop: threading.Event,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if not writers:
            raise ValueError("an Ingestor needs at least one writer")
        if retry_initial_s <= 0 or retry_max_s < retry_initial_s:
            raise ValueError("need 0 < retry_initial_s <= retry_max_s")
        names = [w.name for w in writers]
        if len(set(names)) != len(names):
            raise ValueError(f"writer names must be unique: {names}")
        self.writers = list(writers)
        self._initial = retry_initial_s
        self._max = retry_max_s
        self._stop = stop
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._points = dict.fromkeys(names, 0)
        self._failures = dict.fromkeys(names, 0)
        self._batches = 0
        self._retries = 0
        self._rejected = 0
        self._aborted = 0

    def store(self, points: ScreeningPoints) -> None:
        """Return once every writer has stored ``points``; see the class for the failures."""
        pending = list(self.writers)
        attempt = 0
        started = time.monotonic()
        while True:
            attempt += 1
            failed: list[tuple[TimeSeriesWriter, WriteError]] = []
            for writer in pending:
                try:
                    writer.write(points)
                except WriteError as exc:
                    self._count_failure(writer.name)
                    if not exc.retryable:
                        self._reject(writer.name, exc, len(points))
                    failed.append((writer, exc))
                else:
                    self._count_stored(writer.name, len(points))
            if not failed:
                break
            pending = [writer for writer, _ in failed]
            delay = self._delay(attempt)
            for writer, error in failed:
                log.warning(
                    "time-series write failed, retrying",
                    extra={
                        "sink": writer.name,
                        "attempt": attempt,
                        "delay_s": round(delay, 3),
                        "points": len(points),
                        "error": error.reason,
                    },
                )
            with self._lock:
                self._retries += 1
            if self._stop.wait(delay):
                with self._lock:
                    self._aborted += 1
                raise IngestAborted(
                    f"stop requested while {len(points)} points waited for "
                    f"{', '.join(w.name for w in pending)} (attempt {attempt})"
                )
        with self._lock:
            self._batches += 1
        if attempt > 1:
            log.info(
                "time-series write recovered",
                extra={
                    "attempts": attempt,
                    "points": len(points),
                    "waited_s": round(time.monotonic() - started, 3),
                },
            )

    @property
    def stats(self) -> IngestStats:
        """A snapshot of the counters (safe from any thread)."""
        with self._lock:
            return IngestStats(
                points_stored=dict(self._points),
                failures=dict(self._failures),
                batches_stored=self._batches,
                retries=self._retries,
                rejected=self._rejected,
                aborted=self._aborted,
            )

    def close(self) -> None:
        """Close every writer (errors are logged, not raised, so all get closed)."""
        for writer in self.writers:
            try:
                writer.close()
            except Exception:
                log.exception("closing a time-series writer failed", extra={"sink": writer.name})

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": between half and all of the step."""
        step = min(self._max, self._initial * 2.0 ** min(attempt - 1, 32))
        return step / 2 + self._rng.uniform(0, step / 2)

    def _reject(self, sink: str, exc: WriteError, n: int) -> NoReturn:
        with self._lock:
            self._rejected += 1
        log.error(
            "time-series write rejected",
            extra={"sink": sink, "points": n, "error": exc.reason},
        )
        raise WriteRejected(str(exc), sink=sink) from exc

    def _count_stored(self, sink: str, n: int) -> None:
        with self._lock:
            self._points[sink] += n

    def _count_failure(self, sink: str) -> None:
        with self._lock:
            self._failures[sink] += 1
