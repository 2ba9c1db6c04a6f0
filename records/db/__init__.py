"""The records service's database layer: one declarative base shared by every table."""

from thermogate.records.db.base import Base

__all__ = ["Base"]
