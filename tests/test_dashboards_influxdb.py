"""Every InfluxQL panel against real data: a real gateway takes simulated readings, edge
statuses and bad messages from a real Mosquitto and writes readings, edge backlogs and its
own metrics to a real InfluxDB 1.x; each panel's query, with the variables, ``$timeFilter`` and
``$__interval`` substituted as Grafana does, must return the series the panel draws. The same
gateway's ``/metrics`` is scraped over HTTP.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from grafana_queries import PanelTarget, influxql, targets
from mqtt_probe import MqttProbe
from prometheus_client.parser import text_string_to_metric_families
from servers import InfluxDB1Server, MosquittoServer

from thermogate.config import Settings
from thermogate.contract import (
    ComponentKind,
    DeviceKind,
    ErrorCode,
    Placement,
    Reading,
    Site,
    Status,
    StatusState,
    encode,
)
from thermogate.contract.topics import readings_topic, status_topic
from thermogate.dashboards.catalog import dashboards
from thermogate.demo.site import demo_document
from thermogate.gateway.service import Gateway

pytestmark = pytest.mark.servers

DB = "screening"
STEPS = 6
"""Ten-minute windows of simulated traffic over the last hour."""
STEP = dt.timedelta(minutes=10)
PER_DEVICE = 4
"""Readings per thermometer per window."""
BACKLOG_CAPACITY = 1000


@dataclass
class Loaded:
    """What was sent, and where to ask."""

    influx: InfluxDB1Server
    start_ms: int
    end_ms: int
    sent: int
    bad: int
    backlog: dict[str, int]
    metrics_text: str
    stored: int
    variables: dict[str, list[str]]


def _thermometers(settings: Settings) -> list[Any]:
    return [d for d in settings.devices if d.kind in ("handheld", "kiosk")]


def _reading(device: Any, seq: int, at: dt.datetime, temp: float | None, person: int) -> Reading:
    kiosk = device.kind == "kiosk"
    return Reading(
        device_id=device.id,
        seq=seq,
        ts=at,
        temp_c=temp,
        error=ErrorCode.LO if temp is None else None,
        site=Site.CANTHUS if kiosk else Site.FOREHEAD,
        device_kind=DeviceKind.KIOSK if kiosk else DeviceKind.HANDHELD,
        placement=Placement.LOBBY if kiosk else Placement.DOOR,
        building=device.building,
        entrance=device.entrance,
        person_id=f"p-{person:016x}",
        battery_pct=None if kiosk else 90 - seq // 4,
        ambient_c=21.0 if kiosk else None,
    )


def _temperature(step: int, index: int, device_number: int) -> float | None:
    """Mostly normal residents; an error code, a suspicious and a very high reading."""
    if (step, index, device_number) == (1, 2, 0):
        return None  # the handheld showed LO
    if (step, index) == (2, 1):
        return 37.9  # suspicious: asks for a re-check
    if (step, index, device_number) == (3, 3, 1):
        return 40.2  # very high: a fever at once
    return 36.2 + ((step * 7 + index * 3 + device_number) % 9) / 10


def _edge_status(edge_id: str, at: dt.datetime, pending: int) -> bytes:
    return encode(
        Status(
            component=ComponentKind.EDGE,
            id=edge_id,
            state=StatusState.ONLINE,
            ts=at,
            buffer_pending=pending,
            buffer_capacity=BACKLOG_CAPACITY,
            buffer_dropped=0,
            clock_jumps=0,
        )
    )


def _load(tmp: Path) -> Iterator[Loaded]:
    mosquitto = MosquittoServer(tmp / "mosquitto")
    influx = InfluxDB1Server(tmp / "influxdb1")
    mosquitto.start()
    influx.start()
    document = demo_document(tmp, tmp / "dev")
    document["mqtt"] = mosquitto.mqtt_settings().model_dump()
    document["gateway"] = {
        "batch_wait_ms": 20,
        "state_dir": str(tmp / "gateway"),
        "metrics_port": 0,  # any free port
        "metrics_interval_s": 3600,  # written below at the simulated times instead
    }
    document["ingest"] = {
        "sinks": [{"kind": "influxdb-v1", "url": influx.url, "database": DB}],
        "retry_initial_s": 0.2,
        "retry_max_s": 1.0,
    }
    settings = Settings.model_validate(document)
    gateway = Gateway(settings)
    probe = MqttProbe(settings.mqtt, "thermogate/v1/deadletter/+")
    try:
        gateway.start()
        assert gateway.wait_connected(10)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        start = now - STEPS * STEP
        devices = _thermometers(settings)
        seq = dict.fromkeys((d.id for d in devices), 0)
        sent = bad = 0
        backlog: dict[str, int] = {}
        for step in range(STEPS):
            window = start + step * STEP
            for number, device in enumerate(devices):
                for index in range(PER_DEVICE):
                    seq[device.id] += 1
                    at = window + dt.timedelta(seconds=30 * index + number)
                    reading = _reading(
                        device, seq[device.id], at, _temperature(step, index, number), sent
                    )
                    topic = readings_topic(device.building, device.entrance, device.id)
                    probe.publish(topic, encode(reading))
                    sent += 1
            if step in (2, 4):  # a broken message: refused to the dead-letter topic
                topic = readings_topic(devices[0].building, devices[0].entrance, devices[0].id)
                probe.publish(topic, b'{"v":1,"device_id":')
                bad += 1
            expected = sent + bad

            def taken(n: int = expected) -> bool:
                return gateway.stats.readings_in >= n

            assert probe.wait_until(taken, 30), gateway.stats
            for number, edge in enumerate(settings.edges):
                backlog[edge.id] = step * 40 + number * 5
                probe.publish(
                    status_topic(ComponentKind.EDGE, edge.id),
                    _edge_status(edge.id, window + STEP / 2, backlog[edge.id]),
                    qos=0,
                )
            assert probe.wait_until(
                lambda: (
                    {e: b.pending for e, b in gateway.edge_metrics.backlogs().items()} == backlog
                )
            )
            assert gateway.edge_metrics.flush() == len(settings.edges)
            assert gateway.metrics.flush(at_ns=int((window + STEP).timestamp() * 1e9))
        assert probe.wait_until(lambda: len(probe.messages("thermogate/v1/deadletter/")) >= bad)

        assert gateway.metrics_port is not None
        url = f"http://127.0.0.1:{gateway.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            metrics_text = response.read().decode()
        yield Loaded(
            influx=influx,
            start_ms=int(start.timestamp() * 1000) - 60_000,
            end_ms=int(now.timestamp() * 1000) + 60_000,
            sent=sent,
            bad=bad,
            backlog=backlog,
            metrics_text=metrics_text,
            stored=gateway.stats.stored,
            variables={},
        )
    finally:
        probe.close()
        gateway.stop()
        influx.stop()
        mosquitto.stop()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    yield from _load(tmp_path_factory.mktemp("dashboards"))


def _series(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert all("error" not in r for r in body.get("results", [])), body
    return [s for r in body.get("results", []) for s in r.get("series", [])]


def _values(body: dict[str, Any], column: str | None = None) -> list[Any]:
    out = []
    for series in _series(body):
        for row in series["values"]:
            if column is None:
                out += row[1:]
            else:
                out.append(row[series["columns"].index(column)])
    return out


def _ask(loaded: Loaded, query: str, **chosen: list[str]) -> dict[str, Any]:
    variables = {**loaded.variables, **chosen}
    return loaded.influx.query(influxql(query, variables, loaded.start_ms, loaded.end_ms), DB)


def _expected_columns(query: str) -> list[str]:
    """The columns a SELECT returns: aliases, function names, or field names."""
    select = re.match(r"SELECT (.*?) FROM ", query)
    assert select is not None
    columns = []
    for part in re.split(r",\s*(?![^()]*\))", select[1]):
        alias = re.search(r'\bAS "?(\w+)"?$', part.strip())
        function = re.match(r"(\w+)\(", part.strip())
        field = re.fullmatch(r'"(\w+)"', part.strip())
        columns.append(
            alias[1] if alias else function[1] if function else field[1] if field else part
        )
    return ["time", *columns]


def _group_tags(query: str) -> set[str]:
    group = re.search(r"GROUP BY (.*?)(?: fill\(.*\))?$", query)
    return set(re.findall(r'"(\w+)"', group[1])) if group else set()


@pytest.fixture(scope="module")
def offered(loaded: Loaded) -> dict[str, list[str]]:
    """The variables' values, each asked with the ones before it set to All (as Grafana does)."""
    values: dict[str, list[str]] = {}
    for variable in dashboards()[0].variables:
        body = _ask(loaded, variable.query, **values)
        values[variable.name] = sorted(row[1] for s in _series(body) for row in s["values"])
    loaded.variables = values
    return values


