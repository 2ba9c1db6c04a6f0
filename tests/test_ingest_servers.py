"""Writers and the ingestor against real servers: InfluxDB 1.x (v1 API), VictoriaMetrics (the
v2 write API through influxdb-client) and the SQLite store. What is asserted is what a user
reads back from the database."""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from servers import InfluxDB1Server, VictoriaMetricsServer

from thermogate.config import (
    InfluxV1SinkSettings,
    InfluxV2SinkSettings,
    IngestSettings,
    SqliteSinkSettings,
)
from thermogate.ingest import (
    InfluxV1Writer,
    InfluxV2Writer,
    IngestAborted,
    Ingestor,
    ScreeningPoints,
    SqliteStore,
    TimeSeriesWriter,
    WriteError,
    WriteRejected,
    build_ingestor,
    build_writers,
    point_timestamp_ns,
)

pytestmark = pytest.mark.timeout(120)  # tests using server fixtures are marked `servers`

DB = "screening"
MEASUREMENT = "screening"


def tricky_points(n: int = 6, *, start_ms: int | None = None) -> ScreeningPoints:
    """A batch whose tags and strings need every kind of escaping; one millisecond per row."""
    start_ms = start_ms if start_ms is not None else int(time.time() * 1000) - 60_000
    buildings = ["文苑2号楼", "wing a, east=1", "plain"]
    entrances = ['north "gate"', "south door", "e"]
    rows = range(n)
    seq = np.arange(100, 100 + n, dtype=np.int64)
    return ScreeningPoints(
        ts_ns=point_timestamp_ns(start_ms + np.arange(n, dtype=np.int64), seq),
        building=[buildings[i % 3] for i in rows],
        entrance=[entrances[i % 3] for i in rows],
        device_id=[r"K\01" if i % 2 else "K-02" for i in rows],
        device_kind=["kiosk"] * n,
        site=["forehead"] * n,
        placement=["" if i == 0 else "door" for i in rows],  # empty: no tag at all
        seq=seq,
        temp_c=np.array([36.8, 0.1, 1e-7, 123456789.123, 37.3, 36.0][:n] + [36.5] * (n - 6)),
        adjusted_c=np.array([37.05] * n),
        ambient_c=np.array([math.nan if i % 2 else 21.5 for i in rows]),
        battery_pct=np.array([100.0 - i for i in rows]),
        lag_ms=np.array([0.1 * i for i in rows]),
        error=[None if i % 3 else "LO\nsecond line" for i in rows],
        decision=['say "hi" \\ back\\slash' if i == 1 else "pass" for i in rows],
        person_id=[None if i % 2 else f"p-{i}" for i in rows],
        reading_id=[f"K-02:{100 + i}" for i in rows],
        clock=["ahead" if i == 2 else None for i in rows],
    )


def expected_rows(points: ScreeningPoints) -> list[dict[str, Any]]:
    """What InfluxQL ``SELECT *`` must return for the batch (absent -> None)."""
    out = []
    for i in range(len(points)):
        row: dict[str, Any] = {"time": int(points.ts_ns[i])}
        for tag in ("building", "entrance", "device_id", "device_kind", "site", "placement"):
            row[tag] = getattr(points, tag)[i] or None
        row["seq"] = int(points.seq[i])
        for name in ("temp_c", "adjusted_c", "ambient_c", "battery_pct", "lag_ms"):
            value = float(getattr(points, name)[i])
            row[name] = value if math.isfinite(value) else None
        for name in ("error", "decision", "person_id", "reading_id", "clock"):
            text = getattr(points, name)[i]
            row[name] = None if text is None else text.replace("\n", " ")
        out.append(row)
    return out


def v1_writer(server: InfluxDB1Server, **kwargs: Any) -> InfluxV1Writer:
    kwargs.setdefault("database", DB)
    kwargs.setdefault("timeout_s", 2.0)
    return InfluxV1Writer(server.url, measurement=MEASUREMENT, **kwargs)


def v2_writer(url: str, **kwargs: Any) -> InfluxV2Writer:
    kwargs.setdefault("timeout_s", 2.0)
    return InfluxV2Writer(
        url, token="", org="thermogate", bucket=DB, measurement=MEASUREMENT, **kwargs
    )


def store_in_thread(
    ingestor: Ingestor, points: ScreeningPoints
) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            ingestor.store(points)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run, name="store", daemon=True)
    thread.start()
    return thread, errors


