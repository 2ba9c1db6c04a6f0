"""Students: where they live, who follows them, and the pseudonymous id of the time series."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from thermogate.records.db.base import Base


class Student(Base):
    """A student, with the four levels of the plan: college, grade, class and dorm room."""

    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_no: Mapped[str] = mapped_column(String(32), unique=True)
    """The university's student number: the key of CSV imports."""
    name: Mapped[str] = mapped_column(String(120))
    situation: Mapped[str] = mapped_column(String(24))
    """``on_campus``, ``off_campus_domestic`` or ``abroad``."""
    college: Mapped[str] = mapped_column(String(120))
    grade: Mapped[str] = mapped_column(String(16))
    class_name: Mapped[str] = mapped_column(String(64))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("dorm_units.id"), index=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    grid_unit_id: Mapped[int | None] = mapped_column(ForeignKey("grid_units.id"), index=True)
    card_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    person_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    """HMAC of the card id (:func:`thermogate.contract.pseudonym.pseudonymous_id`), the id the
    edge puts on readings: the only link between the time series and a person."""
