"""Fault injection with real processes: break one part while readings flow, then check that
every reading produced is stored exactly once and every fever alerted exactly once.

Each test prints one ``FAULT ...`` line with its figures (run with ``-s`` to see them; they
are quoted in docs/reliability.md).
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from fault_rig import EDGE_ID, FaultRig, assert_exactly_once

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def rig(tmp_path):
    rig = FaultRig(tmp_path)
    try:
        rig.start()
        yield rig
    finally:
        rig.close()


def _edge_sequence(rig: FaultRig) -> int:
    """The last sequence number the edge committed for the handheld (read-only look)."""
    path = rig.tmp / "edge" / EDGE_ID / "buffer.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        row = db.execute("SELECT last FROM sequence WHERE device_id = 'hh-w2-main-1'").fetchone()
    return 0 if row is None else int(row[0])


def test_edge_killed_mid_stream(rig):
    producer = rig.producer(count=240, rate_per_s=20)
    rig.wait_for(lambda: len(producer.produced) >= 80, 30, "no readings produced")
    # Kill between two frames, with readings committed to the buffer and some in flight.
    producer.resume.clear()
    rig.wait_for(lambda: _edge_sequence(rig) == len(producer.produced), 10, "edge lagging")
    rig.edge.kill()
    killed_at = len(producer.produced)
    producer.resume.set()  # the stream goes on into the serial port while the edge is dead
    time.sleep(3)
    assert len(producer.produced) > killed_at + 20
    rig.edge.start()
    figures = rig.settle(producer, 90)
    print(figures.line("edge kill -9"))
    assert_exactly_once(figures)


def test_broker_stopped_for_10_s(rig):
    producer = rig.producer(count=400, rate_per_s=20)
    rig.wait_for(lambda: len(producer.produced) >= 60, 30, "no readings produced")
    rig.broker.stop()
    down_at = len(producer.produced)
    time.sleep(10)
    backlog = len(producer.produced) - down_at
    rig.broker.restart()
    restarted = time.monotonic()
    rig.wait_for(lambda: rig.stored_count() >= down_at + backlog, 60, "backlog not replayed")
    drain_s = time.monotonic() - restarted
    figures = rig.settle(producer, 90)
    figures.extra["backlog readings"] = backlog
    figures.extra["backlog stored within s"] = round(drain_s, 1)
    print(figures.line("broker down 10 s"))
    assert_exactly_once(figures)


def test_time_series_database_stopped_for_10_s(rig):
    producer = rig.producer(count=400, rate_per_s=20)
    rig.wait_for(lambda: rig.stored_count() >= 40, 30, "nothing stored")
    rig.influx.stop()
    time.sleep(10)
    rig.influx.restart()
    figures = rig.settle(producer, 90)
    print(figures.line("InfluxDB down 10 s"))
    assert_exactly_once(figures)


def test_gateway_killed_mid_batch(rig):
    producer = rig.producer(count=400, rate_per_s=40)
    rig.wait_for(lambda: rig.stored_count() >= 100, 30, "nothing stored")
    rig.gateway.kill()
    time.sleep(3)
    rig.gateway.start()
    figures = rig.settle(producer, 90)
    print(figures.line("gateway kill -9"))
    assert_exactly_once(figures)


def test_network_cut_between_edge_and_broker_for_30_s(tmp_path):
    rig = FaultRig(tmp_path, edge_via_proxy=True)
    try:
        rig.start()
        assert rig.proxy is not None
        producer = rig.producer(count=900, rate_per_s=20)
        rig.wait_for(lambda: rig.stored_count() >= 40, 30, "nothing stored")
        rig.proxy.cut()
        cut_at = len(producer.produced)
        rig.wait_for(
            lambda: rig.broker_has_status(f"thermogate/v1/status/edge/{EDGE_ID}", "offline"),
            30,
            "the broker never published the edge's will",
        )
        time.sleep(30)
        backlog = len(producer.produced) - cut_at
        rig.proxy.restore()
        restored = time.monotonic()
        rig.wait_for(lambda: rig.stored_count() >= cut_at + backlog, 60, "backlog not replayed")
        figures = rig.settle(producer, 90)
        figures.extra["backlog readings"] = backlog
        figures.extra["backlog stored within s"] = round(time.monotonic() - restored, 1)
        print(figures.line("network cut 30 s"))
        assert_exactly_once(figures)
        # The duty staff heard of it: the edge's devices went offline and came back.
        assert sorted(rig.liveness_alerts()) == sorted(["device_offline", "device_back"] * 2)
    finally:
        rig.close()
