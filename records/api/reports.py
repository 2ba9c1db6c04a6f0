"""``GET /reports/daily`` (JSON) and ``/reports/daily.csv``: the day per building, unit, grid
unit or class."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from thermogate.records.api.deps import ContextDep, HumanUser, SessionDep
from thermogate.records.api.errors import responses
from thermogate.records.audit import audit
from thermogate.records.context import RecordsContext
from thermogate.records.scope import visible_students
from thermogate.records.security.roles import Principal
from thermogate.records.services.reports import GroupBy, SummaryRow, daily_summary, to_csv
from thermogate.records.services.screening import deadline

router = APIRouter(tags=["reports"])

Day = Annotated[dt.date, Query(ge=dt.date(2000, 1, 1), le=dt.date(2100, 1, 1))]


class SummaryOut(BaseModel):
    """One group's counts of students for the day."""

    group: str
    students: int
    screened: int
    missing_morning: int
    missing_noon: int
    abnormal: int
    open_cases: int


class DailyReport(BaseModel):
    """The daily summary."""

    day: dt.date
    by: GroupBy
    rows: list[SummaryOut]


def _summary(
    day: dt.date, by: GroupBy, who: Principal, session: Session, context: RecordsContext
) -> list[SummaryRow]:
    records = context.settings.records
    due = (
        deadline(day, "morning", records.morning_deadline, records.noon_deadline, context.tz),
        deadline(day, "noon", records.morning_deadline, records.noon_deadline, context.tz),
    )
    rows = daily_summary(session, day, by, visible_students(who), due)
    audit(session, who, at=context.clock(), action="read", resource="report", detail=f"{day} {by}")
    session.commit()
    return rows


@router.get("/reports/daily", responses=responses(403))
def daily(
    day: Day, who: HumanUser, session: SessionDep, context: ContextDep, by: GroupBy = "building"
) -> DailyReport:
    """Screened, missing (by each deadline), abnormal and open cases, for the caller's scope."""
    rows = _summary(day, by, who, session, context)
    return DailyReport(
        day=day,
        by=by,
        rows=[
            SummaryOut(
                group=r.group,
                students=r.students,
                screened=r.screened,
                missing_morning=r.missing_morning,
                missing_noon=r.missing_noon,
                abnormal=r.abnormal,
                open_cases=r.open_cases,
            )
            for r in rows
        ],
    )


@router.get(
    "/reports/daily.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The summary as CSV."}},
)
def daily_csv(
    day: Day, who: HumanUser, session: SessionDep, context: ContextDep, by: GroupBy = "building"
) -> Response:
    """The same summary as CSV (columns: day, by, group, students, screened, ...)."""
    rows = _summary(day, by, who, session, context)
    return Response(
        to_csv(rows, day, by),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="daily-{day}-{by}.csv"'},
    )
