"""The gateway's own metrics: served at ``/metrics`` (Prometheus text format) and written to
the time-series databases as the measurement ``thermogate_gateway``.

Both read the same live figures at the moment they are asked (a scrape, or a write every
``gateway.metrics_interval_s``), so there is one set of counters and nothing to keep in step.
Like edge backlogs these are metrics, not health records: a write that fails is dropped and
the next one carries the newer figures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_wsgi_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from thermogate.ingest.metric_lines import metric_line
from thermogate.ingest.writer import TimeSeriesWriter, WriteError

log = logging.getLogger(__name__)

MEASUREMENT: Final = "thermogate_gateway"
COUNTERS: Final = {
    "messages": "MQTT messages taken from the broker",
    "readings_in": "readings received (stored or refused)",
    "stored": "readings stored in every sink",
    "dead_letters": "messages and readings refused to the dead-letter topic",
    "alerts": "alerts raised",
    "batches": "batches processed",
}
"""Cumulative counters: field (and Prometheus ``thermogate_gateway_<name>_total``) -> meaning."""
GAUGES: Final = {
    "batch_readings": "readings in the latest batch",
    "lag_ms_max": "age of the oldest reading of the latest batch on arrival, ms",
    "in_flight": "messages received and not yet acknowledged (queued or being stored)",
    "queue_depth": "messages waiting in the intake queue",
    "devices_offline": "registered devices not heard for longer than device_silence_s",
}
"""Gauges: field -> meaning."""
FIELDS: Final = (*COUNTERS, *GAUGES)


@dataclass(frozen=True, slots=True)
class EdgeBacklog:
    """The latest backlog figures of one edge."""

    building: str
    pending: int
    capacity: int


@dataclass(frozen=True, slots=True)
class GatewayFigures:
    """One reading of every figure, taken at once."""

    counters: Mapping[str, int]
    gauges: Mapping[str, int | float]
    edges: Mapping[str, EdgeBacklog] = field(default_factory=dict)


class GatewayMetrics(Collector):
    """Exposes :class:`GatewayFigures` to Prometheus and writes them to the sinks."""

    def __init__(
        self,
        gateway_id: str,
        figures: Callable[[], GatewayFigures],
        writers: Sequence[TimeSeriesWriter],
        interval_s: float,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._gateway_id = gateway_id
        self._figures = figures
        self._writers = list(writers)
        self._interval_s = interval_s
        self._now_ns = now_ns
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._server: WSGIServer | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-metrics", daemon=True)
        self.written = 0

    def collect(self) -> Iterator[Metric]:
        """Prometheus: the figures as they are now."""
        figures = self._figures()
        labels = [self._gateway_id]
        for name, documentation in COUNTERS.items():
            counter = CounterMetricFamily(
                f"thermogate_gateway_{name}", documentation.capitalize(), labels=["gateway_id"]
            )
            counter.add_metric(labels, figures.counters[name])
            yield counter
        for name, documentation in GAUGES.items():
            if name == "lag_ms_max":
                gauge = GaugeMetricFamily(
                    "thermogate_gateway_lag_seconds",
                    "Age of the oldest reading of the latest batch on arrival",
                    labels=["gateway_id"],
                    unit="",
                )
                gauge.add_metric(labels, figures.gauges[name] / 1000)
            else:
                gauge = GaugeMetricFamily(
                    f"thermogate_gateway_{name}", documentation.capitalize(), labels=["gateway_id"]
                )
                gauge.add_metric(labels, figures.gauges[name])
            yield gauge
        pending = GaugeMetricFamily(
            "thermogate_edge_buffer_pending",
            "Readings waiting in an edge's disk buffer (from its latest status)",
            labels=["gateway_id", "edge_id", "building"],
        )
        fill = GaugeMetricFamily(
            "thermogate_edge_buffer_fill_ratio",
            "Share of an edge's disk buffer in use (0-1)",
            labels=["gateway_id", "edge_id", "building"],
        )
        for edge_id, backlog in sorted(figures.edges.items()):
            edge_labels = [self._gateway_id, edge_id, backlog.building]
            pending.add_metric(edge_labels, backlog.pending)
            fill.add_metric(edge_labels, backlog.pending / backlog.capacity)
        yield pending
        yield fill

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` (0: any free port); the port bound."""
        self._server, _thread = start_wsgi_server(port, host, self.registry)
        bound = int(self._server.server_address[1])
        log.info("metrics served", extra={"host": host, "port": bound, "path": "/metrics"})
        return bound

    def start(self) -> None:
        """Write the figures every ``interval_s`` from now on."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write once more, stop writing and serving."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def line(self, at_ns: int | None = None) -> bytes:
        """The figures as one line of ``thermogate_gateway`` (timestamped now or ``at_ns``)."""
        figures = self._figures()
        fields: dict[str, int | float] = {**figures.counters, **figures.gauges}
        ts = self._now_ns() if at_ns is None else at_ns
        return metric_line(MEASUREMENT, {"gateway_id": self._gateway_id}, fields, ts)

    def flush(self, at_ns: int | None = None) -> bool:
        """Write the figures to every sink; False when one of them failed."""
        body = self.line(at_ns) + b"\n"
        for writer in self._writers:
            try:
                writer.write_lines(body)
            except WriteError as exc:
                log.warning(
                    "gateway metrics not written", extra={"sink": writer.name, "reason": exc.reason}
                )
                return False
        self.written += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.flush()
        self.flush()
