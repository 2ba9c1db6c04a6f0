"""The shipped Alembic migrations build exactly the schema the models declare."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from records_rig import BACKENDS, database_url
from sqlalchemy import inspect

import thermogate.records.models  # noqa: F401 - registers the tables
from thermogate.records.db.base import Base
from thermogate.records.db.engine import make_engine
from thermogate.records.db.migrate import SCRIPT_LOCATION, upgrade_to_head

RECORDS_TABLES = {
    "absences",
    "audit_log",
    "buildings",
    "devices",
    "dorm_units",
    "duty_shifts",
    "entrances",
    "fever_cases",
    "follow_ups",
    "grid_members",
    "grid_units",
    "leave_requests",
    "rooms",
    "screening_checks",
    "staff",
    "students",
    "users",
}


@pytest.fixture(
    params=[
        pytest.param(b, marks=pytest.mark.servers) if b == "postgresql" else b for b in BACKENDS
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


def test_head_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade_to_head(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert tables >= RECORDS_TABLES
    assert differences == []


def test_migrating_twice_changes_nothing(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade_to_head(engine)
    upgrade_to_head(engine)
    with engine.connect() as connection:
        version = (
            connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        )
    engine.dispose()
    assert len(version) == 1


def test_the_first_revision_is_0001_records() -> None:
    first = (SCRIPT_LOCATION / "versions" / "0001_records.py").read_text()
    assert 'revision: str = "0001_records"' in first
    assert "down_revision: str | None = None" in first
