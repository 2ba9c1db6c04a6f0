"""The decision engine alone: calibration, thresholds, validity and the re-check protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thermogate.config import EngineSettings
from thermogate.contract import Placement
from thermogate.gateway.engine import DecisionEngine, EngineInput, EventKind
from thermogate.gateway.engine.state import EngineStore

MIN = 60_000


def batch(*rows: dict) -> EngineInput:
    """Rows as dicts with defaults: a handheld forehead reading at the door."""

    def col(name, default):
        return [row.get(name, default) for row in rows]

    temps = [row.get("temp_c", math.nan) for row in rows]
    return EngineInput(
        ts_ms=np.array(col("ts", 0), dtype=np.int64),
        reading_id=col("id", "r"),
        device_id=col("device", "hh-1"),
        device_kind=col("kind", "handheld"),
        site=col("site", "forehead"),
        placement=col("placement", "door"),
        person_id=col("person", None),
        temp_c=np.array(temps, dtype=np.float64),
        has_error=np.array([row.get("error", False) for row in rows]),
        ambient_c=np.array(col("ambient", math.nan), dtype=np.float64),
    )


def engine(**settings) -> DecisionEngine:
    return DecisionEngine(EngineSettings.model_validate(settings), 37.3)


def test_validity_and_threshold():
    out = engine().decide(
        batch(
            {"id": "a", "temp_c": 36.5},
            {"id": "b", "error": True},
            {"id": "c", "temp_c": 33.0},
            {"id": "d", "temp_c": 44.0},
            {"id": "e", "temp_c": 39.0},
        )
    )
    assert out.decision_labels() == ["normal", "invalid", "invalid", "invalid", "fever"]
    assert out.reason_labels()[1:4] == [
        "device showed an error code",
        "too low to assess (cold skin or a bad aim)",
        "physiologically impossible",
    ]
    assert out.reason_labels()[4] == "very high: fever without re-check"
    assert math.isnan(out.adjusted_c[1]) and out.adjusted_c[0] == pytest.approx(36.5)
    assert [e.kind for e in out.events] == [EventKind.FEVER]


def test_kiosk_canthus_is_calibrated_with_the_ambient_term():
    out = engine().decide(
        batch(
            {"id": "k1", "kind": "kiosk", "site": "canthus", "temp_c": 37.6, "ambient": 21.5},
            {"id": "k2", "kind": "kiosk", "site": "canthus", "temp_c": 37.6},
        )
    )
    with_ambient = 13.043 + 0.648 * 37.6 - 0.0523 * (21.5 - 23.0)
    assert out.adjusted_c[0] == pytest.approx(with_ambient)
    assert out.adjusted_c[1] == pytest.approx(13.043 + 0.648 * 37.6)


def test_overrides_of_calibration_and_thresholds_apply_most_specific_first():
    eng = engine(
        calibration=[{"kind": "handheld", "site": "forehead", "offset_c": 0.5}],
        thresholds=[
            {"site": "forehead", "threshold_c": 37.0},
            {"site": "forehead", "placement": "room", "threshold_c": 37.5},
        ],
    )
    out = eng.decide(
        batch(
            {"id": "a", "temp_c": 36.6, "placement": "door"},
            {"id": "b", "temp_c": 36.9, "placement": "room"},
            {"id": "c", "temp_c": 36.6, "site": "wrist"},
        )
    )
    assert list(out.threshold_c) == [37.0, 37.5, 37.3]
    assert list(np.round(out.adjusted_c, 2)) == [37.1, 37.4, 36.6]
    assert out.decision_labels() == ["recheck", "normal", "normal"]


def test_recheck_confirms_clears_or_is_too_soon():
    eng = engine()
    first = eng.decide(
        batch(
            {"id": "p1-1", "ts": 0, "person": "p1", "temp_c": 37.6},
            {"id": "p2-1", "ts": 0, "person": "p2", "temp_c": 37.6},
            {"id": "p3-1", "ts": 0, "person": "p3", "temp_c": 37.6},
        )
    )
    assert first.decision_labels() == ["recheck"] * 3
    assert [e.kind for e in first.events] == [EventKind.RECHECK] * 3
    second = eng.decide(
        batch(
            {"id": "p1-2", "ts": 12 * MIN, "person": "p1", "temp_c": 37.8},
            {"id": "p2-2", "ts": 12 * MIN, "person": "p2", "temp_c": 36.7},
            {"id": "p3-2", "ts": 2 * MIN, "person": "p3", "temp_c": 36.7},
        )
    )
    assert second.decision_labels() == ["fever", "normal", "normal"]
    assert second.reason_labels() == [
        "re-check confirmed",
        "re-check below threshold: cleared",
        "re-check too soon after the suspicious reading to clear it",
    ]
    kinds = {(e.kind, e.reading_id, e.confirming_reading_id) for e in second.events}
    assert kinds == {(EventKind.FEVER, "p1-1", "p1-2"), (EventKind.CLEARED, "p2-1", "p2-2")}
    assert eng.open_rechecks == 1  # p3 still waits
    escalated = eng.expire(31 * MIN)
    assert [(e.kind, e.reading_id, e.row) for e in escalated] == [
        (EventKind.UNCONFIRMED, "p3-1", None)
    ]
    assert eng.open_rechecks == 0


def test_unidentified_suspicious_is_alerted_unconfirmed_at_once():
    out = engine().decide(batch({"id": "x", "temp_c": 37.7}))
    assert out.decision_labels() == ["recheck"]
    assert [e.kind for e in out.events] == [EventKind.UNCONFIRMED]


def test_a_recheck_after_the_window_starts_over():
    eng = engine()
    eng.decide(batch({"id": "a", "ts": 0, "person": "p", "temp_c": 37.6}))
    late = eng.decide(batch({"id": "b", "ts": 40 * MIN, "person": "p", "temp_c": 37.6}))
    assert late.decision_labels() == ["recheck"]
    assert [e.kind for e in late.events] == [EventKind.UNCONFIRMED, EventKind.RECHECK]


def test_redelivered_and_earlier_readings_do_not_change_decisions():
    eng = engine()
    eng.decide(batch({"id": "early", "ts": 0, "person": "p", "temp_c": 36.6}))
    eng.decide(batch({"id": "sus", "ts": 5 * MIN, "person": "p", "temp_c": 37.6}))
    again = eng.decide(
        batch(
            {"id": "early", "ts": 0, "person": "p", "temp_c": 36.6},
            {"id": "sus", "ts": 5 * MIN, "person": "p", "temp_c": 37.6},
        )
    )
    assert again.decision_labels() == ["normal", "recheck"]
    assert again.events == []  # nothing raised twice
    assert eng.open_rechecks == 1


def test_batch_order_does_not_matter():
    rows = [
        {"id": "b", "ts": 15 * MIN, "person": "p", "temp_c": 37.9},
        {"id": "a", "ts": 0, "person": "p", "temp_c": 37.6},
    ]
    out = engine().decide(batch(*rows))
    assert out.decision_labels() == ["fever", "recheck"]


def test_state_survives_a_restart(tmp_path):
    def restarted() -> DecisionEngine:
        return DecisionEngine(EngineSettings(), 37.3, EngineStore(tmp_path / "engine.sqlite3"))

    first = restarted()
    first.decide(batch({"id": "s", "ts": 0, "person": "p", "temp_c": 37.6}))
    first.decide(batch({"id": "q", "ts": 0, "person": "q", "temp_c": 37.6}))
    second = restarted()  # the gateway was killed and came back
    assert second.open_rechecks == 2
    confirmed = second.decide(batch({"id": "c", "ts": 12 * MIN, "person": "p", "temp_c": 37.8}))
    assert confirmed.decision_labels() == ["fever"]
    third = restarted()  # killed again before acknowledging: the broker redelivers "c"
    again = third.decide(batch({"id": "c", "ts": 12 * MIN, "person": "p", "temp_c": 37.8}))
    assert again.decision_labels() == ["fever"] and again.events == []
    assert third.watermark_ms == 12 * MIN
    assert [e.reading_id for e in third.expire(45 * MIN)] == ["q"]
    assert restarted().open_rechecks == 0


def test_a_late_earlier_reading_does_not_replace_the_open_recheck():
    eng = engine()
    eng.decide(batch({"id": "later", "ts": 10 * MIN, "person": "p", "temp_c": 37.6}))
    late = eng.decide(batch({"id": "earlier", "ts": 5 * MIN, "person": "p", "temp_c": 37.7}))
    assert late.decision_labels() == ["recheck"] and late.events == []
    confirm = eng.decide(batch({"id": "c", "ts": 20 * MIN, "person": "p", "temp_c": 37.9}))
    assert [(e.kind, e.reading_id) for e in confirm.events] == [(EventKind.FEVER, "later")]


def test_device_baseline_corrects_what_the_whole_door_shares():
    eng = engine(
        device_baseline=["door"], baseline_window=20, baseline_warmup=10, baseline_reference_c=36.5
    )
    cold = [{"id": f"c{i}", "ts": i * 1000, "temp_c": 34.0 + (i % 3) / 10} for i in range(30)]
    out = eng.decide(batch(*cold))
    # No correction until ten ordinary readings are in, then the door's median is moved to
    # the reference: cold skin at a winter door is no longer "too low to assess".
    assert out.decision_labels()[:10] == ["normal"] * 10
    assert out.adjusted_c[:10].tolist() == [34.0 + (i % 3) / 10 for i in range(10)]
    assert abs(float(np.median(out.adjusted_c[15:])) - 36.5) < 0.11
    fever = eng.decide(batch({"id": "f", "ts": 31_000, "temp_c": 35.4, "person": "p"}))
    assert fever.decision_labels() == ["recheck"]  # 35.4 at this door is 37.7 corrected
    room = eng.decide(
        batch({"id": "r", "ts": 32_000, "temp_c": 35.4, "placement": "room", "device": "hh-room"})
    )
    assert room.decision_labels() == ["normal"]  # placements not enabled are not corrected


def test_device_baseline_is_off_by_default_and_survives_restarts(tmp_path):
    rows = [{"id": f"c{i}", "ts": i * 1000, "temp_c": 34.0 + (i % 3) / 10} for i in range(40)]
    assert engine().decide(batch(*rows)).decision_labels() == ["normal"] * 40  # no baseline
    settings = EngineSettings(
        device_baseline=[Placement.DOOR], baseline_window=20, baseline_warmup=10
    )
    first = DecisionEngine(settings, 37.3, EngineStore(tmp_path / "e.sqlite3"))
    first.decide(batch(*rows))
    again = DecisionEngine(settings, 37.3, EngineStore(tmp_path / "e.sqlite3"))
    out = again.decide(batch({"id": "n", "ts": 50_000, "temp_c": 34.1}))
    assert out.adjusted_c[0] == pytest.approx(36.6)  # the door's median (34.1) moved to 36.6


def test_personal_baseline_compares_a_person_with_their_own_readings():
    eng = engine(personal_window=5, personal_warmup=3)
    # This person's skin reads 0.6 below the reference at this door, evening after evening.
    own = [{"id": f"o{i}", "ts": i * 86_400_000, "person": "p", "temp_c": 36.0} for i in range(4)]
    out = eng.decide(batch(*own))
    assert out.adjusted_c.tolist()[:3] == [36.0, 36.0, 36.0]  # warming up
    assert out.adjusted_c[3] == pytest.approx(36.6)  # then moved to the reference
    ill = eng.decide(batch({"id": "ill", "ts": 4 * 86_400_000, "person": "p", "temp_c": 36.8}))
    assert ill.decision_labels() == ["recheck"]  # 0.8 above their own: 37.4 corrected
    stranger = eng.decide(batch({"id": "s", "ts": 4 * 86_400_000, "person": "q", "temp_c": 36.8}))
    assert stranger.decision_labels() == ["normal"]  # nobody to compare with yet


def test_personal_baseline_forgets_old_state_and_is_bounded():
    eng = engine(
        personal_window=5, personal_warmup=3, personal_max_age_days=14, personal_max_people=100
    )
    day = 86_400_000
    eng.decide(
        batch(*[{"id": f"o{i}", "ts": i * day, "person": "p", "temp_c": 36.0} for i in range(4)])
    )
    late = eng.decide(batch({"id": "late", "ts": 40 * day, "person": "p", "temp_c": 36.0}))
    assert late.adjusted_c[0] == pytest.approx(36.0)  # a month later: starts over
    crowd = [
        {"id": f"c{i}", "ts": 50 * day + i, "person": f"x{i}", "temp_c": 36.5} for i in range(300)
    ]
    eng.decide(batch(*crowd))
    assert eng.remembered_people <= 100


def test_thresholds_can_be_per_device_kind_and_a_forehead_kiosk_has_its_own():
    out = engine(thresholds=[{"kind": "handheld", "site": "wrist", "threshold_c": 36.9}]).decide(
        batch(
            {"id": "k", "kind": "kiosk", "site": "forehead", "temp_c": 37.5},
            {"id": "h", "kind": "handheld", "site": "forehead", "temp_c": 37.0},
            {"id": "w", "kind": "handheld", "site": "wrist", "temp_c": 37.0},
            {"id": "kw", "kind": "kiosk", "site": "wrist", "temp_c": 37.0},
        )
    )
    assert list(out.threshold_c) == [37.2, 37.3, 36.9, 37.3]
    assert out.decision_labels() == ["normal", "normal", "recheck", "normal"]


def test_the_readings_of_this_visit_never_become_the_personal_baseline():
    eng = engine(personal_window=5, personal_warmup=3, personal_min_age_h=6)
    visit = [{"id": f"v{i}", "ts": i * MIN, "person": "p", "temp_c": 37.1} for i in range(6)]
    out = eng.decide(batch(*visit))
    assert out.adjusted_c.tolist() == [37.1] * 6  # minutes apart: no correction yet
    later = eng.decide(batch({"id": "n", "ts": 7 * 3_600_000, "person": "p", "temp_c": 37.1}))
    assert later.adjusted_c[0] == pytest.approx(36.6)  # next day-part: their own level
