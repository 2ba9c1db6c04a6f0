"""The daily summary per building, unit, grid unit or class: screened, missing, abnormal,
open cases."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Final, Literal

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from thermogate.records.models import (
    Building,
    DormUnit,
    FeverCase,
    GridUnit,
    ScreeningCheck,
    Student,
)

GroupBy = Literal["building", "unit", "grid_unit", "class"]
NONE_GROUP: Final = "(none)"


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One group's day (counts of students)."""

    group: str
    students: int
    screened: int
    """Students with at least one check that day."""
    missing_morning: int
    missing_noon: int
    abnormal: int
    """Students with an abnormal check that day."""
    open_cases: int


def daily_summary(
    session: Session,
    day: dt.date,
    by: GroupBy,
    scope: ColumnElement[bool],
    due: tuple[dt.datetime, dt.datetime],
) -> list[SummaryRow]:
    """The summary of ``day`` for the students in ``scope``; ``due`` = the two deadlines."""
    key = {
        "building": Building.slug,
        "unit": DormUnit.code,
        "grid_unit": GridUnit.code,
        "class": Student.class_name,
    }[by]
    students = session.execute(
        select(Student.id, key)
        .outerjoin(Building, Building.id == Student.building_id)
        .outerjoin(DormUnit, DormUnit.id == Student.unit_id)
        .outerjoin(GridUnit, GridUnit.id == Student.grid_unit_id)
        .where(scope)
    ).all()
    group_of = {sid: group or NONE_GROUP for sid, group in students}
    checks = session.execute(
        select(
            ScreeningCheck.student_id,
            ScreeningCheck.slot,
            ScreeningCheck.measured_at,
            ScreeningCheck.abnormal,
        ).where(ScreeningCheck.day == day)
    ).all()
    screened: set[int] = set()
    on_time: dict[str, set[int]] = {"morning": set(), "noon": set()}
    abnormal: set[int] = set()
    for sid, slot, at, bad in checks:
        screened.add(sid)
        if at <= (due[0] if slot == "morning" else due[1]):
            on_time[slot].add(sid)
        if bad:
            abnormal.add(sid)
    open_cases = {
        sid
        for (sid,) in session.execute(
            select(FeverCase.student_id).where(FeverCase.status == "open")
        )
        if sid is not None
    }
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    for sid, group in group_of.items():
        row = counts[group]
        row[0] += 1
        row[1] += sid in screened
        row[2] += sid not in on_time["morning"]
        row[3] += sid not in on_time["noon"]
        row[4] += sid in abnormal
        row[5] += sid in open_cases
    return [SummaryRow(group, *values) for group, values in sorted(counts.items())]


def to_csv(rows: list[SummaryRow], day: dt.date, by: GroupBy) -> str:
    """The summary as CSV with a header row (UTF-8, comma separated)."""
    out = io.StringIO()
    fields = ["day", "by", *SummaryRow.__dataclass_fields__]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({"day": day.isoformat(), "by": by, **asdict(row)})
    return out.getvalue()
