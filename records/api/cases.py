"""Fever cases: opened from the gateway's alerts, followed up, closed only by the clinic.

Reads and changes are audited. Unit supervisors and grid leaders see the cases of their own
students (a case of someone not on the register only admin, duty and clinic see).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from thermogate.contract.messages import Alert
from thermogate.records.api.deps import ClinicUser, HumanUser, NowDep, SessionDep, require
from thermogate.records.api.errors import conflict, not_found, responses, unprocessable
from thermogate.records.audit import audit
from thermogate.records.fields import Note, Reason, RowId, TempC
from thermogate.records.models import FeverCase, FollowUp, Student
from thermogate.records.security.roles import Principal, Role
from thermogate.records.services import cases as case_rules
from thermogate.records.services.cases import (
    CaseForbiddenError,
    CaseStateError,
    FollowUpKind,
    NotACaseError,
    cases_of,
    close,
    entries,
    open_from_alert,
    visible_case,
)

router = APIRouter(tags=["cases"])

AlertSender = Annotated[
    Principal, Depends(require(Role.GATEWAY, Role.ADMIN, Role.DUTY, Role.CLINIC))
]
CaseId = Annotated[RowId, Path()]


class FollowUpIn(BaseModel):
    """A re-measurement (with its temperature), a clinic visit or a note."""

    kind: FollowUpKind
    temp_c: TempC | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _complete(self) -> FollowUpIn:
        if self.kind == "remeasurement" and self.temp_c is None:
            raise ValueError("a remeasurement needs temp_c")
        if self.kind != "remeasurement" and self.note is None:
            raise ValueError(f"a {self.kind} needs a note")
        return self


class FollowUpOut(BaseModel):
    """An entry of a case."""

    kind: str
    at: dt.datetime
    temp_c: float | None
    note: str | None
    alert_id: str | None
    author: str


class CloseIn(BaseModel):
    """The clinician's conclusion."""

    outcome: Reason


class CaseOut(BaseModel):
    """A case, with its entries when asked for one case."""

    id: int
    person_id: str
    student_no: str | None
    building: str
    status: str
    kind: str
    severity: str
    opened_at: dt.datetime
    last_alert_at: dt.datetime
    max_temp_c: float | None
    closed_at: dt.datetime | None
    closed_by: str | None
    outcome: str | None
    follow_ups: list[FollowUpOut] | None = None


def _out(case: FeverCase, student_no: str | None, entries: list[FollowUp] | None = None) -> CaseOut:
    return CaseOut(
        id=case.id,
        person_id=case.person_id,
        student_no=student_no,
        building=case.building,
        status=case.status,
        kind=case.kind,
        severity=case.severity,
        opened_at=case.opened_at,
        last_alert_at=case.last_alert_at,
        max_temp_c=case.max_temp_c,
        closed_at=case.closed_at,
        closed_by=case.closed_by,
        outcome=case.outcome,
        follow_ups=None
        if entries is None
        else [
            FollowUpOut(
                kind=e.kind,
                at=e.at,
                temp_c=e.temp_c,
                note=e.note,
                alert_id=e.alert_id,
                author=e.author,
            )
            for e in entries
        ],
    )


def _visible_case(session: Session, who: Principal, case_id: int) -> tuple[FeverCase, str | None]:
    found = visible_case(session, who, case_id)
    if found is None:
        raise not_found(f"case {case_id}")
    return found


@router.post(
    "/cases/from-alert",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Added to the open case."}, **responses(403, 422)},
)
def case_from_alert(
    alert: Alert, who: AlertSender, session: SessionDep, now: NowDep, response: Response
) -> CaseOut:
    """Open the person's case from an alert (201), or add the alert to the open one (200)."""
    try:
        case, created = open_from_alert(session, alert, who.username)
    except NotACaseError as exc:
        raise unprocessable(str(exc)) from None
    audit(
        session,
        who,
        at=now,
        action="create" if created else "update",
        resource="fever_case",
        resource_id=case.id,
        detail=f"alert {alert.alert_id}",
    )
    session.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
    student_no = session.scalar(select(Student.student_no).where(Student.id == case.student_id))
    return _out(case, student_no)


@router.get("/cases", responses=responses(403))
def list_cases(
    who: HumanUser,
    session: SessionDep,
    now: NowDep,
    status_: Annotated[Literal["open", "closed"] | None, Query(alias="status")] = None,
) -> list[CaseOut]:
    """Cases the caller may see, newest first."""
    query = cases_of(who).order_by(FeverCase.opened_at.desc(), FeverCase.id.desc())
    if status_ is not None:
        query = query.where(FeverCase.status == status_)
    rows = [_out(c, no) for c, no in session.execute(query)]
    audit(session, who, at=now, action="read", resource="fever_case", detail=f"status={status_}")
    session.commit()
    return rows


@router.get("/cases/{case_id}", responses=responses(403, 404))
def get_case(case_id: CaseId, who: HumanUser, session: SessionDep, now: NowDep) -> CaseOut:
    """One case with every entry."""
    case, student_no = _visible_case(session, who, case_id)
    audit(session, who, at=now, action="read", resource="fever_case", resource_id=case.id)
    session.commit()
    return _out(case, student_no, entries(session, case.id))


@router.post(
    "/cases/{case_id}/follow-ups",
    status_code=status.HTTP_201_CREATED,
    responses=responses(403, 404, 409),
)
def add_follow_up(
    case_id: CaseId, body: FollowUpIn, who: HumanUser, session: SessionDep, now: NowDep
) -> CaseOut:
    """Add a re-measurement, a clinic visit or a note to an open case."""
    case, student_no = _visible_case(session, who, case_id)
    try:
        entry = case_rules.add_follow_up(
            session,
            case,
            kind=body.kind,
            at=now,
            author=who.username,
            temp_c=body.temp_c,
            note=body.note,
        )
    except CaseStateError as exc:
        raise conflict(str(exc)) from None
    audit(session, who, at=now, action="create", resource="follow_up", resource_id=entry.id)
    session.commit()
    return _out(case, student_no, entries(session, case.id))


@router.post("/cases/{case_id}/close", responses=responses(403, 404, 409))
def close_case(
    case_id: CaseId, body: CloseIn, who: ClinicUser, session: SessionDep, now: NowDep
) -> CaseOut:
    """Clear a case: the clinic only (403 for every other role, admin included)."""
    case, student_no = _visible_case(session, who, case_id)
    try:
        close(case, who, now, body.outcome)
    except CaseForbiddenError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except CaseStateError as exc:
        raise conflict(str(exc)) from None
    audit(session, who, at=now, action="close", resource="fever_case", resource_id=case.id)
    session.commit()
    return _out(case, student_no, entries(session, case.id))
