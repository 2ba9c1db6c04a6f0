"""Fever cases: one open case per person, opened or updated by alerts, closed by the clinic.

An alert about a person (``fever``, ``fever_unconfirmed``, ``recheck``) opens that person's
case, or adds to the open one; the same alert id is taken once, so a redelivered alert
changes nothing. A closed case stays closed: the next alert opens a new episode.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from thermogate.contract.messages import Alert, AlertKind, Severity
from thermogate.records.models import FeverCase, FollowUp, Student
from thermogate.records.scope import visible_students
from thermogate.records.security.roles import Principal, Role

FollowUpKind = Literal["remeasurement", "clinic_visit", "note"]
"""What a person adds to a case (``alert`` entries come from alerts only)."""
CLOSERS: Final = frozenset({Role.CLINIC})
"""The roles that may clear a case: a clinician's decision, nobody else's (admin included)."""
CASE_KINDS: Final = (AlertKind.RECHECK, AlertKind.FEVER_UNCONFIRMED, AlertKind.FEVER)
"""Alert kinds about a person, least to most serious."""
SEVERITIES: Final = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)


class NotACaseError(ValueError):
    """The alert is not about a person (a device, an edge) or names nobody."""


def open_from_alert(session: Session, alert: Alert, author: str) -> tuple[FeverCase, bool]:
    """The person's case after ``alert``, and whether it was opened by it."""
    if alert.kind not in CASE_KINDS:
        raise NotACaseError(f"a {alert.kind.value} alert is not about a person")
    if alert.person_id is None:
        raise NotACaseError("the alert names no person (an unidentified reading)")
    seen = session.scalar(select(FollowUp).where(FollowUp.alert_id == alert.alert_id))
    if seen is not None:
        case = session.get(FeverCase, seen.case_id)
        assert case is not None
        return case, False
    case = session.scalar(
        select(FeverCase).where(FeverCase.person_id == alert.person_id, FeverCase.status == "open")
    )
    created = case is None
    if case is None:
        student_id = session.scalar(select(Student.id).where(Student.person_id == alert.person_id))
        case = FeverCase(
            person_id=alert.person_id,
            student_id=student_id,
            building=alert.building,
            status="open",
            kind=alert.kind.value,
            severity=alert.severity.value,
            opened_at=alert.ts,
            first_alert_id=alert.alert_id,
            last_alert_at=alert.ts,
            max_temp_c=alert.temp_c,
        )
        session.add(case)
        session.flush()
    else:
        if CASE_KINDS.index(alert.kind) > CASE_KINDS.index(AlertKind(case.kind)):
            case.kind = alert.kind.value
        if SEVERITIES.index(alert.severity) > SEVERITIES.index(Severity(case.severity)):
            case.severity = alert.severity.value
        case.last_alert_at = max(case.last_alert_at, alert.ts)
        if alert.temp_c is not None:
            case.max_temp_c = max(case.max_temp_c or alert.temp_c, alert.temp_c)
    session.add(
        FollowUp(
            case_id=case.id,
            kind="alert",
            at=alert.ts,
            temp_c=alert.temp_c,
            note=f"{alert.kind.value}: {alert.message}"[:2000],
            alert_id=alert.alert_id,
            author=author,
        )
    )
    session.flush()
    return case, created


class CaseStateError(ValueError):
    """The case is closed."""


class CaseForbiddenError(PermissionError):
    """The caller's role may not do this to a case (only the clinic closes one)."""


def cases_of(who: Principal) -> Select[FeverCase, str | None]:
    """Cases ``who`` may see, each with its student number (None off the register).

    A case of a person not on the register has no student, so scoped roles never see it.
    """
    return (
        select(FeverCase, Student.student_no)
        .outerjoin(Student, Student.id == FeverCase.student_id)
        .where(visible_students(who))
    )


def visible_case(
    session: Session, who: Principal, case_id: int
) -> tuple[FeverCase, str | None] | None:
    """The case and its student number if ``who`` may see it; None otherwise."""
    row = session.execute(cases_of(who).where(FeverCase.id == case_id)).first()
    return None if row is None else (row[0], row[1])


def entries(session: Session, case_id: int) -> list[FollowUp]:
    """The entries of a case, oldest first."""
    return list(
        session.scalars(
            select(FollowUp).where(FollowUp.case_id == case_id).order_by(FollowUp.at, FollowUp.id)
        )
    )


def add_follow_up(
    session: Session,
    case: FeverCase,
    *,
    kind: FollowUpKind,
    at: dt.datetime,
    author: str,
    temp_c: float | None = None,
    note: str | None = None,
) -> FollowUp:
    """Add an entry to an open case (flushed, so it has its id); :class:`CaseStateError` if
    the case is closed."""
    if case.status != "open":
        raise CaseStateError("the case is closed")
    entry = FollowUp(case_id=case.id, kind=kind, at=at, temp_c=temp_c, note=note, author=author)
    session.add(entry)
    session.flush()
    return entry


def close(case: FeverCase, who: Principal, at: dt.datetime, outcome: str) -> None:
    """Clear the case (the clinic's decision): :class:`CaseForbiddenError` for any other role,
    :class:`CaseStateError` if already closed."""
    if who.role not in CLOSERS:
        raise CaseForbiddenError(f"role {who.role.value} may not close a case (clinic only)")
    if case.status != "open":
        raise CaseStateError("the case is already closed")
    case.status, case.closed_at, case.closed_by, case.outcome = "closed", at, who.username, outcome
