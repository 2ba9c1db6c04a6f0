"""Device health in the engine: stuck sensors and devices drifting from their peers are
``invalid`` with a reason and reported as device events; cold arrivals at the door are
corrected from the outdoor temperature; the outdoor feed keeps the latest value per building."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from thermogate.config import EngineSettings
from thermogate.contract import Weather, encode
from thermogate.gateway.engine import DecisionEngine, EngineInput, EventKind
from thermogate.gateway.engine.health import HealthState, _median_without
from thermogate.gateway.outdoor import OutdoorFeed

SEC = 1000


def batch(rows: list[dict], outdoor: float | None = None) -> EngineInput:
    """Rows with defaults: a handheld forehead reading at the door of building b."""
    n = len(rows)
    return EngineInput(
        ts_ms=np.array([r["ts"] for r in rows], dtype=np.int64),
        reading_id=[r.get("id", f"r{r['ts']}-{r.get('device', 'hh-1')}") for r in rows],
        device_id=[r.get("device", "hh-1") for r in rows],
        device_kind=[r.get("kind", "handheld") for r in rows],
        site=[r.get("site", "forehead") for r in rows],
        placement=[r.get("placement", "door") for r in rows],
        person_id=[r.get("person") for r in rows],
        temp_c=np.array([r["temp_c"] for r in rows], dtype=np.float64),
        has_error=np.zeros(n, dtype=np.bool_),
        ambient_c=np.full(n, math.nan),
        building=[r.get("building", "b") for r in rows],
        outdoor_c=None if outdoor is None else np.full(n, outdoor),
    )


def engine(**settings) -> DecisionEngine:
    return DecisionEngine(EngineSettings.model_validate(settings), 37.3)


def ordinary(i: int) -> float:
    """Ordinary readings that never repeat eight times in a row."""
    return 36.2 + (i % 5) / 10


def test_a_stuck_sensor_is_invalid_from_the_eighth_identical_reading_across_batches():
    eng = engine()
    first = eng.decide(batch([{"ts": i * SEC, "temp_c": 36.4} for i in range(5)]))
    assert first.decision_labels() == ["normal"] * 5 and first.events == []
    second = eng.decide(batch([{"ts": (5 + i) * SEC, "temp_c": 36.4} for i in range(5)]))
    assert second.decision_labels() == ["normal", "normal", "invalid", "invalid", "invalid"]
    assert second.reason_labels()[2] == "stuck sensor: the same value too many times in a row"
    assert math.isnan(second.adjusted_c[2])
    [fault] = second.events
    assert fault.kind is EventKind.DEVICE_FAULT and fault.device_id == "hh-1"
    assert fault.detail == "device hh-1 is stuck on 36.4 °C"
    # Another device is not affected; a different value ends the run and reports recovery.
    other = eng.decide(batch([{"ts": 11 * SEC, "temp_c": 36.4, "device": "hh-2"}]))
    assert other.decision_labels() == ["normal"]
    back = eng.decide(batch([{"ts": 12 * SEC, "temp_c": 36.7}]))
    assert back.decision_labels() == ["normal"]
    assert [(e.kind, e.device_id) for e in back.events] == [(EventKind.DEVICE_RECOVERED, "hh-1")]
    states = {h.device_id: h.state for h in eng.device_health()}
    assert states["hh-1"] is not HealthState.STUCK


def test_stuck_runs_do_not_depend_on_how_readings_are_batched_or_interleaved():
    rows: list[dict] = []
    for i in range(30):
        rows.append({"ts": i * SEC, "temp_c": 36.5 if 10 <= i < 20 else ordinary(i)})
        rows.append({"ts": i * SEC + 1, "temp_c": ordinary(i + 2), "device": "hh-2"})
    whole = engine().decide(batch(rows)).decision_labels()
    eng = engine()
    pieces = [eng.decide(batch(rows[k : k + 7])).decision_labels() for k in range(0, 60, 7)]
    assert [label for piece in pieces for label in piece] == whole
    invalid = [r["ts"] // SEC for r, d in zip(rows, whole, strict=True) if d == "invalid"]
    assert invalid == list(range(17, 20))  # the 8th to 10th of the ten 36.5s


def test_stuck_check_can_be_switched_off():
    out = engine(stuck_run=0).decide(batch([{"ts": i * SEC, "temp_c": 36.4} for i in range(20)]))
    assert out.decision_labels() == ["normal"] * 20


def peers(offsets: dict[str, float], readings: int = 40, building: str = "b") -> list[dict]:
    return [
        {"ts": i * SEC + k, "temp_c": ordinary(i) + offset, "device": d, "building": building}
        for i in range(readings)
        for k, (d, offset) in enumerate(offsets.items())
    ]


def test_a_device_far_from_its_peers_is_drifted_and_its_readings_invalid():
    eng = engine()
    out = eng.decide(batch(peers({"hh-1": 0.0, "hh-2": 0.1, "hh-3": -0.1, "hh-4": 2.0})))
    faults = [e for e in out.events if e.kind is EventKind.DEVICE_FAULT]
    assert [e.device_id for e in faults] == ["hh-4"]
    assert "+2.0 °C away from its peers in b" in (faults[0].detail or "")
    later = eng.decide(batch([{"ts": 100 * SEC, "temp_c": 38.6, "device": "hh-4", "person": "p"}]))
    assert later.decision_labels() == ["invalid"]  # not a fever from a broken device
    assert later.reason_labels() == ["device drifted away from its peers"]
    health = {h.device_id: h for h in eng.device_health()}
    assert health["hh-4"].state is HealthState.DRIFTED
    assert health["hh-4"].offset_c == pytest.approx(2.0, abs=0.05)
    assert {health[d].state for d in ("hh-1", "hh-2", "hh-3")} == {HealthState.OK}


def test_a_moderate_offset_is_a_warning_and_the_readings_stand():
    eng = engine()
    out = eng.decide(batch(peers({"hh-1": 0.0, "hh-2": 0.0, "hh-3": 1.0})))
    assert "invalid" not in out.decision_labels()
    [fault] = [e for e in out.events if e.kind is EventKind.DEVICE_FAULT]
    assert fault.device_id == "hh-3" and "reads +1.0 °C away" in (fault.detail or "")
    assert {h.device_id: h.state for h in eng.device_health()}["hh-3"] is HealthState.DRIFTING


def test_with_one_peer_nobody_is_judged_and_buildings_are_not_peers():
    eng = engine()
    rows = peers({"hh-1": 0.0, "hh-2": 1.0}) + peers({"hh-3": 0.0}, building="c")
    out = eng.decide(batch(rows))
    assert "invalid" not in out.decision_labels()
    assert [e for e in out.events if e.detail is not None] == []
    assert {h.state for h in eng.device_health()} == {HealthState.UNJUDGED}


def test_cold_arrivals_at_the_door_get_the_outdoor_cold_added_back():
    eng = engine(personal_baseline=False)
    rows: list[dict] = [
        {"ts": 1 * SEC, "temp_c": 35.0},  # door forehead: + 0.05 * (20 - -10) = 1.5
        {"ts": 2 * SEC, "temp_c": 35.0, "site": "wrist", "device": "hh-2"},  # + 0.017 * 30
        {"ts": 3 * SEC, "temp_c": 35.0, "placement": "room", "device": "hh-3"},  # no cold
        {"ts": 4 * SEC, "temp_c": 35.0, "kind": "kiosk", "site": "canthus", "device": "k"},
    ]
    out = eng.decide(batch(rows, outdoor=-10.0))
    assert out.adjusted_c[0] == pytest.approx(36.5)
    assert out.adjusted_c[1] == pytest.approx(35.51)
    assert out.adjusted_c[2] == pytest.approx(35.0)
    plain = engine(personal_baseline=False).decide(batch(rows[3:]))
    assert out.adjusted_c[3] == pytest.approx(plain.adjusted_c[0])  # the eye corner: none
    hot = engine().decide(batch(rows[:1], outdoor=32.0))
    unknown = engine().decide(batch(rows[:1]))
    assert hot.adjusted_c[0] == unknown.adjusted_c[0] == pytest.approx(35.0)


def test_the_outdoor_feed_keeps_the_latest_value_per_building_and_refuses_bad_ones():
    feed = OutdoorFeed(max_age_s=3600)
    at = dt.datetime(2026, 12, 1, 18, 0, tzinfo=dt.UTC)
    ms = int(at.timestamp() * 1000)
    topic = "thermogate/v1/weather/wenyuan-2"
    feed.on_message(topic, encode(Weather(building="wenyuan-2", outdoor_c=-3.0, ts=at)))
    older = at - dt.timedelta(minutes=30)
    feed.on_message(topic, encode(Weather(building="wenyuan-2", outdoor_c=5.0, ts=older)))
    feed.on_message(topic, b'{"v":1,"building":"wenyuan-2","outdoor_c":"cold"}')
    feed.on_message(topic, encode(Weather(building="wenyuan-3", outdoor_c=-9.0, ts=at)))
    feed.on_message(topic, b"")  # a cleared retained message is not an error
    assert feed.refused == 2
    values = feed.outdoor_c(
        ["wenyuan-2", "wenyuan-2", "wenyuan-3"],
        np.array([ms + 60_000, ms + 2 * 3_600_000, ms], dtype=np.int64),
    )
    assert values[0] == -3.0  # the newest measurement, not the last one delivered
    assert math.isnan(values[1])  # two hours later: too old to use
    assert math.isnan(values[2])  # wenyuan-3's value came on wenyuan-2's topic: refused


@given(st.lists(st.floats(34, 40), min_size=1, max_size=12), st.data())
def test_a_peer_median_is_the_median_of_the_others(values, data):
    ordered = sorted(values)
    skip = data.draw(st.none() | st.integers(0, len(ordered) - 1))
    rest = ordered if skip is None else ordered[:skip] + ordered[skip + 1 :]
    if rest:
        assert _median_without(ordered, skip) == pytest.approx(float(np.median(rest)))
