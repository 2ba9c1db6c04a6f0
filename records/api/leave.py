"""Leave requests: request, approve or refuse, out, returned; overdue returns flagged.

Admin, duty staff, unit supervisors and grid leaders act on leave (the last two for their
own students only); the clinic reads. Every read and change is audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import AwareDatetime, BaseModel, model_validator
from sqlalchemy import select

from thermogate.records.api.deps import HumanUser, NowDep, SessionDep, require
from thermogate.records.api.errors import conflict, not_found, responses
from thermogate.records.api.people import visible_student
from thermogate.records.audit import audit
from thermogate.records.fields import Key, Reason, RowId, Short
from thermogate.records.models import LeaveRequest, Student
from thermogate.records.scope import visible_students
from thermogate.records.security.roles import Principal, Role
from thermogate.records.services.leave import LeaveAction, LeaveStateError, apply, is_overdue

router = APIRouter(tags=["leave"])

LeaveActor = Annotated[
    Principal,
    Depends(require(Role.ADMIN, Role.DUTY, Role.UNIT_SUPERVISOR, Role.GRID_LEADER)),
]
MAX_LEAVE = dt.timedelta(days=30)


class LeaveIn(BaseModel):
    """A request to go out."""

    student_no: Key
    reason: Reason
    destination: Short
    leaves_at: AwareDatetime
    returns_by: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> LeaveIn:
        if not self.leaves_at < self.returns_by <= self.leaves_at + MAX_LEAVE:
            raise ValueError("returns_by must be after leaves_at, at most 30 days later")
        return self


class LeaveOut(BaseModel):
    """A leave request and where it stands."""

    id: int
    student_no: str
    status: str
    reason: str
    destination: str
    leaves_at: dt.datetime
    returns_by: dt.datetime
    decided_by: str | None
    out_at: dt.datetime | None
    returned_at: dt.datetime | None
    return_source: str | None
    overdue: bool


def _out(leave: LeaveRequest, student_no: str, now: dt.datetime) -> LeaveOut:
    return LeaveOut(
        id=leave.id,
        student_no=student_no,
        status=leave.status,
        reason=leave.reason,
        destination=leave.destination,
        leaves_at=leave.leaves_at,
        returns_by=leave.returns_by,
        decided_by=leave.decided_by,
        out_at=leave.out_at,
        returned_at=leave.returned_at,
        return_source=leave.return_source,
        overdue=is_overdue(leave, now),
    )


@router.post("/leave", status_code=status.HTTP_201_CREATED, responses=responses(403, 404))
def request_leave(body: LeaveIn, who: LeaveActor, session: SessionDep, now: NowDep) -> LeaveOut:
    """Record a request to go out for a student the caller may see."""
    student = visible_student(session, who, body.student_no)
    leave = LeaveRequest(
        student_id=student.id,
        status="requested",
        reason=body.reason,
        destination=body.destination,
        leaves_at=body.leaves_at,
        returns_by=body.returns_by,
        requested_at=now,
    )
    session.add(leave)
    session.flush()
    audit(session, who, at=now, action="create", resource="leave", resource_id=leave.id)
    session.commit()
    return _out(leave, student.student_no, now)


@router.get("/leave", responses=responses(403))
def list_leave(
    who: HumanUser,
    session: SessionDep,
    now: NowDep,
    status_: Annotated[
        Literal["requested", "approved", "refused", "out", "returned"] | None,
        Query(alias="status"),
    ] = None,
    overdue: bool = False,
) -> list[LeaveOut]:
    """Leave of the students the caller may see; ``overdue=true``: out past their time."""
    query = (
        select(LeaveRequest, Student.student_no)
        .join(Student, Student.id == LeaveRequest.student_id)
        .where(visible_students(who))
        .order_by(LeaveRequest.id)
    )
    if status_ is not None:
        query = query.where(LeaveRequest.status == status_)
    if overdue:
        query = query.where(LeaveRequest.status == "out", LeaveRequest.returns_by < now)
    rows = [_out(leave, no, now) for leave, no in session.execute(query)]
    audit(
        session,
        who,
        at=now,
        action="read",
        resource="leave",
        detail=f"status={status_} overdue={overdue} rows={len(rows)}",
    )
    session.commit()
    return rows


@router.post("/leave/{leave_id}/{action}", responses=responses(403, 404, 409))
def act_on_leave(
    leave_id: Annotated[RowId, Path()],
    action: LeaveAction,
    who: LeaveActor,
    session: SessionDep,
    now: NowDep,
) -> LeaveOut:
    """``approve``, ``refuse``, ``out`` (the student left) or ``return`` (by hand)."""
    row = session.execute(
        select(LeaveRequest, Student.student_no)
        .join(Student, Student.id == LeaveRequest.student_id)
        .where(LeaveRequest.id == leave_id, visible_students(who))
    ).first()
    if row is None:
        raise not_found(f"leave {leave_id}")
    leave, student_no = row
    try:
        apply(leave, action, who.username, now)
    except LeaveStateError as exc:
        raise conflict(str(exc)) from None
    audit(
        session, who, at=now, action="update", resource="leave", resource_id=leave.id, detail=action
    )
    session.commit()
    return _out(leave, student_no, now)
