"""Edge backlogs as a metric: the figures of each edge's retained status, written to the
time-series databases as the measurement ``thermogate_edge`` so the duty desk can chart them
and alert on them (the gateway's own figures are in :mod:`thermogate.gateway.own_metrics`).

Metrics are not health records: the newest figures per edge are kept in memory and written
every ``interval_s``; when a database is down they wait for the next round, and only the
newest survive.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Final

import orjson
from pydantic import ValidationError

from thermogate.contract import Status
from thermogate.gateway.own_metrics import EdgeBacklog
from thermogate.ingest.metric_lines import metric_line
from thermogate.ingest.writer import TimeSeriesWriter, WriteError

log = logging.getLogger(__name__)

MEASUREMENT: Final = "thermogate_edge"
FLUSH_INTERVAL_S: Final = 10.0


class EdgeMetrics:
    """Collects edge statuses (any thread) and writes them (its own thread)."""

    def __init__(
        self,
        writers: Sequence[TimeSeriesWriter],
        buildings: dict[str, str],
        interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self._writers = list(writers)
        self._buildings = buildings
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._latest: dict[str, bytes] = {}
        self._backlogs: dict[str, EdgeBacklog] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-edge-metrics", daemon=True)
        self.written = 0

    def on_edge_status(self, payload: bytes) -> None:
        """An edge status arrived: keep its figures (cheap; never raises)."""
        try:
            status = Status.model_validate(orjson.loads(payload))
        except (orjson.JSONDecodeError, ValidationError):
            return  # the liveness monitor logs unreadable statuses
        if status.buffer_pending is None or status.buffer_capacity is None:
            return  # a birth, will or stopped status: no figures
        fields: dict[str, int | float] = {
            "buffer_pending": status.buffer_pending,
            "buffer_capacity": status.buffer_capacity,
            "buffer_fill": status.buffer_pending / status.buffer_capacity,
            "buffer_dropped": status.buffer_dropped or 0,
            "clock_jumps": status.clock_jumps or 0,
        }
        tags = {"edge_id": status.id, "building": self._buildings.get(status.id, "")}
        line = metric_line(MEASUREMENT, tags, fields, int(status.ts.timestamp() * 1e9))
        backlog = EdgeBacklog(tags["building"], status.buffer_pending, status.buffer_capacity)
        with self._lock:
            self._latest[status.id] = line
            self._backlogs[status.id] = backlog

    def backlogs(self) -> dict[str, EdgeBacklog]:
        """The newest backlog figures of every edge heard (kept across writes, for /metrics)."""
        with self._lock:
            return dict(self._backlogs)

    def start(self) -> None:
        """Start writing every ``interval_s``."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is pending once more, then stop."""
        self._stop.set()
        self._thread.join(timeout)

    def flush(self) -> int:
        """Write the newest figures of every edge heard since the last flush."""
        with self._lock:
            pending, self._latest = self._latest, {}
        if not pending:
            return 0
        body = b"\n".join(pending.values()) + b"\n"
        for writer in self._writers:
            try:
                writer.write_lines(body)
            except WriteError as exc:
                log.warning(
                    "edge metrics not written", extra={"sink": writer.name, "reason": exc.reason}
                )
                with self._lock:
                    for edge_id, line in pending.items():
                        self._latest.setdefault(edge_id, line)
                return 0
        self.written += len(pending)
        return len(pending)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.flush()
        self.flush()