INFLUX_TARGETS = [t for t in targets() if not t.is_sql]


def test_variables_offer_what_the_gateway_stored(loaded: Loaded, offered: dict) -> None:
    assert offered == {
        "building": ["wenyuan-2", "wenyuan-3"],
        "entrance": ["main"],
        "device": ["hh-w2-main-1", "hh-w3-main-1", "ks-w2-lobby-1", "ks-w3-lobby-1"],
    }
    one = _ask(loaded, dashboards()[0].variables[2].query, building=["wenyuan-3"])
    assert sorted(r[1] for s in _series(one) for r in s["values"]) == [
        "hh-w3-main-1",
        "ks-w3-lobby-1",
    ]


@pytest.mark.parametrize("target", INFLUX_TARGETS, ids=[t.where for t in INFLUX_TARGETS])
def test_every_influxql_panel_returns_the_series_it_draws(
    loaded: Loaded, offered: dict, target: PanelTarget
) -> None:
    query = target.target["query"]
    chosen = {}
    if target.panel.get("repeat"):  # one panel per value: the variable holds a single value
        chosen[target.panel["repeat"]] = offered[target.panel["repeat"]][:1]
    body = _ask(loaded, query, **chosen)
    series = _series(body)
    assert series, f"{target.where}: no data"
    assert any(v is not None for v in _values(body)), f"{target.where}: only nulls"
    for one in series:
        assert one["columns"] == _expected_columns(query), target.where
        assert set(one.get("tags", {})) == _group_tags(query), target.where
    alias = target.target.get("alias", "")
    for tag in re.findall(r"\$tag_(\w+)", alias):  # the legend names a tag the series carry
        assert all(tag in one["tags"] for one in series), target.where


