"""People: students (scoped to the caller), staff and grid units.

Unit supervisors and grid leaders see only their own students; a student outside their
scope answers 404 (its existence is not revealed). Staff lists are for admin and duty.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from thermogate.records.api.deps import AdminUser, ContextDep, DeskUser, HumanUser, SessionDep
from thermogate.records.api.errors import not_found, responses, unprocessable
from thermogate.records.fields import Key, Name
from thermogate.records.models import Building, DormUnit, GridMember, GridUnit, Room, Staff, Student
from thermogate.records.scope import visible_students
from thermogate.records.security.roles import Principal
from thermogate.records.services.people import (
    RowError,
    StaffIn,
    StudentIn,
    upsert_staff,
    upsert_student,
)

router = APIRouter(tags=["people"])

StudentNo = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]


class StudentOut(BaseModel):
    """A student with the four levels of the plan and where they live."""

    student_no: str
    name: str
    situation: str
    college: str
    grade: str
    class_name: str
    building: str | None
    unit: str | None
    room: str | None
    grid_unit: str | None
    person_id: str | None


class GridUnitIn(BaseModel):
    """A grid unit."""

    code: Key
    name: Name


class GridUnitOut(GridUnitIn):
    """A grid unit with its leaders and members (staff numbers)."""

    leaders: list[str]
    members: list[str]


def student_rows(
    who: Principal,
) -> Select[Student, str | None, str | None, str | None, str | None]:
    """Students the caller may see, joined with the keys of their places."""
    return (
        select(Student, Building.slug, DormUnit.code, Room.number, GridUnit.code)
        .outerjoin(Building, Building.id == Student.building_id)
        .outerjoin(DormUnit, DormUnit.id == Student.unit_id)
        .outerjoin(Room, Room.id == Student.room_id)
        .outerjoin(GridUnit, GridUnit.id == Student.grid_unit_id)
        .where(visible_students(who))
    )


def student_out(row: Any) -> StudentOut:
    """The wire form of one row of :func:`student_rows`."""
    s, building, unit, room, grid = row
    return StudentOut(
        student_no=s.student_no,
        name=s.name,
        situation=s.situation,
        college=s.college,
        grade=s.grade,
        class_name=s.class_name,
        building=building,
        unit=unit,
        room=room,
        grid_unit=grid,
        person_id=s.person_id,
    )


def visible_student(session: Session, who: Principal, student_no: str) -> Student:
    """The student with this number if the caller may see them, else 404."""
    student = session.scalar(
        select(Student).where(Student.student_no == student_no, visible_students(who))
    )
    if student is None:
        raise not_found(f"student {student_no}")
    return student


@router.get("/students")
def list_students(  # noqa: PLR0917 - one query parameter per filter
    who: HumanUser,
    session: SessionDep,
    building: Annotated[str | None, Query(max_length=48)] = None,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    grid_unit: Annotated[str | None, Query(max_length=32)] = None,
    class_name: Annotated[str | None, Query(max_length=64)] = None,
) -> list[StudentOut]:
    """The students the caller may see, filtered by building, unit, grid unit or class."""
    query = student_rows(who).order_by(Student.student_no)
    if building is not None:
        query = query.where(Building.slug == building)
    if unit is not None:
        query = query.where(DormUnit.code == unit)
    if grid_unit is not None:
        query = query.where(GridUnit.code == grid_unit)
    if class_name is not None:
        query = query.where(Student.class_name == class_name)
    return [student_out(row) for row in session.execute(query)]


@router.get("/students/{student_no}", responses=responses(404))
def get_student(student_no: StudentNo, who: HumanUser, session: SessionDep) -> StudentOut:
    """One student, if the caller may see them (404 otherwise)."""
    row = session.execute(student_rows(who).where(Student.student_no == student_no)).first()
    if row is None:
        raise not_found(f"student {student_no}")
    return student_out(row)


@router.put("/students/{student_no}", responses=responses(422))
def put_student(
    student_no: StudentNo,
    body: StudentIn,
    admin: AdminUser,
    session: SessionDep,
    context: ContextDep,
) -> StudentOut:
    """Add or update a student (admin); the pseudonymous id is computed from the card."""
    if body.student_no != student_no:
        raise unprocessable("the student number in the path and the body differ")
    try:
        upsert_student(session, body, context.pseudonym_key)
    except RowError as exc:
        raise unprocessable(f"{exc.column}: {exc}") from None
    session.commit()
    row = session.execute(student_rows(admin).where(Student.student_no == student_no)).one()
    return student_out(row)


def staff_out(session: Session, staff: Staff) -> StaffIn:
    """The wire form of a staff member."""
    unit = session.get(DormUnit, staff.supervises_unit_id) if staff.supervises_unit_id else None
    member = session.execute(
        select(GridMember.role, GridUnit.code)
        .join(GridUnit, GridUnit.id == GridMember.grid_unit_id)
        .where(GridMember.staff_id == staff.id)
    ).first()
    return StaffIn.model_validate(
        {
            "staff_no": staff.staff_no,
            "name": staff.name,
            "position": staff.position,
            "work_group_role": staff.work_group_role,
            "sub_group": staff.sub_group,
            "sub_group_role": staff.sub_group_role,
            "supervises_unit": unit.code if unit else None,
            "grid_unit": member[1] if member else None,
            "grid_role": member[0] if member else None,
            "phone": staff.phone,
            "notify_urls": list(staff.notify_urls or []),
        }
    )


@router.get("/staff")
def list_staff(_: DeskUser, session: SessionDep) -> list[StaffIn]:
    """Every staff member (admin and duty)."""
    return [staff_out(session, s) for s in session.scalars(select(Staff).order_by(Staff.staff_no))]


@router.put("/staff/{staff_no}", responses=responses(422))
def put_staff(staff_no: StudentNo, body: StaffIn, _: AdminUser, session: SessionDep) -> StaffIn:
    """Add or update a staff member (admin)."""
    if body.staff_no != staff_no:
        raise unprocessable("the staff number in the path and the body differ")
    try:
        upsert_staff(session, body)
    except RowError as exc:
        raise unprocessable(f"{exc.column}: {exc}") from None
    session.commit()
    return body


@router.get("/grid-units")
def list_grid_units(_: HumanUser, session: SessionDep) -> list[GridUnitOut]:
    """Every grid unit with its leaders and members."""
    members: dict[int, list[tuple[str, str]]] = {}
    for grid_id, role, staff_no in session.execute(
        select(GridMember.grid_unit_id, GridMember.role, Staff.staff_no)
        .join(Staff, Staff.id == GridMember.staff_id)
        .order_by(Staff.staff_no)
    ):
        members.setdefault(grid_id, []).append((role, staff_no))
    return [
        GridUnitOut(
            code=g.code,
            name=g.name,
            leaders=[no for role, no in members.get(g.id, []) if role == "leader"],
            members=[no for role, no in members.get(g.id, []) if role != "leader"],
        )
        for g in session.scalars(select(GridUnit).order_by(GridUnit.code))
    ]


@router.put("/grid-units/{code}", status_code=status.HTTP_200_OK)
def put_grid_unit(
    code: StudentNo, body: GridUnitIn, _: AdminUser, session: SessionDep
) -> GridUnitIn:
    """Add or rename a grid unit (admin); members are set on the staff rows."""
    if body.code != code:
        raise unprocessable("the code in the path and the body differ")
    grid = session.scalar(select(GridUnit).where(GridUnit.code == code))
    if grid is None:
        session.add(GridUnit(code=code, name=body.name))
    else:
        grid.name = body.name
    session.commit()
    return body