# --------------------------------------------------------------------------------------
# InfluxDB 1.x through /write
# --------------------------------------------------------------------------------------


def test_v1_round_trip_of_tricky_values(influxdb1: InfluxDB1Server) -> None:
    points = tricky_points()
    writer = v1_writer(influxdb1)
    try:
        writer.write(points)  # creates the database first
    finally:
        writer.close()
    assert DB in influxdb1.databases()
    assert influxdb1.select_all(DB, MEASUREMENT) == expected_rows(points)


def test_v1_same_batch_twice_is_stored_once(influxdb1: InfluxDB1Server) -> None:
    points = tricky_points(50)
    writer = v1_writer(influxdb1)
    writer.write(points)
    writer.write(points)
    writer.close()
    assert influxdb1.count(DB, MEASUREMENT, "seq") == 50


def test_v1_field_type_conflict_is_rejected_at_once(influxdb1: InfluxDB1Server) -> None:
    points = tricky_points()
    influxdb1.create_database(DB)
    # someone wrote seq as a float in the same shard (field types are per shard in 1.x)
    assert influxdb1.write(DB, b"screening seq=1.5 %d\n" % int(points.ts_ns[0] - 1)) == 204
    ingestor = Ingestor([v1_writer(influxdb1)], 5.0, 10.0, threading.Event())
    started = time.monotonic()
    with pytest.raises(WriteRejected, match="field type conflict") as caught:
        ingestor.store(points)
    assert time.monotonic() - started < 2.0  # no 5 s backoff: not retried
    assert caught.value.sink.startswith("influxdb-v1")
    assert ingestor.stats.rejected == 1


def test_v1_invalid_database_name_is_rejected(influxdb1: InfluxDB1Server) -> None:
    ingestor = Ingestor([v1_writer(influxdb1, database="a/b")], 5.0, 10.0, threading.Event())
    with pytest.raises(WriteRejected, match="invalid name"):
        ingestor.store(tricky_points())


def test_v1_recreates_a_dropped_database(influxdb1: InfluxDB1Server) -> None:
    ingestor = Ingestor([v1_writer(influxdb1)], 0.05, 0.2, threading.Event())
    ingestor.store(tricky_points(3))
    influxdb1.query(f'DROP DATABASE "{DB}"')
    later = tricky_points(4, start_ms=int(time.time() * 1000))
    ingestor.store(later)
    assert influxdb1.count(DB, MEASUREMENT, "seq") == 4


@pytest.mark.servers
def test_v1_basic_auth_with_a_write_only_user(tmp_path: Path) -> None:
    server = InfluxDB1Server(tmp_path / "influx-auth", auth=("admin", "admin-secret")).start()
    try:
        server.create_admin()
        server.create_database(DB)
        server.query("CREATE USER \"gateway\" WITH PASSWORD 'gw-secret'")
        server.query(f'GRANT WRITE ON "{DB}" TO "gateway"')
        # may write but not CREATE DATABASE (403): the writer assumes the database exists
        writer = v1_writer(server, username="gateway", password="gw-secret")
        Ingestor([writer], 5.0, 10.0, threading.Event()).store(tricky_points(5))
        assert server.count(DB, MEASUREMENT, "seq") == 5
        # a wrong password is a configuration error: rejected at once, not retried
        wrong = v1_writer(server, username="gateway", password="wrong")
        with pytest.raises(WriteRejected, match="HTTP 401"):
            Ingestor([wrong], 5.0, 10.0, threading.Event()).store(tricky_points(5))
        # a database that does not exist and may not be created: rejected, not retried forever
        other = v1_writer(server, database="other", username="gateway", password="gw-secret")
        with pytest.raises(WriteRejected, match="database not found"):
            Ingestor([other], 5.0, 10.0, threading.Event()).store(tricky_points(5))
    finally:
        server.stop()


def test_v1_write_error_when_server_is_down_is_retryable(influxdb1: InfluxDB1Server) -> None:
    influxdb1.stop()
    writer = v1_writer(influxdb1)
    with pytest.raises(WriteError) as caught:
        writer.write(tricky_points())
    assert caught.value.retryable
    assert "cannot reach the server" in str(caught.value)


