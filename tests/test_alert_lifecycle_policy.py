"""The lifecycle's pure rules: episode keys, kind ranking, roles, escalation contacts, and
every contract alert kind either opening, closing or being left to the gateway's prompts."""

from __future__ import annotations

import pytest
from lifecycle_kit import DEPUTY, DUTY, LEADER, LIAISON, device_alert, make_alert

from thermogate.alerts.lifecycle.policy import (
    CLOSING_KINDS,
    LIFECYCLE_KINDS,
    SEVERITY,
    Actor,
    episode_key,
    may_acknowledge,
    may_clear,
    step_contacts,
    stronger_kind,
)
from thermogate.alerts.lifecycle.routing import Route
from thermogate.contract.messages import AlertKind


def test_every_contract_kind_has_a_place():
    assert set(AlertKind) == LIFECYCLE_KINDS | CLOSING_KINDS | {AlertKind.RECHECK}
    assert set(SEVERITY) == LIFECYCLE_KINDS


def test_fever_kinds_of_one_person_share_a_key_and_unidentified_readings_do_not():
    confirmed = make_alert(AlertKind.FEVER, seq=1)
    unconfirmed = make_alert(AlertKind.FEVER_UNCONFIRMED, seq=2)
    assert episode_key(confirmed) == episode_key(unconfirmed) == "fever:person:p-0a1b2c3d"
    a = make_alert(AlertKind.FEVER_UNCONFIRMED, seq=3, person=None)
    b = make_alert(AlertKind.FEVER_UNCONFIRMED, seq=4, person=None)
    assert episode_key(a) != episode_key(b)


def test_device_kinds_pair_up():
    assert episode_key(device_alert(AlertKind.DEVICE_OFFLINE)) == episode_key(
        device_alert(AlertKind.DEVICE_BACK)
    )
    assert episode_key(device_alert(AlertKind.DEVICE_FAULT)) == episode_key(
        device_alert(AlertKind.DEVICE_RECOVERED)
    )
    assert episode_key(device_alert(AlertKind.DEVICE_FAULT)) != episode_key(
        device_alert(AlertKind.DEVICE_OFFLINE)
    )


def test_a_fever_outranks_unconfirmed_and_other_kinds_keep_theirs():
    assert stronger_kind(AlertKind.FEVER_UNCONFIRMED, AlertKind.FEVER) is AlertKind.FEVER
    assert stronger_kind(AlertKind.FEVER, AlertKind.FEVER_UNCONFIRMED) is AlertKind.FEVER
    assert stronger_kind(AlertKind.EDGE_BACKLOG, AlertKind.EDGE_BACKLOG) is AlertKind.EDGE_BACKLOG


@pytest.mark.parametrize(
    ("kind", "role", "allowed"),
    [
        (AlertKind.FEVER, "clinic", True),
        (AlertKind.FEVER, "duty", False),
        (AlertKind.FEVER, "admin", False),
        (AlertKind.FEVER_UNCONFIRMED, "clinic", True),
        (AlertKind.DEVICE_OFFLINE, "duty", True),
        (AlertKind.DEVICE_OFFLINE, "clinic", False),
        (AlertKind.EDGE_BACKLOG, "admin", True),
        (AlertKind.GATEWAY_LAGGING, "duty", True),
        (AlertKind.LEAVE_OVERDUE, "unit_supervisor", True),
        (AlertKind.LEAVE_OVERDUE, "contact", False),
    ],
)
def test_who_clears_what(kind, role, allowed):
    assert may_clear(kind, Actor("u", role)) is allowed


def test_who_acknowledges():
    for role in ("admin", "duty", "clinic", "unit_supervisor", "grid_leader", "contact"):
        assert may_acknowledge(Actor("u", role))
    for role in ("student", "gateway", ""):
        assert not may_acknowledge(Actor("u", role))


def test_escalation_steps_walk_the_list_and_repeat_the_last():
    route = Route(first=(LIAISON, DUTY), escalation=(DEPUTY, LEADER))
    fever = AlertKind.FEVER
    assert [c.contact_id for c in step_contacts(route, 0, fever)] == ["c-liaison", "c-duty"]
    assert [c.contact_id for c in step_contacts(route, 1, fever)] == ["c-deputy"]
    assert [c.contact_id for c in step_contacts(route, 2, fever)] == ["c-leader"]
    assert [c.contact_id for c in step_contacts(route, 7, fever)] == ["c-leader"]
    assert list(step_contacts(Route(first=(DUTY,)), 3, fever)) == [DUTY]


def test_the_clinic_liaison_hears_of_fevers_and_the_desk_of_devices():
    route = Route(first=(LIAISON, DUTY), escalation=(DEPUTY,))
    assert list(step_contacts(route, 0, AlertKind.FEVER_UNCONFIRMED)) == [LIAISON, DUTY]
    assert list(step_contacts(route, 0, AlertKind.DEVICE_OFFLINE)) == [DUTY]
    assert list(step_contacts(route, 0, AlertKind.LEAVE_OVERDUE)) == [DUTY]
    assert list(step_contacts(route, 1, AlertKind.EDGE_BACKLOG)) == [DEPUTY]
    # Nobody but the liaison on the route: better the liaison than nobody.
    assert list(step_contacts(Route(first=(LIAISON,)), 0, AlertKind.DEVICE_OFFLINE)) == [LIAISON]
