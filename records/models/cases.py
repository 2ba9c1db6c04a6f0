"""Fever cases: opened by an alert, followed up, closed only when a clinician clears them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from thermogate.records.db.base import Base
from thermogate.records.db.types import UtcDateTime


class FeverCase(Base):
    """One episode of one person: at most one open case per person."""

    __tablename__ = "fever_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True)
    """Empty when the pseudonymous id is nobody on the register (a visitor's card)."""
    building: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(8), index=True)
    """``open`` or ``closed``."""
    kind: Mapped[str] = mapped_column(String(24))
    """The most serious alert kind seen: ``fever`` over ``fever_unconfirmed`` over ``recheck``."""
    severity: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    first_alert_id: Mapped[str] = mapped_column(String(200))
    last_alert_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    max_temp_c: Mapped[float | None] = mapped_column()
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(500))


class FollowUp(Base):
    """An entry in a case: an ``alert``, a ``remeasurement``, a ``clinic_visit`` or a ``note``."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("fever_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    temp_c: Mapped[float | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(String(2000))
    alert_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    """The alert an ``alert`` entry came from: the same alert never counts twice."""
    author: Mapped[str] = mapped_column(String(64))
