"""Gateway instances sharing the load keep one re-check protocol and one personal baseline per
person: each engine publishes what a batch changed and merges what the others changed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thermogate.config import EngineSettings
from thermogate.gateway.engine import DecisionEngine, EngineInput, EventKind
from thermogate.gateway.engine.replication import EngineDelta, merge_windows
from thermogate.gateway.engine.state import EngineStore

MIN = 60_000
DAY = 86_400_000


def reading(rid: str, ts: int, temp: float, person: str | None = "p", device: str = "hh-1"):
    return EngineInput(
        ts_ms=np.array([ts], dtype=np.int64),
        reading_id=[rid],
        device_id=[device],
        device_kind=["handheld"],
        site=["forehead"],
        placement=["room"],
        person_id=[person],
        temp_c=np.array([temp]),
        has_error=np.array([False]),
        ambient_c=np.array([math.nan]),
    )


def pair(**settings) -> tuple[DecisionEngine, DecisionEngine]:
    config = EngineSettings.model_validate(settings)
    return (
        DecisionEngine(config, 37.3, replicate=True),
        DecisionEngine(config, 37.3, replicate=True),
    )


def exchange(a: DecisionEngine, b: DecisionEngine) -> None:
    """Each applies the other's delta, through its wire form."""
    for source, target in ((a, b), (b, a)):
        delta = source.take_delta()
        if delta is not None:
            target.apply_delta(EngineDelta.from_bytes(delta.to_bytes()))


def test_a_recheck_opened_on_one_instance_is_confirmed_on_the_other():
    a, b = pair()
    first = a.decide(reading("r1", 0, 37.6))
    assert first.decision_labels() == ["recheck"]
    exchange(a, b)
    assert b.open_rechecks == 1
    confirm = b.decide(reading("r2", 12 * MIN, 37.8))
    assert confirm.decision_labels() == ["fever"]
    assert [(e.kind, e.reading_id, e.confirming_reading_id) for e in confirm.events] == [
        (EventKind.FEVER, "r1", "r2")
    ]
    exchange(a, b)
    assert a.open_rechecks == 0 and b.open_rechecks == 0
    assert a.expire(3 * 60 * MIN) == []  # nothing left to escalate twice


def test_a_late_copy_of_an_opening_does_not_reopen_a_closed_recheck():
    a, b = pair()
    a.decide(reading("r1", 0, 37.6))
    opening = a.take_delta()
    assert opening is not None
    b.apply_delta(opening)
    b.decide(reading("r2", 12 * MIN, 36.6))  # cleared on b
    closing = b.take_delta()
    assert closing is not None
    a.apply_delta(closing)
    a.apply_delta(opening)  # delivered again, late
    assert a.open_rechecks == 0


def test_a_redelivered_reading_keeps_its_decision_on_the_other_instance():
    a, b = pair()
    a.decide(reading("r1", 0, 37.6))
    exchange(a, b)
    again = b.decide(reading("r1", 0, 37.6))  # the broker gave it to b after a died
    assert again.decision_labels() == ["recheck"] and again.events == []


def test_personal_baselines_merge_to_what_one_engine_would_have_learnt():
    values = [36.0, 36.1, 35.9, 36.0, 36.2, 36.1, 35.8, 36.0]
    single = DecisionEngine(EngineSettings(), 37.3)
    a, b = pair()
    for day, value in enumerate(values):
        batch = reading(f"d{day}", day * DAY, value)
        single.decide(batch)
        (a if day % 2 else b).decide(batch)
        exchange(a, b)
    probe = reading("probe", len(values) * DAY, 36.7)
    expected = single.decide(probe).adjusted_c[0]
    assert a.decide(probe).adjusted_c[0] == pytest.approx(expected)
    assert b.decide(probe).adjusted_c[0] == pytest.approx(expected)
    assert expected == pytest.approx(36.7 + 36.6 - 36.0)


def test_applied_changes_survive_a_restart(tmp_path):
    a = DecisionEngine(EngineSettings(), 37.3, replicate=True)
    b = DecisionEngine(EngineSettings(), 37.3, EngineStore(tmp_path / "b.sqlite3"), replicate=True)
    a.decide(reading("r1", 0, 37.6))
    delta = a.take_delta()
    assert delta is not None
    b.apply_delta(delta)
    restarted = DecisionEngine(EngineSettings(), 37.3, EngineStore(tmp_path / "b.sqlite3"))
    assert restarted.open_rechecks == 1
    assert restarted.decide(reading("r2", 12 * MIN, 37.9)).decision_labels() == ["fever"]


def test_deltas_round_trip_and_garbage_is_refused():
    a, _ = pair()
    a.decide(reading("r1", 0, 37.6))
    delta = a.take_delta()
    assert delta is not None and a.take_delta() is None  # taken once
    again = EngineDelta.from_bytes(delta.to_bytes())
    assert again == delta
    for bad in (b"{", b"[]", b'{"v":2}', b'{"v":1,"opened":{"p":[1]}}'):
        with pytest.raises(ValueError, match="engine delta"):
            EngineDelta.from_bytes(bad)


def test_windows_merge_by_time_without_repeats():
    mine = (30, [36.0, 36.2], [10, 30])
    theirs = (40, [36.1, 36.2, 36.4], [20, 30, 40])
    assert merge_windows(mine, theirs, 3) == (40, [36.1, 36.2, 36.4], [20, 30, 40])
    assert merge_windows(None, theirs, 3) == theirs


def test_changes_wait_on_disk_until_the_broker_has_them(tmp_path):
    path = tmp_path / "a.sqlite3"
    a = DecisionEngine(EngineSettings(), 37.3, EngineStore(path), replicate=True)
    a.decide(reading("r1", 0, 37.6))
    first = a.pending_changes()
    assert len(first) == 1
    # Killed before publishing: the restarted instance still has the change to send.
    restarted = DecisionEngine(EngineSettings(), 37.3, EngineStore(path), replicate=True)
    again = restarted.pending_changes()
    assert again == first
    b = DecisionEngine(EngineSettings(), 37.3, replicate=True)
    b.apply_delta(EngineDelta.from_bytes(again[0][1]))
    assert b.open_rechecks == 1
    restarted.changes_published([again[0][0]])
    assert restarted.pending_changes() == []


def test_uncommitted_changes_are_decided_again_after_a_crash(tmp_path):
    """The gateway commits a batch's changes once it is stored and alerted: a kill before
    that leaves the restarted engine to decide the redelivered reading again, alert included."""
    path = tmp_path / "e.sqlite3"
    first = DecisionEngine(EngineSettings(), 37.3, EngineStore(path), auto_commit=False)
    out = first.decide(reading("r1", 0, 37.6))
    assert [e.kind for e in out.events] == [EventKind.RECHECK]
    restarted = DecisionEngine(EngineSettings(), 37.3, EngineStore(path), auto_commit=False)
    assert restarted.open_rechecks == 0
    again = restarted.decide(reading("r1", 0, 37.6))
    assert [e.kind for e in again.events] == [EventKind.RECHECK]  # alerted again, not lost
    restarted.commit(again.token)
    committed = DecisionEngine(EngineSettings(), 37.3, EngineStore(path))
    assert committed.open_rechecks == 1
    assert committed.decide(reading("r1", 0, 37.6)).events == []  # remembered once committed
