"""Scoping: which students a caller may see, as a SQL condition applied in every query."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, true

from thermogate.records.models import Student
from thermogate.records.security.roles import Principal, Role


def visible_students(who: Principal) -> ColumnElement[bool]:
    """The condition on :class:`Student` rows ``who`` may see.

    A unit supervisor sees the students of their dorm unit, a grid leader those of their
    grid unit; an account of either role without its unit sees nobody. Other roles see all.
    Rows outside the scope are simply not found (404), so their existence is not revealed.
    """
    if who.role is Role.UNIT_SUPERVISOR:
        return Student.unit_id == who.unit_id if who.unit_id is not None else false()
    if who.role is Role.GRID_LEADER:
        return Student.grid_unit_id == who.grid_unit_id if who.grid_unit_id is not None else false()
    return true()
