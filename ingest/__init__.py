"""Storage of screening readings in time-series databases (InfluxDB v1/v2 API, VictoriaMetrics,
and an embedded SQLite store for the demo).

The gateway builds an :class:`Ingestor` (:func:`build_ingestor`) and calls
:meth:`Ingestor.store` with each :class:`ScreeningPoints` batch; it returns once every sink
has stored the batch.
"""

from thermogate.ingest.factory import build_ingestor, build_writers
from thermogate.ingest.influx_v1 import InfluxV1Writer
from thermogate.ingest.influx_v2 import InfluxV2Writer
from thermogate.ingest.ingestor import IngestAborted, Ingestor, IngestStats, WriteRejected
from thermogate.ingest.line_protocol import encode_points
from thermogate.ingest.points import TAG_COLUMNS, ScreeningPoints, point_timestamp_ns
from thermogate.ingest.sqlite_store import SqliteStore
from thermogate.ingest.writer import TimeSeriesWriter, WriteError

__all__ = [
    "TAG_COLUMNS",
    "InfluxV1Writer",
    "InfluxV2Writer",
    "IngestAborted",
    "IngestStats",
    "Ingestor",
    "ScreeningPoints",
    "SqliteStore",
    "TimeSeriesWriter",
    "WriteError",
    "WriteRejected",
    "build_ingestor",
    "build_writers",
    "encode_points",
    "point_timestamp_ns",
]
