"""The duty roster: shifts per building, round the clock, with the clinic liaison on call."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from thermogate.records.db.base import Base
from thermogate.records.db.types import UtcDateTime


class DutyShift(Base):
    """One person on duty over ``[starts_at, ends_at)`` in one building (or all, if empty)."""

    __tablename__ = "duty_shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"), index=True)
    """Empty for a campus-wide shift (the clinic liaison usually covers both buildings)."""
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    role: Mapped[str] = mapped_column(String(24))
    """``duty`` (at the desk), ``leader`` (the duty leader, escalation) or ``clinic_liaison``."""
    starts_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
