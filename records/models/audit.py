"""The audit log: who read or changed which health data, and when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from thermogate.records.db.base import Base
from thermogate.records.db.types import UtcDateTime


class AuditEntry(Base):
    """One read or change of health data (checks, absences, cases, follow-ups, leave)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(16))
    """``read``, ``create``, ``update`` or ``close``."""
    resource: Mapped[str] = mapped_column(String(32))
    """``screening_check``, ``absence``, ``fever_case``, ``follow_up``, ``leave``, ``report``."""
    resource_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(500))
    """What was asked (a query) or changed, without names or temperatures."""
