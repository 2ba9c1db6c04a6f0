"""The declarative base every SQL table of thermogate declares itself on.

Records (people, places, roster, cases) and the alert lifecycle (:mod:`thermogate.alerts`)
share one :class:`~sqlalchemy.MetaData`, so one Alembic history migrates them together. The
naming convention gives every constraint a stable name, which Alembic needs to drop or alter
it later on PostgreSQL and on SQLite alike.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every mapped table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
