"""Daily screening: checks recorded through the API, who is missing, absences for illness.

Readings from the entrances and the in-room checks arrive through
``POST /integration/readings``; here staff record in-room checks and self-reports, list
checks, see who is missing by the deadline, and register absences with their cause. Every
read and change is audited; supervisors and grid leaders see their own students only.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import select

from thermogate.records.api.deps import ContextDep, HumanUser, NowDep, SessionDep, require
from thermogate.records.api.errors import responses, unprocessable
from thermogate.records.api.people import visible_student
from thermogate.records.audit import audit
from thermogate.records.fields import Key, Note, Reason, TempC
from thermogate.records.models import Absence, ScreeningCheck, Student
from thermogate.records.scope import visible_students
from thermogate.records.security.roles import Principal, Role
from thermogate.records.services.screening import Slot, deadline, missing, record_check

router = APIRouter(tags=["screening"])

Recorder = Annotated[
    Principal,
    Depends(require(Role.ADMIN, Role.DUTY, Role.UNIT_SUPERVISOR, Role.GRID_LEADER, Role.CLINIC)),
]
Day = Annotated[dt.date, Query(ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1))]


class CheckIn(BaseModel):
    """An in-room check by the unit's staff, or a student's self-report."""

    student_no: Key
    measured_at: AwareDatetime
    temp_c: TempC
    source: Literal["room", "self_report"]


class CheckOut(BaseModel):
    """A recorded check."""

    id: int
    student_no: str
    day: dt.date
    slot: str
    source: str
    measured_at: dt.datetime
    temp_c: float
    abnormal: bool
    recorded_by: str


class MissingOut(BaseModel):
    """A student without a check by the deadline."""

    student_no: str
    name: str
    class_name: str
    situation: str
    late_at: dt.datetime | None
    absence_cause: str | None


class MissingReport(BaseModel):
    """Who is missing a slot's check, as of the asked time."""

    day: dt.date
    slot: Slot
    deadline: dt.datetime
    past_deadline: bool
    students: list[MissingOut]


class AbsenceIn(BaseModel):
    """A student absent for illness on a day, with its cause."""

    student_no: Key
    day: Annotated[dt.date, Query(ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1))]
    cause: Reason
    note: Note | None = None


class AbsenceOut(AbsenceIn):
    """A registered absence."""

    id: int
    recorded_by: str


def _check_out(check: ScreeningCheck, student_no: str) -> CheckOut:
    return CheckOut(
        id=check.id,
        student_no=student_no,
        day=check.day,
        slot=check.slot,
        source=check.source,
        measured_at=check.measured_at,
        temp_c=check.temp_c,
        abnormal=check.abnormal,
        recorded_by=check.recorded_by,
    )


@router.post(
    "/screening/checks", status_code=status.HTTP_201_CREATED, responses=responses(403, 404, 422)
)
def add_check(
    body: CheckIn, who: Recorder, session: SessionDep, context: ContextDep, now: NowDep
) -> CheckOut:
    """Record a check; 422 when taken outside the morning and noon slots or in the future."""
    student = visible_student(session, who, body.student_no)
    if body.measured_at > now + dt.timedelta(minutes=5):
        raise unprocessable("measured_at is in the future")
    check = record_check(
        session,
        student,
        at=body.measured_at,
        temp_c=body.temp_c,
        abnormal=body.temp_c >= context.settings.gateway.threshold_c,
        source=body.source,
        source_ref=None,
        recorded_by=who.username,
        tz=context.tz,
    )
    if check is None:
        raise unprocessable("measured_at is outside the morning and noon slots")
    audit(session, who, at=now, action="create", resource="screening_check", resource_id=check.id)
    session.commit()
    return _check_out(check, student.student_no)


@router.get("/screening/checks", responses=responses(403))
def list_checks(
    day: Day,
    who: HumanUser,
    session: SessionDep,
    now: NowDep,
    student_no: Annotated[str | None, Query(max_length=32)] = None,
) -> list[CheckOut]:
    """Checks of a day, of the students the caller may see (optionally one student)."""
    query = (
        select(ScreeningCheck, Student.student_no)
        .join(Student, Student.id == ScreeningCheck.student_id)
        .where(ScreeningCheck.day == day, visible_students(who))
        .order_by(ScreeningCheck.measured_at, ScreeningCheck.id)
    )
    if student_no is not None:
        query = query.where(Student.student_no == student_no)
    rows = [_check_out(c, no) for c, no in session.execute(query)]
    audit(
        session,
        who,
        at=now,
        action="read",
        resource="screening_check",
        detail=f"day={day} student={student_no} rows={len(rows)}",
    )
    session.commit()
    return rows


@router.get("/screening/missing", responses=responses(403))
def who_is_missing(
    *,
    day: Day,
    slot: Slot,
    who: HumanUser,
    session: SessionDep,
    context: ContextDep,
    now: NowDep,
) -> MissingReport:
    """Students with no ``slot`` check on ``day`` by its deadline (10:00 / 14:00 local)."""
    records = context.settings.records
    due = deadline(day, slot, records.morning_deadline, records.noon_deadline, context.tz)
    found = missing(session, day, slot, due, visible_students(who))
    audit(
        session,
        who,
        at=now,
        action="read",
        resource="screening_check",
        detail=f"missing day={day} slot={slot} rows={len(found)}",
    )
    session.commit()
    return MissingReport(
        day=day,
        slot=slot,
        deadline=due,
        past_deadline=now > due,
        students=[
            MissingOut(
                student_no=m.student.student_no,
                name=m.student.name,
                class_name=m.student.class_name,
                situation=m.student.situation,
                late_at=m.late_at,
                absence_cause=m.absence_cause,
            )
            for m in found
        ],
    )


@router.post(
    "/screening/absences", status_code=status.HTTP_201_CREATED, responses=responses(403, 404)
)
def add_absence(body: AbsenceIn, who: Recorder, session: SessionDep, now: NowDep) -> AbsenceOut:
    """Register a student absent for illness, with its cause."""
    student = visible_student(session, who, body.student_no)
    absence = Absence(
        student_id=student.id,
        day=body.day,
        cause=body.cause,
        note=body.note,
        recorded_by=who.username,
        recorded_at=now,
    )
    session.add(absence)
    session.flush()
    audit(session, who, at=now, action="create", resource="absence", resource_id=absence.id)
    session.commit()
    return AbsenceOut(**body.model_dump(), id=absence.id, recorded_by=who.username)


@router.get("/screening/absences", responses=responses(403))
def list_absences(day: Day, who: HumanUser, session: SessionDep, now: NowDep) -> list[AbsenceOut]:
    """Absences of a day, of the students the caller may see."""
    rows = session.execute(
        select(Absence, Student.student_no)
        .join(Student, Student.id == Absence.student_id)
        .where(Absence.day == day, visible_students(who))
        .order_by(Absence.id)
    ).all()
    audit(session, who, at=now, action="read", resource="absence", detail=f"day={day}")
    session.commit()
    return [
        AbsenceOut(
            id=a.id, student_no=no, day=a.day, cause=a.cause, note=a.note, recorded_by=a.recorded_by
        )
        for a, no in rows
    ]
