"""Alembic environment: the shared metadata of the records service and the alert lifecycle."""

from __future__ import annotations

import importlib
import importlib.util

from alembic import context
from sqlalchemy import Engine

import thermogate.records.models  # noqa: F401 - registers the records tables
from thermogate.records.db.base import Base

LIFECYCLE_TABLES = "thermogate.alerts.lifecycle.tables"
if importlib.util.find_spec(LIFECYCLE_TABLES) is not None:
    importlib.import_module(LIFECYCLE_TABLES)  # registers the alert lifecycle's tables

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Migrate on the engine handed over in ``config.attributes`` (see db/migrate.py)."""
    engine: Engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
