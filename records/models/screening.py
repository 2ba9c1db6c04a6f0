"""Daily screening: the morning and noon checks of each student, and absences for illness."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from thermogate.records.db.base import Base
from thermogate.records.db.types import UtcDateTime


class ScreeningCheck(Base):
    """One temperature check of a student in a day's ``morning`` or ``noon`` slot."""

    __tablename__ = "screening_checks"
    __table_args__ = (UniqueConstraint("source_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    """The local date (records.timezone) of the check."""
    slot: Mapped[str] = mapped_column(String(8))
    """``morning`` (local time before 12:00) or ``noon`` (12:00 to 18:00)."""
    source: Mapped[str] = mapped_column(String(16))
    """``entrance``, ``room`` (the unit's in-room check) or ``self_report``."""
    source_ref: Mapped[str | None] = mapped_column(String(120))
    """The reading id (``device:seq``) it came from: a reading is counted once."""
    measured_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    temp_c: Mapped[float] = mapped_column()
    abnormal: Mapped[bool] = mapped_column()
    recorded_by: Mapped[str] = mapped_column(String(64))


class Absence(Base):
    """A student absent for illness on a day, with its cause (traced, as the plan asks)."""

    __tablename__ = "absences"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    cause: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(1000))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
