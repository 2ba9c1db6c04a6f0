"""Leave requests: requested, approved or refused, out, returned."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from thermogate.records.db.base import Base
from thermogate.records.db.types import UtcDateTime


class LeaveRequest(Base):
    """A student's request to go out; closed by the next entrance reading after ``out``."""

    __tablename__ = "leave_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    """``requested``, ``approved``, ``refused``, ``out`` or ``returned``."""
    reason: Mapped[str] = mapped_column(String(500))
    destination: Mapped[str] = mapped_column(String(200))
    leaves_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    returns_by: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    out_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    returned_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    return_source: Mapped[str | None] = mapped_column(String(120))
    """What closed it: ``reading:<device>:<seq>`` (automatic) or ``user:<name>``."""
