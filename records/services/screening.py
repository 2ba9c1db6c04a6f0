"""Daily screening: morning and noon checks, who is missing by the deadline, absences.

A check's slot follows the local time it was taken (records.timezone): before 12:00 is the
``morning`` slot, 12:00 to 18:00 the ``noon`` slot; readings outside both still count as
returns from leave but are no daily check. A check counts for its deadline (10:00 and 14:00
by default) when taken at or before it; a later one is ``late``. Every student is expected to
report twice a day (on campus at the door or in the room, off campus and abroad by
self-report), as the plan asks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from thermogate.records.models import Absence, ScreeningCheck, Student

Slot = Literal["morning", "noon"]
NOON: Final = dt.time(12, 0)
EVENING: Final = dt.time(18, 0)


def slot_of(at: dt.datetime, tz: ZoneInfo) -> tuple[dt.date, Slot | None]:
    """The local day of ``at`` and its slot (None outside both)."""
    local = at.astimezone(tz)
    if local.time() < NOON:
        return local.date(), "morning"
    if local.time() < EVENING:
        return local.date(), "noon"
    return local.date(), None


def deadline(day: dt.date, slot: Slot, morning: str, noon: str, tz: ZoneInfo) -> dt.datetime:
    """When the ``slot`` check of ``day`` is due (aware, in UTC)."""
    hours, minutes = (int(p) for p in (morning if slot == "morning" else noon).split(":"))
    return dt.datetime.combine(day, dt.time(hours, minutes), tz).astimezone(dt.UTC)


def record_check(
    session: Session,
    student: Student,
    *,
    at: dt.datetime,
    temp_c: float,
    abnormal: bool,
    source: str,
    source_ref: str | None,
    recorded_by: str,
    tz: ZoneInfo,
) -> ScreeningCheck | None:
    """Add a check in the slot of ``at``; None outside the slots or for a reading counted before."""
    day, slot = slot_of(at, tz)
    if slot is None:
        return None
    if source_ref is not None and session.scalar(
        select(ScreeningCheck.id).where(ScreeningCheck.source_ref == source_ref)
    ):
        return None
    check = ScreeningCheck(
        student_id=student.id,
        day=day,
        slot=slot,
        source=source,
        source_ref=source_ref,
        measured_at=at,
        temp_c=temp_c,
        abnormal=abnormal,
        recorded_by=recorded_by,
    )
    session.add(check)
    session.flush()
    return check


@dataclass(frozen=True, slots=True)
class Missing:
    """A student without a check in time, with a late check or an absence if any."""

    student: Student
    late_at: dt.datetime | None
    absence_cause: str | None


def missing(
    session: Session,
    day: dt.date,
    slot: Slot,
    due: dt.datetime,
    scope: ColumnElement[bool],
) -> list[Missing]:
    """Students in ``scope`` without a ``slot`` check on ``day`` taken by ``due``."""
    students = session.scalars(select(Student).where(scope).order_by(Student.student_no)).all()
    checks = session.execute(
        select(ScreeningCheck.student_id, ScreeningCheck.measured_at).where(
            ScreeningCheck.day == day, ScreeningCheck.slot == slot
        )
    ).all()
    on_time = {sid for sid, at in checks if at <= due}
    late: dict[int, dt.datetime] = {}
    for sid, at in checks:
        if at > due and (sid not in late or at < late[sid]):
            late[sid] = at
    causes = dict(
        session.execute(select(Absence.student_id, Absence.cause).where(Absence.day == day)).all()
    )
    return [Missing(s, late.get(s.id), causes.get(s.id)) for s in students if s.id not in on_time]