def test_ingestor_retries_until_influxdb_is_back(
    influxdb1: InfluxDB1Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="thermogate.ingest")
    points = tricky_points(20)
    influxdb1.stop()
    ingestor = Ingestor([v1_writer(influxdb1)], 0.1, 0.5, threading.Event())
    thread, errors = store_in_thread(ingestor, points)
    time.sleep(2.0)
    assert thread.is_alive(), "store returned while the database was down"
    influxdb1.start()
    thread.join(30)
    assert not thread.is_alive()
    assert errors == []
    assert influxdb1.count(DB, MEASUREMENT, "seq") == 20
    ingestor.store(points)  # a redelivery
    assert influxdb1.count(DB, MEASUREMENT, "seq") == 20
    retries = [r for r in caplog.records if r.getMessage() == "time-series write failed, retrying"]
    assert retries, "no retry warning logged"
    first: Any = retries[0]
    assert first.sink == ingestor.writers[0].name
    assert first.attempt == 1
    assert 0.05 <= first.delay_s <= 0.1
    assert ingestor.stats.points_stored[ingestor.writers[0].name] == 40


# --------------------------------------------------------------------------------------
# VictoriaMetrics through the v2 write API (influxdb-client)
# --------------------------------------------------------------------------------------


def test_v2_to_victoria_metrics_round_trip(victoria_metrics: VictoriaMetricsServer) -> None:
    points = tricky_points(6)
    writer = v2_writer(victoria_metrics.url)
    writer.write(points)
    writer.close()
    assert victoria_metrics.wait_for_count("screening_seq", 6) == 6
    assert victoria_metrics.label_values("screening_seq", "building") == set(points.building)
    assert victoria_metrics.label_values("screening_seq", "entrance") == set(points.entrance)
    assert victoria_metrics.label_values("screening_seq", "device_id") == {r"K\01", "K-02"}
    samples = victoria_metrics.samples("screening_temp_c")
    assert [value for _, _, value in samples] == [float(t) for t in points.temp_c]
    assert [ts for _, ts, _ in samples] == [int(t) // 1_000_000 for t in points.ts_ns]
    # the row with an empty placement has no placement label at all
    first = min(victoria_metrics.samples("screening_seq"), key=lambda s: s[1])[0]
    assert "placement" not in first
    assert victoria_metrics.count_samples("screening_ambient_c") == 3  # NaN omitted


def test_v2_same_batch_twice_is_stored_once(victoria_metrics: VictoriaMetricsServer) -> None:
    points = tricky_points(200)
    writer = v2_writer(victoria_metrics.url)
    writer.write(points)
    writer.write(points)
    writer.close()
    assert victoria_metrics.wait_for_count("screening_seq", 200) == 200


def test_v2_to_a_server_without_that_api_is_rejected(influxdb1: InfluxDB1Server) -> None:
    # InfluxDB 1.6 has no /api/v2/write: a configuration error, not an outage.
    ingestor = Ingestor([v2_writer(influxdb1.url)], 5.0, 10.0, threading.Event())
    started = time.monotonic()
    with pytest.raises(WriteRejected, match="HTTP 404"):
        ingestor.store(tricky_points())
    assert time.monotonic() - started < 2.0


def test_v2_timeout_is_retried(victoria_metrics: VictoriaMetricsServer) -> None:
    points = tricky_points(10)
    ingestor = Ingestor(
        [v2_writer(victoria_metrics.url, timeout_s=0.5)], 0.1, 0.3, threading.Event()
    )
    victoria_metrics.pause()  # accepts connections, answers nothing
    thread, errors = store_in_thread(ingestor, points)
    time.sleep(2.0)
    assert thread.is_alive()
    victoria_metrics.resume()
    thread.join(30)
    assert errors == []
    name = ingestor.writers[0].name
    assert ingestor.stats.failures[name] >= 1
    # the timed-out requests may still have landed: each point is there once anyway
    assert victoria_metrics.wait_for_count("screening_seq", 10) == 10


# --------------------------------------------------------------------------------------
# The ingestor over several sinks
# --------------------------------------------------------------------------------------


def test_store_waits_for_every_sink_and_retries_only_the_failed_one(
    influxdb1: InfluxDB1Server, victoria_metrics: VictoriaMetricsServer, tmp_path: Path
) -> None:
    points = tricky_points(30)
    sqlite = SqliteStore(tmp_path / "screening.sqlite3")
    v1, v2 = v1_writer(influxdb1), v2_writer(victoria_metrics.url)
    ingestor = Ingestor([v1, v2, sqlite], 0.1, 0.5, threading.Event())
    victoria_metrics.stop()
    thread, errors = store_in_thread(ingestor, points)
    time.sleep(2.0)
    assert thread.is_alive(), "store returned before VictoriaMetrics had the batch"
    assert influxdb1.count(DB, MEASUREMENT, "seq") == 30  # the others already have it
    assert sqlite.count() == 30
    victoria_metrics.start()
    thread.join(30)
    assert errors == []
    assert victoria_metrics.wait_for_count("screening_seq", 30) == 30
    stats = ingestor.stats
    assert stats.failures[v1.name] == 0 and stats.failures[sqlite.name] == 0
    assert stats.failures[v2.name] >= 1
    assert stats.points_stored == {v1.name: 30, v2.name: 30, sqlite.name: 30}
    assert stats.batches_stored == 1
    ingestor.close()


def test_stop_aborts_a_store_that_waits(victoria_metrics: VictoriaMetricsServer) -> None:
    stop = threading.Event()
    ingestor = Ingestor([v2_writer(victoria_metrics.url)], 0.2, 1.0, stop)
    victoria_metrics.stop()
    thread, errors = store_in_thread(ingestor, tricky_points())
    time.sleep(0.5)
    started = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2.0
    assert len(errors) == 1 and isinstance(errors[0], IngestAborted)
    assert ingestor.stats.aborted == 1


def test_settings_build_all_three_sinks(
    influxdb1: InfluxDB1Server, victoria_metrics: VictoriaMetricsServer, tmp_path: Path
) -> None:
    settings = IngestSettings(
        sinks=[
            InfluxV1SinkSettings(kind="influxdb-v1", url=influxdb1.url, database="from_settings"),
            InfluxV2SinkSettings(kind="influxdb-v2", url=victoria_metrics.url),
            SqliteSinkSettings(kind="sqlite", path=tmp_path / "demo.sqlite3"),
        ],
        retry_initial_s=0.1,
        retry_max_s=0.5,
    )
    writers: list[TimeSeriesWriter] = build_writers(settings)
    assert [type(w) for w in writers] == [InfluxV1Writer, InfluxV2Writer, SqliteStore]
    for writer in writers:
        writer.close()
    ingestor = build_ingestor(settings, threading.Event())
    ingestor.store(tricky_points(12))
    assert influxdb1.count("from_settings", "screening", "seq") == 12
    assert victoria_metrics.wait_for_count("screening_seq", 12) == 12
    sqlite = ingestor.writers[2]
    assert isinstance(sqlite, SqliteStore)
    assert sqlite.count() == 12
    ingestor.close()


# --------------------------------------------------------------------------------------
# The SQLite store
# --------------------------------------------------------------------------------------


def test_sqlite_store_is_idempotent_and_durable(tmp_path: Path) -> None:
    path = tmp_path / "var" / "screening.sqlite3"
    store = SqliteStore(path)
    points = tricky_points(9)
    store.write(points)
    store.write(points)
    assert store.count() == 9
    assert store.counts_by_entrance() == {
        ("文苑2号楼", 'north "gate"'): 3,
        ("wing a, east=1", "south door"): 3,
        ("plain", "e"): 3,
    }
    store.close()
    reopened = SqliteStore(path)
    assert reopened.count() == 9
    reopened.close()


def test_sqlite_store_keeps_values_and_absence(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path)
    points = tricky_points(2)
    store.write(points)
    store.close()
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT ts_ns, seq, temp_c, ambient_c, error, decision, person_id, placement "
            "FROM readings ORDER BY ts_ns"
        ).fetchall()
    assert rows == [
        (int(points.ts_ns[0]), 100, 36.8, 21.5, "LO\nsecond line", "pass", "p-0", ""),
        (int(points.ts_ns[1]), 101, 0.1, None, None, 'say "hi" \\ back\\slash', None, "door"),
    ]


def test_sqlite_store_reads_while_another_thread_writes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    done = threading.Event()
    seen: list[int] = []

    def read() -> None:
        while not done.is_set():
            seen.append(store.count())
            store.counts_by_entrance()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    base = int(time.time() * 1000)
    for batch in range(20):
        points = tricky_points(50, start_ms=base + batch * 50)
        ids = [f"b{batch}-{i}" for i in range(50)]
        store.write(ScreeningPoints(**{**_fields(points), "reading_id": ids}))
    done.set()
    reader.join(5)
    assert store.count() == 1000
    assert seen == sorted(seen)  # the reader only ever saw whole batches, growing
    assert all(n % 50 == 0 for n in seen)
    store.close()


def _fields(points: ScreeningPoints) -> dict[str, Any]:
    return {name: getattr(points, name) for name in ScreeningPoints.__dataclass_fields__}
