"""The fictional demo site and the ``thermogate records`` actions (migrate, create-user, seed)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from records_rig import BACKEND_PARAMS, database_url
from sqlalchemy import func, select

from thermogate.config import Settings
from thermogate.firmware_sim.population import Population
from thermogate.records.db.engine import make_engine, make_sessions
from thermogate.records.db.migrate import upgrade_to_head
from thermogate.records.models import Building, DormUnit, GridMember, GridUnit, Staff, Student
from thermogate.records.seed import seed_site
from thermogate.records.services.roster import gaps
from thermogate.records.services.users import authenticate

pytestmark = pytest.mark.timeout(180)

START = dt.date(2026, 3, 2)


@pytest.fixture(params=BACKEND_PARAMS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


def test_the_seed_builds_the_plans_structure_with_no_roster_gaps(db_url: str) -> None:
    settings = Settings()
    engine = make_engine(db_url)
    upgrade_to_head(engine)
    sessions = make_sessions(engine)
    with sessions() as session:
        seed_site(session, settings, per_building=60, days=3, start=START)
        session.commit()
    with sessions() as session:
        seed_site(session, settings, per_building=60, days=3, start=START)  # idempotent
        session.commit()
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        counts = [count(m) for m in (Building, DormUnit, GridUnit, Student)]
        supervisors = session.scalar(
            select(func.count()).where(Staff.supervises_unit_id.is_not(None))
        )
        leaders = session.scalar(select(func.count()).where(GridMember.role == "leader"))
        person_ids = set(session.scalars(select(Student.person_id)))
        tz = dt.timezone(dt.timedelta(hours=8))
        start = dt.datetime.combine(START, dt.time(), tz)
        found = {
            b.slug: gaps(session, b, start, start + dt.timedelta(days=3))
            for b in session.scalars(select(Building))
        }
    engine.dispose()
    assert counts == [2, 11, 30, 120]
    assert (supervisors, leaders) == (11, 30)
    key = settings.edge.pseudonym_key.get_secret_value().encode()
    population = Population.generate(["wenyuan-2", "wenyuan-3"], key, per_building=60, units=11)
    assert person_ids == {r.person_id for r in population.residents}
    assert found == {"wenyuan-2": [], "wenyuan-3": []}


def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thermogate.cli", "records", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        input=stdin,
    )


def test_migrate_create_user_and_seed_from_the_command_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "THERMOGATE_RECORDS__STATE_DIR": str(tmp_path / "state"),
    }
    assert run_cli(env, "migrate").returncode == 0
    assert (tmp_path / "state" / "records.sqlite3").exists()
    seeded = run_cli(env, "seed", "--students-per-building", "20", "--days", "1")
    assert seeded.returncode == 0, seeded.stderr
    assert "40 students" in seeded.stdout
    action = (
        "create-user",
        "sup3",
        "--role",
        "unit_supervisor",
        "--unit",
        "u03",
        "--password-stdin",
    )
    created = run_cli(env, *action, stdin="a-long-password\n")
    assert created.returncode == 0, created.stderr
    taken = run_cli(env, *action, stdin="a-long-password\n")
    assert taken.returncode == 1
    assert "taken" in taken.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'records.sqlite3'}")
    with make_sessions(engine)() as session:
        user = authenticate(session, "sup3", "a-long-password")
        assert user is not None
        assert user.role == "unit_supervisor"
        assert authenticate(session, "sup3", "wrong-password") is None
    engine.dispose()