def _query(title: str, ref_id: str = "A") -> str:
    for target in targets():
        if target.panel["title"] == title and target.target["refId"] == ref_id:
            return str(target.target["query"])
    raise KeyError(title)


def test_duty_desk_panels_show_what_was_stored(loaded: Loaded, offered: dict) -> None:
    rows = loaded.influx.select_all(DB, DB)
    assert len(rows) == loaded.sent == loaded.stored
    decisions = [r["decision"] for r in rows]
    assert decisions.count("fever") >= 1 and decisions.count("recheck") >= 1

    traffic = _ask(loaded, _query("Entrance traffic per 10 minutes"))
    assert sum(_values(traffic)) == loaded.sent
    by_building = {s["tags"]["building"]: sum(r[1] for r in s["values"]) for s in _series(traffic)}
    assert by_building == {b: sum(r["building"] == b for r in rows) for b in offered["building"]}
    one = _ask(loaded, _query("Entrance traffic per 10 minutes"), building=["wenyuan-3"])
    assert sum(_values(one)) == by_building["wenyuan-3"]

    assert _values(_ask(loaded, _query("Confirmed fevers"))) == [decisions.count("fever")]
    assert _values(_ask(loaded, _query("Awaiting re-check"))) == [decisions.count("recheck")]
    table = _ask(loaded, _query("Suspicious and confirmed readings, latest first"))
    listed = _values(table, "reading_id")
    assert sorted(listed) == sorted(
        r["reading_id"] for r in rows if r["decision"] in ("recheck", "fever")
    )
    times = _values(table, "time")
    assert times == sorted(times, reverse=True)
    # No names in the time series: the table shows pseudonymous ids only.
    assert all(re.fullmatch(r"p-[0-9a-f]{16}", p) for p in _values(table, "person_id"))

    heat = _ask(loaded, _query("Temperature distribution at entrance $entrance"), entrance=["main"])
    assert sorted(_values(heat)) == sorted(
        r["adjusted_c"] for r in rows if r["adjusted_c"] is not None
    )


