"""Revision 0002_alert_lifecycle builds exactly the tables the lifecycle declares, on SQLite
and PostgreSQL, and goes back down cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Constraint, Index, Table, create_engine, inspect

import thermogate.alerts.lifecycle.tables as tables
from thermogate.records.db.migrate import alembic_config, upgrade_to_head

LIFECYCLE = {
    tables.LifecycleAlert.__tablename__,
    tables.AlertEvent.__tablename__,
    tables.Notification.__tablename__,
}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


def test_upgrade_to_head_matches_the_declared_tables_and_downgrade_removes_them(url):
    engine = create_engine(url)
    try:
        upgrade_to_head(engine)
        assert set(inspect(engine).get_table_names()) >= LIFECYCLE
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, tables.LifecycleAlert.metadata)
        mine = [d for d in diff if LIFECYCLE & set(_tables_named(d))]
        assert mine == []
        command.downgrade(alembic_config(engine), "0001_records")
        assert not LIFECYCLE & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _tables_named(diff: object) -> list[str]:
    """The table names an Alembic diff entry mentions (entries are nested tuples)."""
    names: list[str] = []
    stack = [diff]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple | list):
            stack.extend(item)
        elif isinstance(item, Table):
            names.append(item.name)
        elif isinstance(item, Index | Column | Constraint) and isinstance(item.table, Table):
            names.append(item.table.name)
        elif isinstance(item, str) and item in LIFECYCLE:
            names.append(item)
    return names
