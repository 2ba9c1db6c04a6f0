"""The duty roster: shifts, who is on duty for a building at a time, and coverage gaps."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.orm import Session

from thermogate.records.api.deps import DeskUser, HumanUser, SessionDep
from thermogate.records.api.errors import responses, unprocessable
from thermogate.records.models import Building
from thermogate.records.services import lookup
from thermogate.records.services.people import RowError
from thermogate.records.services.roster import (
    Gap,
    OnDuty,
    ShiftIn,
    gaps,
    on_duty,
    shifts_between,
    upsert_shift,
)

router = APIRouter(tags=["roster"])

BuildingQuery = Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
MAX_WINDOW = dt.timedelta(days=62)


class ShiftOut(BaseModel):
    """A shift and who holds it."""

    building: str | None
    staff_no: str
    name: str
    position: str
    role: str
    starts_at: dt.datetime
    ends_at: dt.datetime


class Coverage(BaseModel):
    """The gaps of a building's coverage in a window (empty: covered round the clock)."""

    building: str
    start: dt.datetime
    end: dt.datetime
    gaps: list[Gap]


def _out(o: OnDuty) -> ShiftOut:
    return ShiftOut(
        building=o.building,
        staff_no=o.staff.staff_no,
        name=o.staff.name,
        position=o.staff.position,
        role=o.shift.role,
        starts_at=o.shift.starts_at,
        ends_at=o.shift.ends_at,
    )


def _building(session: Session, slug: str) -> Building:
    building = lookup.building(session, slug)
    if building is None:
        raise unprocessable(f"unknown building {slug}")
    return building


def _window(start: dt.datetime, end: dt.datetime) -> None:
    if not start < end <= start + MAX_WINDOW:
        raise unprocessable("end must be after start, at most 62 days later")


@router.post("/roster/shifts", status_code=status.HTTP_201_CREATED, responses=responses(403, 422))
def add_shift(body: ShiftIn, _: DeskUser, session: SessionDep) -> ShiftIn:
    """Add a shift, or move the end of the same person's shift with the same start."""
    try:
        upsert_shift(session, body)
    except RowError as exc:
        raise unprocessable(f"{exc.column}: {exc}") from None
    session.commit()
    return body


@router.get("/roster/shifts", responses=responses(422))
def list_shifts(
    building: BuildingQuery,
    start: Annotated[AwareDatetime, Query()],
    end: Annotated[AwareDatetime, Query()],
    _: HumanUser,
    session: SessionDep,
) -> list[ShiftOut]:
    """Shifts of a building (and campus-wide ones) overlapping ``[start, end)``."""
    _window(start, end)
    return [_out(o) for o in shifts_between(session, _building(session, building), start, end)]


@router.get("/roster/on-duty", responses=responses(422))
def who_is_on_duty(
    building: BuildingQuery,
    at: Annotated[AwareDatetime, Query()],
    _: HumanUser,
    session: SessionDep,
) -> list[ShiftOut]:
    """Who is on duty for ``building`` at ``at``: duty staff, duty leader, clinic liaison."""
    return [_out(o) for o in on_duty(session, _building(session, building), at)]


@router.get("/roster/gaps", responses=responses(422))
def coverage_gaps(
    building: BuildingQuery,
    start: Annotated[AwareDatetime, Query()],
    end: Annotated[AwareDatetime, Query()],
    _: HumanUser,
    session: SessionDep,
) -> Coverage:
    """Intervals of ``[start, end)`` with nobody at the duty desk or no clinic liaison on call."""
    _window(start, end)
    found = gaps(session, _building(session, building), start, end)
    return Coverage(
        building=building, start=start.astimezone(dt.UTC), end=end.astimezone(dt.UTC), gaps=found
    )
