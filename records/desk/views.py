"""What the desk page shows: open alerts and open cases, with names only where allowed.

Alerts come from the lifecycle (pseudonymous ids, as every reader of ``GET /alerts`` sees
them); the student's name, number and dorm unit are added only for people in the caller's
scope (:func:`thermogate.records.scope.visible_students`), so a unit supervisor sees the
names of their own unit's students and pseudonymous ids for everyone else. Cases are the ones
the caller may see, exactly as ``GET /cases`` returns them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from thermogate.alerts.lifecycle.policy import Actor, may_acknowledge, may_clear
from thermogate.alerts.lifecycle.service import LifecycleService
from thermogate.alerts.lifecycle.tables import LifecycleAlert
from thermogate.contract.messages import AlertKind
from thermogate.records.models import DormUnit, FeverCase, FollowUp, Student
from thermogate.records.scope import visible_students
from thermogate.records.security.roles import Principal
from thermogate.records.services.cases import CLOSERS, cases_of, entries

ALERTS_SHOWN = 200


@dataclass(frozen=True, slots=True)
class Resident:
    """Who is behind a pseudonymous id, for a caller allowed to know."""

    name: str
    student_no: str
    unit: str | None


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One open alert as the page shows it, with what the caller may do to it."""

    alert: LifecycleAlert
    age: str
    resident: Resident | None
    case_id: int | None
    may_acknowledge: bool
    may_clear: bool


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One open case with its entries."""

    case: FeverCase
    resident: Resident | None
    age: str
    entries: Sequence[FollowUp]


def age(now: dt.datetime, since: dt.datetime) -> str:
    """A short, human age: ``just now``, ``4 min``, ``2 h 05 min``, ``3 d 4 h``."""
    seconds = max(0, int((now - since).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 1:
        return "just now"
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{days} d {hours % 24} h"


def actor_of(who: Principal) -> Actor:
    """The lifecycle's actor for a desk user (the same mapping as the API's)."""
    return Actor(who.username, who.role.value)


def residents(session: Session, who: Principal, person_ids: Iterable[str]) -> dict[str, Resident]:
    """Name, number and unit of the people behind ``person_ids`` that ``who`` may see."""
    wanted = sorted(set(person_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(Student.person_id, Student.name, Student.student_no, DormUnit.code)
        .outerjoin(DormUnit, DormUnit.id == Student.unit_id)
        .where(Student.person_id.in_(wanted), visible_students(who))
    )
    return {
        person: Resident(name=name, student_no=number, unit=unit)
        for person, name, number, unit in rows
        if person is not None
    }


def open_cases(session: Session, who: Principal, now: dt.datetime) -> list[CaseRow]:
    """The open cases ``who`` may see, newest first, each with its entries."""
    rows = session.execute(
        cases_of(who)
        .where(FeverCase.status == "open")
        .order_by(FeverCase.opened_at.desc(), FeverCase.id.desc())
    ).all()
    known = residents(session, who, (case.person_id for case, _ in rows))
    return [
        CaseRow(
            case=case,
            resident=known.get(case.person_id),
            age=age(now, case.opened_at),
            entries=entries(session, case.id),
        )
        for case, _ in rows
    ]


def open_alerts(
    service: LifecycleService,
    session: Session,
    who: Principal,
    now: dt.datetime,
    cases: Sequence[CaseRow],
) -> list[AlertRow]:
    """The open lifecycle alerts, newest first, with names and cases where ``who`` may see."""
    alerts = service.alerts(open_only=True, limit=ALERTS_SHOWN)
    known = residents(session, who, (a.person_id for a in alerts if a.person_id))
    case_of = {row.case.person_id: row.case.id for row in cases}
    actor = actor_of(who)
    return [
        AlertRow(
            alert=alert,
            age=age(now, alert.raised_at),
            resident=None if alert.person_id is None else known.get(alert.person_id),
            case_id=None if alert.person_id is None else case_of.get(alert.person_id),
            may_acknowledge=alert.state == "raised" and may_acknowledge(actor),
            may_clear=may_clear(AlertKind(alert.kind), actor),
        )
        for alert in alerts
    ]


def may_close_cases(who: Principal) -> bool:
    """Whether the page offers to close cases (the rule itself is enforced by the service)."""
    return who.role in CLOSERS