def test_device_and_pipeline_panels_show_what_happened(loaded: Loaded, offered: dict) -> None:
    status = _ask(loaded, _query("Device status", "C"))
    per_device = {s["tags"]["device_id"]: s for s in _series(status)}
    assert set(per_device) == set(offered["device"])
    readings = {d: s["values"][0][s["columns"].index("readings")] for d, s in per_device.items()}
    assert sum(readings.values()) == loaded.sent
    errors = {d: s["values"][0][s["columns"].index("errors")] for d, s in per_device.items()}
    assert errors == {"hh-w2-main-1": 1, "hh-w3-main-1": None, "ks-w2-lobby-1": None,
                      "ks-w3-lobby-1": None}  # fmt: skip
    battery = _ask(loaded, _query("Device status", "B"))
    assert {s["tags"]["device_id"] for s in _series(battery)} == {"hh-w2-main-1", "hh-w3-main-1"}

    backlog = _ask(loaded, _query("Edge backlog"))
    last = {s["tags"]["edge_id"]: [v for _, v in s["values"] if v is not None][-1]
            for s in _series(backlog)}  # fmt: skip
    assert last == loaded.backlog

    throughput = _ask(loaded, _query("Gateway throughput"))
    (gateway,) = _series(throughput)
    stored = [row[gateway["columns"].index("stored")] for row in gateway["values"]]
    # Each window brought the same number of readings in 10 minutes.
    per_window = loaded.sent / STEPS / 600
    assert [round(v, 6) for v in stored] == [round(per_window, 6)] * (STEPS - 1)
    dead = _values(_ask(loaded, _query("Dead letters per minute")))
    assert sum(v * 10 for v in dead) == pytest.approx(loaded.bad)
    assert max(_values(_ask(loaded, _query("Batch size")))) >= 1
    assert (
        _values(_ask(loaded, _query("Messages in flight")))
        and max(_values(_ask(loaded, _query("Messages in flight")))) == 0
    )
    assert _values(_ask(loaded, _query("Devices offline"))) == [0]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_endpoint_serves_the_gateway_figures(loaded: Loaded) -> None:
    samples = _samples(loaded.metrics_text)
    gw = (("gateway_id", "gateway-1"),)
    assert samples[("thermogate_gateway_readings_in_total", gw)] == loaded.sent + loaded.bad
    assert samples[("thermogate_gateway_stored_total", gw)] == loaded.sent
    assert samples[("thermogate_gateway_dead_letters_total", gw)] == loaded.bad
    assert samples[("thermogate_gateway_in_flight", gw)] == 0
    assert samples[("thermogate_gateway_queue_depth", gw)] == 0
    assert samples[("thermogate_gateway_batches_total", gw)] >= 1
    assert samples[("thermogate_gateway_batch_readings", gw)] >= 1
    assert samples[("thermogate_gateway_lag_seconds", gw)] > 0  # simulated readings are old
    for edge_id, pending in loaded.backlog.items():
        building = "wenyuan-2" if "w2" in edge_id else "wenyuan-3"
        labels = tuple(sorted({**dict(gw), "edge_id": edge_id, "building": building}.items()))
        assert samples[("thermogate_edge_buffer_pending", labels)] == pending
        assert samples[("thermogate_edge_buffer_fill_ratio", labels)] == pending / 1000
    # No person ids in the metrics.
    assert not re.search(r"p-[0-9a-f]{16}", loaded.metrics_text)
