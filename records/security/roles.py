"""The roles of the records service and the scope an account's role limits it to."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What an account may see and do (docs/records.md has the full table)."""

    ADMIN = "admin"
    """Everything: people, places, roster, imports, accounts."""
    DUTY = "duty"
    """Duty staff: every building's people, roster, screening, leave and cases; no accounts."""
    UNIT_SUPERVISOR = "unit_supervisor"
    """The students of one dorm unit only."""
    GRID_LEADER = "grid_leader"
    """The students of one grid unit only."""
    CLINIC = "clinic"
    """The clinic: screening and cases of everyone; the only role that closes a case."""
    GATEWAY = "gateway"
    """A machine account: the integration endpoints only (registry, people, readings, alerts)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    username: str
    role: Role
    unit_id: int | None = None
    grid_unit_id: int | None = None

    @property
    def scoped(self) -> bool:
        """Whether the caller sees only part of the students (a unit or a grid unit)."""
        return self.role in (Role.UNIT_SUPERVISOR, Role.GRID_LEADER)
