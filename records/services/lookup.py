"""Find rows by their external keys (slugs, codes, numbers), as imports and the API name them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from thermogate.records.models import (
    Building,
    DormUnit,
    Entrance,
    GridUnit,
    Room,
    Staff,
    Student,
)


def building(session: Session, slug: str) -> Building | None:
    """The building with this slug."""
    return session.scalar(select(Building).where(Building.slug == slug))


def unit(session: Session, code: str) -> DormUnit | None:
    """The dorm unit with this code."""
    return session.scalar(select(DormUnit).where(DormUnit.code == code))


def grid_unit(session: Session, code: str) -> GridUnit | None:
    """The grid unit with this code."""
    return session.scalar(select(GridUnit).where(GridUnit.code == code))


def room(session: Session, building_id: int, number: str) -> Room | None:
    """A room of a building by its number."""
    return session.scalar(
        select(Room).where(Room.building_id == building_id, Room.number == number)
    )


def entrance(session: Session, building_id: int, slug: str) -> Entrance | None:
    """An entrance of a building by its slug."""
    return session.scalar(
        select(Entrance).where(Entrance.building_id == building_id, Entrance.slug == slug)
    )


def staff(session: Session, staff_no: str) -> Staff | None:
    """The staff member with this number."""
    return session.scalar(select(Staff).where(Staff.staff_no == staff_no))


def student(session: Session, student_no: str) -> Student | None:
    """The student with this number."""
    return session.scalar(select(Student).where(Student.student_no == student_no))
