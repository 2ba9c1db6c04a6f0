"""Writers and the ingestor from the ``[ingest]`` settings."""

from __future__ import annotations

import threading

from thermogate.config import (
    InfluxV1SinkSettings,
    InfluxV2SinkSettings,
    IngestSettings,
    SqliteSinkSettings,
)
from thermogate.ingest.influx_v1 import InfluxV1Writer
from thermogate.ingest.influx_v2 import InfluxV2Writer
from thermogate.ingest.ingestor import Ingestor
from thermogate.ingest.sqlite_store import SqliteStore
from thermogate.ingest.writer import TimeSeriesWriter


def build_writers(settings: IngestSettings) -> list[TimeSeriesWriter]:
    """One writer per configured sink, in configuration order, with unique names."""
    writers: list[TimeSeriesWriter] = []
    for sink in settings.sinks:
        writers.append(_build(sink, settings))
    seen: dict[str, int] = {}
    for index, writer in enumerate(writers):
        count = seen[writer.name] = seen.get(writer.name, 0) + 1
        if count > 1:  # the same sink twice: keep counters apart
            writer.name = f"{writer.name} #{index + 1}"
    return writers


def build_ingestor(settings: IngestSettings, stop: threading.Event) -> Ingestor:
    """An :class:`Ingestor` over :func:`build_writers` with the configured backoff."""
    return Ingestor(
        build_writers(settings),
        retry_initial_s=settings.retry_initial_s,
        retry_max_s=max(settings.retry_max_s, settings.retry_initial_s),
        stop=stop,
    )


def _build(
    sink: InfluxV2SinkSettings | InfluxV1SinkSettings | SqliteSinkSettings,
    settings: IngestSettings,
) -> TimeSeriesWriter:
    match sink:
        case InfluxV2SinkSettings():
            return InfluxV2Writer(
                sink.url,
                token=sink.token.get_secret_value(),
                org=sink.org,
                bucket=sink.bucket,
                measurement=settings.measurement,
                timeout_s=settings.timeout_s,
            )
        case InfluxV1SinkSettings():
            return InfluxV1Writer(
                sink.url,
                database=sink.database,
                username=sink.username,
                password=sink.password.get_secret_value() if sink.password else None,
                measurement=settings.measurement,
                timeout_s=settings.timeout_s,
            )
        case SqliteSinkSettings():
            return SqliteStore(sink.path, timeout_s=settings.timeout_s)
