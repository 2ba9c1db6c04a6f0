"""Students, staff and grid units: the upserts shared by the API and the CSV import.

Each ``upsert_*`` takes a validated row, resolves its references by key and creates or
updates the row with that key (so a re-import never duplicates); a reference to nothing known
raises :class:`RowError` naming the column.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from thermogate.contract.pseudonym import pseudonymous_id
from thermogate.records.fields import Key, Name, Short, SlugText
from thermogate.records.models import GridMember, Staff, Student
from thermogate.records.services import lookup

Situation = Literal["on_campus", "off_campus_domestic", "abroad"]
Position = Literal[
    "duty", "clinic_liaison", "unit_supervisor", "class_adviser", "teacher", "college_staff"
]
WorkGroupRole = Literal["leader", "deputy", "member"]
SubGroup = Literal[
    "teaching", "student_affairs", "apartment", "medical_supplies", "activities", "publicity"
]
CardId = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{4,32}$")]
NotifyUrl = Annotated[str, Field(min_length=4, max_length=500, pattern=r"^[a-z0-9+]+://\S+$")]


class RowError(ValueError):
    """A row names something unknown; ``column`` says which value."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


class StudentIn(BaseModel):
    """A student as imported or posted; the unit follows from the room."""

    student_no: Key
    name: Name
    situation: Situation
    college: Name
    grade: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[^\x00]*$")]
    class_name: Short
    building: SlugText | None = None
    room: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,16}$")] | None = None
    grid_unit: Key | None = None
    card_id: CardId | None = None


class StaffIn(BaseModel):
    """A staff member as imported or posted."""

    staff_no: Key
    name: Name
    position: Position
    work_group_role: WorkGroupRole | None = None
    sub_group: SubGroup | None = None
    sub_group_role: Literal["leader", "member"] | None = None
    supervises_unit: Key | None = None
    grid_unit: Key | None = None
    grid_role: Literal["leader", "member"] | None = None
    phone: Annotated[str, Field(pattern=r"^[0-9+ -]{3,32}$")] | None = None
    notify_urls: Annotated[list[NotifyUrl], Field(max_length=10)] = Field(default_factory=list)


def upsert_student(session: Session, row: StudentIn, pseudonym_key: bytes) -> bool:
    """Create or update the student ``row.student_no``; True when created."""
    building_id = unit_id = room_id = grid_unit_id = None
    if row.building is not None:
        building = lookup.building(session, row.building)
        if building is None:
            raise RowError("building", f"unknown building {row.building!r}")
        building_id = building.id
    if row.room is not None:
        if building_id is None:
            raise RowError("room", "a room needs its building")
        room = lookup.room(session, building_id, row.room)
        if room is None:
            raise RowError("room", f"unknown room {row.room!r} in {row.building}")
        room_id, unit_id = room.id, room.unit_id
    if row.grid_unit is not None:
        grid = lookup.grid_unit(session, row.grid_unit)
        if grid is None:
            raise RowError("grid_unit", f"unknown grid unit {row.grid_unit!r}")
        grid_unit_id = grid.id
    card = row.card_id.strip().upper() if row.card_id else None
    person = pseudonymous_id(card, pseudonym_key) if card else None
    student = lookup.student(session, row.student_no)
    if card is not None:
        holder = session.scalar(select(Student).where(Student.card_id == card))
        if holder is not None and holder is not student:
            raise RowError("card_id", f"card already held by student {holder.student_no}")
    values = {
        "name": row.name,
        "situation": row.situation,
        "college": row.college,
        "grade": row.grade,
        "class_name": row.class_name,
        "building_id": building_id,
        "unit_id": unit_id,
        "room_id": room_id,
        "grid_unit_id": grid_unit_id,
        "card_id": card,
        "person_id": person,
    }
    if student is None:
        session.add(Student(student_no=row.student_no, **values))
        session.flush()
        return True
    for key, value in values.items():
        setattr(student, key, value)
    session.flush()
    return False


def upsert_staff(session: Session, row: StaffIn) -> bool:
    """Create or update the staff member ``row.staff_no`` (and their grid unit); True if new."""
    unit_id = None
    if row.supervises_unit is not None:
        unit = lookup.unit(session, row.supervises_unit)
        if unit is None:
            raise RowError("supervises_unit", f"unknown unit {row.supervises_unit!r}")
        unit_id = unit.id
    grid_id = None
    if row.grid_unit is not None:
        grid = lookup.grid_unit(session, row.grid_unit)
        if grid is None:
            raise RowError("grid_unit", f"unknown grid unit {row.grid_unit!r}")
        grid_id = grid.id
    staff = lookup.staff(session, row.staff_no)
    if unit_id is not None:
        other = session.scalar(select(Staff).where(Staff.supervises_unit_id == unit_id))
        if other is not None and other is not staff:
            raise RowError(
                "supervises_unit", f"unit {row.supervises_unit} is supervised by {other.staff_no}"
            )
    values = {
        "name": row.name,
        "position": row.position,
        "work_group_role": row.work_group_role,
        "sub_group": row.sub_group,
        "sub_group_role": row.sub_group_role,
        "supervises_unit_id": unit_id,
        "phone": row.phone,
        "notify_urls": list(row.notify_urls),
    }
    created = staff is None
    if staff is None:
        staff = Staff(staff_no=row.staff_no, **values)
        session.add(staff)
    else:
        for key, value in values.items():
            setattr(staff, key, value)
    session.flush()
    session.execute(delete(GridMember).where(GridMember.staff_id == staff.id))
    if grid_id is not None:
        session.add(
            GridMember(grid_unit_id=grid_id, staff_id=staff.id, role=row.grid_role or "member")
        )
    session.flush()
    return created
