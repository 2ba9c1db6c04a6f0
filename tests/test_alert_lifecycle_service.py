"""The lifecycle store on SQLite and PostgreSQL: open, deduplicate, update, acknowledge, clear,
and escalate on an injected clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lifecycle_kit import (
    DEPUTY,
    DUTY,
    LEADER,
    LIAISON,
    T0,
    FakeClock,
    MemoryRoster,
    contact,
    device_alert,
    engine_for,
    make_alert,
    make_service,
)
from sqlalchemy.engine import Engine

from thermogate.alerts.lifecycle.policy import Actor
from thermogate.alerts.lifecycle.service import LifecycleError, LifecycleService, Outcome
from thermogate.contract.messages import AlertKind

CLINIC = Actor("u-clinic", "clinic")
DUTY_DESK = Actor("u-duty", "duty")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = (
        f"sqlite:///{tmp_path / 'lifecycle.sqlite3'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = engine_for(url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def roster() -> MemoryRoster:
    return MemoryRoster(first=(LIAISON, DUTY), escalation=(DEPUTY, LEADER))


@pytest.fixture
def service(engine: Engine, roster: MemoryRoster, clock: FakeClock) -> LifecycleService:
    return make_service(engine, roster, clock)


def told(service: LifecycleService, alert_id: int) -> list[tuple[int, str]]:
    """(step, contact) of every notification in the outbox, in order."""
    return [(n.step, n.contact_id) for n in service.notifications(alert_id)]


def test_a_fever_opens_one_raised_alert_and_tells_the_first_contacts(service, clock):
    result = service.ingest(make_alert())
    assert result.outcome is Outcome.OPENED
    assert result.alert_id is not None
    row, events = service.get(result.alert_id)
    assert (row.state, row.kind, row.severity) == ("raised", "fever", "critical")
    assert row.person_id == "p-0a1b2c3d"
    assert row.last_temp_c == 38.1
    assert row.next_escalation_at == T0.replace(minute=5)
    assert [e.action for e in events] == ["raised"]
    assert told(service, result.alert_id) == [(0, "c-liaison"), (0, "c-duty")]


def test_a_redelivered_alert_changes_nothing(service):
    alert = make_alert()
    first = service.ingest(alert)
    again = service.ingest(alert)
    assert again.outcome is Outcome.DUPLICATE
    assert again.alert_id == first.alert_id
    row, events = service.get(first.alert_id)
    assert row.count == 1
    assert len(events) == 1
    assert len(service.notifications(first.alert_id)) == 2


def test_later_readings_of_the_same_person_update_the_open_alert(service, clock):
    first = service.ingest(make_alert(seq=1, temp=37.9))
    clock.advance(minutes=20)
    later = service.ingest(make_alert(seq=2, temp=38.6, ts=clock.now))
    assert later.outcome is Outcome.UPDATED
    assert later.alert_id == first.alert_id
    row, events = service.get(first.alert_id)
    assert (row.count, row.first_temp_c, row.last_temp_c, row.max_temp_c) == (2, 37.9, 38.6, 38.6)
    assert row.last_reading_id == "hh-w2-main-1:2"
    assert [e.action for e in events] == ["raised", "updated"]
    assert len(service.alerts()) == 1
    # An update is not news: nobody is told twice.
    assert len(service.notifications(first.alert_id)) == 2


def test_a_late_reading_does_not_replace_the_latest(service, clock):
    first = service.ingest(make_alert(seq=2, temp=38.4, ts=T0))
    service.ingest(make_alert(seq=1, temp=37.8, ts=T0.replace(hour=7)))
    row, _ = service.get(first.alert_id)
    assert (row.last_temp_c, row.first_at, row.last_at) == (38.4, T0.replace(hour=7), T0)


def test_other_people_and_unidentified_readings_get_alerts_of_their_own(service):
    a = service.ingest(make_alert(seq=1, person="p-aaaa"))
    b = service.ingest(make_alert(seq=2, person="p-bbbb"))
    c = service.ingest(make_alert(AlertKind.FEVER_UNCONFIRMED, seq=3, person=None))
    d = service.ingest(make_alert(AlertKind.FEVER_UNCONFIRMED, seq=4, person=None))
    assert len({a.alert_id, b.alert_id, c.alert_id, d.alert_id}) == 4
    assert len(service.alerts()) == 4


def test_a_reading_after_the_episode_window_opens_a_new_episode(service, clock):
    first = service.ingest(make_alert(seq=1))
    clock.advance(hours=30)
    second = service.ingest(make_alert(seq=2, ts=clock.now))
    assert second.outcome is Outcome.OPENED
    assert second.alert_id != first.alert_id


def test_a_cleared_episode_is_not_reopened_by_the_next_fever(service, clock):
    first = service.ingest(make_alert(seq=1))
    service.clear(first.alert_id, CLINIC, "seen at the clinic: influenza ruled out")
    clock.advance(minutes=30)
    second = service.ingest(make_alert(seq=2, ts=clock.now))
    assert second.outcome is Outcome.OPENED
    assert second.alert_id != first.alert_id


def test_a_confirmed_fever_upgrades_an_unconfirmed_episode_and_tells_again(service, clock):
    first = service.ingest(make_alert(AlertKind.FEVER_UNCONFIRMED, seq=1, temp=37.6))
    service.acknowledge(first.alert_id, DUTY_DESK)
    clock.advance(minutes=10)
    service.ingest(make_alert(AlertKind.FEVER, seq=2, temp=38.0, ts=clock.now))
    row, events = service.get(first.alert_id)
    assert (row.kind, row.severity, row.state) == ("fever", "critical", "acknowledged")
    assert [e.action for e in events] == ["raised", "acknowledged", "upgraded"]
    purposes = [n.purpose for n in service.notifications(first.alert_id)]
    assert purposes == ["raised", "raised", "upgraded", "upgraded"]
    # An unconfirmed reading after the fever does not lower it.
    service.ingest(make_alert(AlertKind.FEVER_UNCONFIRMED, seq=3, ts=clock.now))
    assert service.get(first.alert_id)[0].kind == "fever"


def test_states_go_raised_acknowledged_cleared(service, clock):
    opened = service.ingest(make_alert())
    clock.advance(minutes=2)
    acked = service.acknowledge(opened.alert_id, DUTY_DESK)
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        "duty:u-duty",
        clock.now,
    )
    assert acked.next_escalation_at is None
    again = service.acknowledge(opened.alert_id, CLINIC)
    assert again.acknowledged_by == "duty:u-duty"  # the first acknowledgement stands
    clock.advance(minutes=30)
    cleared = service.clear(opened.alert_id, CLINIC, "clinic visit: normal on re-measure")
    assert (cleared.state, cleared.cleared_by, cleared.clear_note) == (
        "cleared",
        "clinic:u-clinic",
        "clinic visit: normal on re-measure",
    )
    assert service.alerts() == []
    assert [r.id for r in service.alerts(open_only=False)] == [opened.alert_id]
    _, events = service.get(opened.alert_id)
    assert [(e.action, e.actor) for e in events] == [
        ("raised", None),
        ("acknowledged", "duty:u-duty"),
        ("cleared", "clinic:u-clinic"),
    ]
    with pytest.raises(LifecycleError) as refused:
        service.acknowledge(opened.alert_id, DUTY_DESK)
    assert refused.value.status == 409


def test_only_the_clinic_clears_a_fever_and_only_duty_clears_a_device(service):
    fever = service.ingest(make_alert())
    with pytest.raises(LifecycleError) as refused:
        service.clear(fever.alert_id, DUTY_DESK)
    assert refused.value.status == 403
    assert "clinic" in refused.value.reason
    assert service.get(fever.alert_id)[0].state == "raised"
    offline = service.ingest(device_alert(AlertKind.DEVICE_OFFLINE))
    with pytest.raises(LifecycleError):
        service.clear(offline.alert_id, CLINIC)
    assert service.clear(offline.alert_id, DUTY_DESK).state == "cleared"


def test_a_role_without_alert_duties_cannot_acknowledge(service):
    opened = service.ingest(make_alert())
    with pytest.raises(LifecycleError) as refused:
        service.acknowledge(opened.alert_id, Actor("u-9", "student"))
    assert refused.value.status == 403


def test_an_unknown_alert_is_404(service):
    with pytest.raises(LifecycleError) as missing:
        service.acknowledge(4242, DUTY_DESK)
    assert missing.value.status == 404


def test_device_back_clears_the_open_device_offline(service):
    offline = service.ingest(device_alert(AlertKind.DEVICE_OFFLINE))
    assert told(service, offline.alert_id) == [(0, "c-duty")]  # not the clinic
    back = service.ingest(device_alert(AlertKind.DEVICE_BACK))
    assert back.outcome is Outcome.CLOSED
    assert back.alert_id == offline.alert_id
    row, events = service.get(offline.alert_id)
    assert (row.state, row.cleared_by) == ("cleared", "system:lifecycle")
    assert events[-1].detail == "hh-w2-main-1 device_back"
    assert service.ingest(device_alert(AlertKind.DEVICE_BACK, "kiosk-9")).outcome is Outcome.IGNORED


def test_device_recovered_clears_the_open_device_fault_and_not_an_outage(service):
    fault = service.ingest(device_alert(AlertKind.DEVICE_FAULT))
    offline = service.ingest(device_alert(AlertKind.DEVICE_OFFLINE))
    assert fault.alert_id != offline.alert_id
    assert service.get(fault.alert_id)[0].severity == "warning"
    assert service.ingest(device_alert(AlertKind.DEVICE_RECOVERED)).alert_id == fault.alert_id
    assert service.get(fault.alert_id)[0].state == "cleared"
    assert service.get(offline.alert_id)[0].state == "raised"


def test_recheck_prompts_are_not_lifecycle_alerts(service):
    assert service.ingest(make_alert(AlertKind.RECHECK)).outcome is Outcome.IGNORED
    assert service.alerts(open_only=False) == []


def test_new_kinds_have_their_severity(service):
    lag = service.ingest(make_alert(AlertKind.GATEWAY_LAGGING, person=None, temp=None))
    leave = service.ingest(make_alert(AlertKind.LEAVE_OVERDUE, seq=2, temp=None))
    assert service.get(lag.alert_id)[0].severity == "critical"
    assert service.get(leave.alert_id)[0].severity == "warning"


# -- escalation on an injected clock ---------------------------------------------------------


def test_escalation_first_at_once_then_one_step_every_period_until_acknowledged(service, clock):
    opened = service.ingest(make_alert())
    assert told(service, opened.alert_id) == [(0, "c-liaison"), (0, "c-duty")]
    clock.advance(minutes=4, seconds=59)
    assert service.escalate_due() == []
    clock.advance(seconds=1)  # 5 min
    assert service.escalate_due() == [opened.alert_id]
    assert service.escalate_due() == []  # once per period
    clock.advance(minutes=5)  # 10 min
    assert service.escalate_due() == [opened.alert_id]
    clock.advance(minutes=5)  # 15 min: past the last contact, the last step repeats
    assert service.escalate_due() == [opened.alert_id]
    assert told(service, opened.alert_id) == [
        (0, "c-liaison"),
        (0, "c-duty"),
        (1, "c-deputy"),
        (2, "c-leader"),
        (3, "c-leader"),
    ]
    clock.advance(minutes=1)
    service.acknowledge(opened.alert_id, DUTY_DESK)
    for _ in range(4):
        clock.advance(minutes=5)
        assert service.escalate_due() == []
    assert len(told(service, opened.alert_id)) == 5
    row, events = service.get(opened.alert_id)
    assert row.escalation_level == 3
    assert [e.action for e in events].count("escalated") == 3


def test_without_escalation_contacts_the_first_contacts_are_told_again(engine, clock):
    service = make_service(engine, MemoryRoster(first=(LIAISON,)), clock, escalation_min=2)
    opened = service.ingest(make_alert())
    assert opened.alert_id is not None
    clock.advance(minutes=2)
    service.escalate_due()
    clock.advance(minutes=2)
    service.escalate_due()
    assert told(service, opened.alert_id) == [(0, "c-liaison"), (1, "c-liaison"), (2, "c-liaison")]


def test_a_late_ticker_escalates_one_step_not_a_burst(service, clock):
    opened = service.ingest(make_alert())
    clock.advance(minutes=42)
    assert service.escalate_due() == [opened.alert_id]
    assert service.get(opened.alert_id)[0].next_escalation_at == clock.now.replace(minute=47)
    assert [s for s, _ in told(service, opened.alert_id)] == [0, 0, 1]


def test_acknowledging_cancels_unsent_escalations_but_not_first_notices(service, clock):
    opened = service.ingest(make_alert())
    clock.advance(minutes=5)
    service.escalate_due()
    service.acknowledge(opened.alert_id, DUTY_DESK)
    rows = service.notifications(opened.alert_id)
    assert [(n.step, n.gave_up_at is None) for n in rows] == [(0, True), (0, True), (1, False)]


def test_the_route_is_asked_at_each_step_for_the_current_duty(service, roster, clock):
    service.ingest(make_alert())
    clock.advance(minutes=5)
    service.escalate_due()
    assert roster.asked == [("wenyuan-2", T0), ("wenyuan-2", clock.now)]


def test_a_contact_with_several_channels_gets_one_notification_per_channel(engine, clock):
    both = contact("c-both", "duty", "json://127.0.0.1:9/a", "mailto://u@example.org")
    service = make_service(engine, MemoryRoster(first=(both,)), clock)
    opened = service.ingest(make_alert())
    assert opened.alert_id is not None
    rows = service.notifications(opened.alert_id)
    assert [n.channel for n in rows] == ["json", "mailto"]
    assert len({n.idempotency_key for n in rows}) == 2
    for n in rows:
        assert f"Idempotency-Key: {n.idempotency_key}" in n.body
        assert f"/alerts/{opened.alert_id}/ack-link?token=" in n.body


def test_nobody_on_the_route_is_written_in_the_history(engine, clock):
    service = make_service(engine, MemoryRoster(), clock)
    opened = service.ingest(make_alert())
    assert opened.alert_id is not None
    _, events = service.get(opened.alert_id)
    assert [e.action for e in events] == ["raised", "annotated"]
    assert service.notifications(opened.alert_id) == []
