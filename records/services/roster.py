"""The duty roster: who is on duty for a building at a time, and gaps in coverage.

A building is covered when someone holds a ``duty`` shift there and a clinic liaison is on
call (a ``clinic_liaison`` shift there or campus-wide); shifts are half-open intervals
``[starts_at, ends_at)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from thermogate.records.fields import Key, SlugText
from thermogate.records.models import Building, DutyShift, Staff
from thermogate.records.services import lookup
from thermogate.records.services.people import RowError

ShiftRole = Literal["duty", "leader", "clinic_liaison"]
COVERED_ROLES: tuple[ShiftRole, ...] = ("duty", "clinic_liaison")
"""The roles a building needs round the clock."""
MAX_SHIFT = dt.timedelta(days=2)


class ShiftIn(BaseModel):
    """A shift as imported or posted; no building means campus-wide."""

    building: SlugText | None = None
    staff_no: Key
    role: ShiftRole
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> ShiftIn:
        if not self.starts_at < self.ends_at <= self.starts_at + MAX_SHIFT:
            raise ValueError("ends_at must be after starts_at, at most 48 h later")
        return self


@dataclass(frozen=True, slots=True)
class OnDuty:
    """One person on duty at the asked time."""

    shift: DutyShift
    staff: Staff
    building: str | None


class Gap(BaseModel):
    """An interval of a building without anyone in ``role``."""

    role: ShiftRole
    start: dt.datetime
    end: dt.datetime


Window = Annotated[dt.timedelta, Field(le=dt.timedelta(days=62))]


def upsert_shift(session: Session, row: ShiftIn) -> bool:
    """Create or update the shift keyed by building, staff, role and start; True if new."""
    building_id = None
    if row.building is not None:
        building = lookup.building(session, row.building)
        if building is None:
            raise RowError("building", f"unknown building {row.building!r}")
        building_id = building.id
    staff = lookup.staff(session, row.staff_no)
    if staff is None:
        raise RowError("staff_no", f"unknown staff member {row.staff_no!r}")
    starts = row.starts_at.astimezone(dt.UTC)
    shift = session.scalar(
        select(DutyShift).where(
            DutyShift.building_id.is_(None)
            if building_id is None
            else DutyShift.building_id == building_id,
            DutyShift.staff_id == staff.id,
            DutyShift.role == row.role,
            DutyShift.starts_at == starts,
        )
    )
    if shift is None:
        session.add(
            DutyShift(
                building_id=building_id,
                staff_id=staff.id,
                role=row.role,
                starts_at=starts,
                ends_at=row.ends_at.astimezone(dt.UTC),
            )
        )
        session.flush()
        return True
    shift.ends_at = row.ends_at.astimezone(dt.UTC)
    session.flush()
    return False


def shifts_between(
    session: Session, building: Building, start: dt.datetime, end: dt.datetime
) -> list[OnDuty]:
    """Shifts of ``building`` (and campus-wide ones) overlapping ``[start, end)``."""
    rows = session.execute(
        select(DutyShift, Staff, Building.slug)
        .join(Staff, Staff.id == DutyShift.staff_id)
        .outerjoin(Building, Building.id == DutyShift.building_id)
        .where(
            or_(DutyShift.building_id == building.id, DutyShift.building_id.is_(None)),
            DutyShift.starts_at < end,
            DutyShift.ends_at > start,
        )
        .order_by(DutyShift.starts_at, Staff.staff_no)
    )
    return [OnDuty(shift, staff, slug) for shift, staff, slug in rows]


def on_duty(session: Session, building: Building, at: dt.datetime) -> list[OnDuty]:
    """Everyone on a shift covering ``at`` in ``building`` (campus-wide shifts included)."""
    return shifts_between(session, building, at, at + dt.timedelta(microseconds=1))


def gaps(session: Session, building: Building, start: dt.datetime, end: dt.datetime) -> list[Gap]:
    """Every interval of ``[start, end)`` where a covered role has nobody, per role.

    Only ``duty`` shifts at the building itself count for duty (a campus-wide duty shift
    would leave nobody at the desk); the clinic liaison may be campus-wide.
    """
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    found: list[Gap] = []
    shifts = shifts_between(session, building, start, end)
    for role in COVERED_ROLES:
        intervals = sorted(
            (max(o.shift.starts_at, start), min(o.shift.ends_at, end))
            for o in shifts
            if o.shift.role == role and (role != "duty" or o.building is not None)
        )
        cursor = start
        for begin, finish in intervals:
            if begin > cursor:
                found.append(Gap(role=role, start=cursor, end=begin))
            cursor = max(cursor, finish)
        if cursor < end:
            found.append(Gap(role=role, start=cursor, end=end))
    return found
