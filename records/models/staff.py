"""Staff, the epidemic work group and its sub-groups, and the thirty grid units."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from thermogate.records.db.base import Base


class Staff(Base):
    """A staff member: position, place in the work group, the unit supervised, how to reach."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_no: Mapped[str] = mapped_column(String(32), unique=True)
    """The university's staff number: the key of CSV imports."""
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[str] = mapped_column(String(32))
    """``duty``, ``clinic_liaison``, ``unit_supervisor``, ``class_adviser``, ``teacher``,
    ``college_staff``."""
    work_group_role: Mapped[str | None] = mapped_column(String(16))
    """``leader``, ``deputy`` or ``member`` of the epidemic work group, or empty."""
    sub_group: Mapped[str | None] = mapped_column(String(32))
    """``teaching``, ``student_affairs``, ``apartment``, ``medical_supplies``, ``activities``,
    ``publicity``, or empty."""
    sub_group_role: Mapped[str | None] = mapped_column(String(16))
    """``leader`` (directly responsible) or ``member`` of that sub-group."""
    supervises_unit_id: Mapped[int | None] = mapped_column(ForeignKey("dorm_units.id"), unique=True)
    """The dorm unit this staff member supervises (one each)."""
    phone: Mapped[str | None] = mapped_column(String(32))
    notify_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    """apprise URLs that reach this person (``wecombot://``, ``mailto://``, ``json://``...)."""


class GridUnit(Base):
    """A grid unit: staff who contact a set of students every day (thirty in all)."""

    __tablename__ = "grid_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class GridMember(Base):
    """A staff member in a grid unit, as its ``leader`` or a ``member``."""

    __tablename__ = "grid_members"
    __table_args__ = (UniqueConstraint("grid_unit_id", "staff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_unit_id: Mapped[int] = mapped_column(ForeignKey("grid_units.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
