"""Login accounts: a role and, for supervisors and grid leaders, the scope they may see."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from thermogate.records.db.base import Base


class User(Base):
    """An account of the records service (password hashed with argon2)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(24))
    """``admin``, ``duty``, ``unit_supervisor``, ``grid_leader`` or ``clinic``."""
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("dorm_units.id"))
    """The one dorm unit a ``unit_supervisor`` sees."""
    grid_unit_id: Mapped[int | None] = mapped_column(ForeignKey("grid_units.id"))
    """The one grid unit a ``grid_leader`` sees."""
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    active: Mapped[bool] = mapped_column(default=True)
