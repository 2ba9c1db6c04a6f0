"""Every SQL panel against a real PostgreSQL holding the records service's tables (created
from the models' metadata) with fictional rows: each query, with Grafana's macros and the
``$building`` variable substituted, runs and answers what the duty desk must read off it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from grafana_queries import PanelTarget, sql, targets
from pg import scratch_database
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import thermogate.alerts.lifecycle.tables as lifecycle
import thermogate.records.models as m
from thermogate.dashboards.records_sql import TIMEZONE
from thermogate.records.db import Base

BUILDINGS = ["wenyuan-2", "wenyuan-3"]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TODAY = NOW.astimezone(ZoneInfo(TIMEZONE)).date()
SQL_TARGETS = [t for t in targets() if t.is_sql]


def _pid(n: int) -> str:
    return f"p-{n:016x}"


def _fill(session: Session) -> None:
    """Two buildings, three units, two grid units, six fictional students and their day."""
    w2 = m.Building(slug="wenyuan-2", name="Wenyuan Building 2")
    w3 = m.Building(slug="wenyuan-3", name="Wenyuan Building 3")
    session.add_all([w2, w3])
    session.flush()
    units = {
        code: m.DormUnit(code=code, name=f"Unit {code}", building_id=b.id)
        for code, b in (("w2-u1", w2), ("w2-u2", w2), ("w3-u1", w3))
    }
    grids = {code: m.GridUnit(code=code, name=f"Grid {code}") for code in ("g01", "g02")}
    session.add_all([*units.values(), *grids.values()])
    session.flush()
    rooms = {
        code: m.Room(building_id=u.building_id, unit_id=u.id, number=f"{n}01")
        for n, (code, u) in enumerate(units.items(), start=1)
    }
    session.add_all(rooms.values())
    session.flush()
    # (unit, grid, situation, checks today: slots, abnormal)
    people: list[tuple[str, str, str, tuple[str, ...], bool]] = [
        ("w2-u1", "g01", "on_campus", ("morning", "noon"), False),
        ("w2-u1", "g01", "on_campus", ("morning",), True),
        ("w2-u1", "g02", "on_campus", (), False),  # not screened
        ("w2-u2", "g02", "on_campus", ("noon",), False),
        ("w2-u2", "g02", "abroad", (), False),  # not expected at the door
        ("w3-u1", "g01", "on_campus", (), False),  # not screened
    ]
    students = []
    for n, (unit, grid, situation, slots, abnormal) in enumerate(people, start=1):
        student = m.Student(
            student_no=f"S{n:04d}",
            name=f"Student {chr(64 + n)}",
            situation=situation,
            college="International College",
            grade="2020",
            class_name="Class 1",
            building_id=units[unit].building_id,
            unit_id=units[unit].id,
            room_id=rooms[unit].id,
            grid_unit_id=grids[grid].id,
            card_id=f"CARD{n:04d}",
            person_id=_pid(n),
        )
        session.add(student)
        session.flush()
        students.append(student)
        for slot in slots:
            hour = 8 if slot == "morning" else 13
            local = dt.datetime.combine(TODAY, dt.time(hour), ZoneInfo(TIMEZONE))
            session.add(
                m.ScreeningCheck(
                    student_id=student.id,
                    day=TODAY,
                    slot=slot,
                    source="entrance",
                    source_ref=f"hh-w2-main-1:{n}{hour}",
                    measured_at=local.astimezone(dt.UTC),
                    temp_c=37.6 if abnormal else 36.5,
                    abnormal=abnormal,
                    recorded_by="gateway",
                )
            )
    # Yesterday's check does not count today.
    session.add(
        m.ScreeningCheck(
            student_id=students[2].id,
            day=TODAY - dt.timedelta(days=1),
            slot="morning",
            source="room",
            source_ref=None,
            measured_at=NOW - dt.timedelta(days=1),
            temp_c=36.4,
            abnormal=False,
            recorded_by="unit-staff",
        )
    )

    def leave(student: m.Student, status: str, due_hours: float) -> m.LeaveRequest:
        return m.LeaveRequest(
            student_id=student.id,
            status=status,
            reason="family visit",
            destination="city centre",
            leaves_at=NOW - dt.timedelta(hours=10),
            returns_by=NOW + dt.timedelta(hours=due_hours),
            requested_at=NOW - dt.timedelta(days=1),
            out_at=NOW - dt.timedelta(hours=10),
            returned_at=NOW if status == "returned" else None,
        )

    session.add_all(
        [
            leave(students[0], "out", -3),  # overdue by 3 h
            leave(students[5], "out", 2),  # due later
            leave(students[3], "returned", -5),  # came back (late): closed
            leave(students[1], "approved", -1),  # never went out
        ]
    )

    def case(student: m.Student | None, pid: str, building: str, status: str, hours: int) -> Any:
        return m.FeverCase(
            person_id=pid,
            student_id=None if student is None else student.id,
            building=building,
            status=status,
            kind="fever",
            severity="critical",
            opened_at=NOW - dt.timedelta(hours=hours),
            first_alert_id=f"fever:{pid}:{hours}",
            last_alert_at=NOW - dt.timedelta(hours=hours - 1),
            max_temp_c=38.4,
        )

    open_case = case(students[1], _pid(2), "wenyuan-2", "open", 5)
    session.add_all(
        [
            open_case,
            case(None, _pid(99), "wenyuan-3", "open", 2),  # a visitor's card
            case(students[0], _pid(1), "wenyuan-2", "closed", 30),
        ]
    )
    session.flush()
    session.add_all(
        m.FollowUp(case_id=open_case.id, kind=kind, at=NOW, author="clinic", temp_c=37.9)
        for kind in ("remeasurement", "note")
    )

    def alert(state: str, kind: str, building: str, minutes: int, **extra: Any) -> Any:
        at = NOW - dt.timedelta(minutes=minutes)
        return lifecycle.LifecycleAlert(
            state=state,
            kind=kind,
            severity="critical" if kind == "fever" else "warning",
            episode_key=f"{kind}:{building}:{minutes}",
            building=building,
            first_source_id=f"{kind}:{minutes}",
            first_at=at,
            last_at=at,
            message=f"{kind} in {building}",
            raised_at=at,
            updated_at=at,
            **extra,
        )

    session.add_all(
        [
            alert("raised", "fever", "wenyuan-2", 5, person_id=_pid(2), max_temp_c=38.4),
            alert(
                "acknowledged",
                "device_offline",
                "wenyuan-3",
                30,
                device_id="hh-w3-main-1",
                acknowledged_by="user:duty-1",
                acknowledged_at=NOW,
            ),
            alert("raised", "edge_backlog", "wenyuan-3", 10, edge_id="edge-w3-main"),
            alert("cleared", "fever", "wenyuan-2", 600, person_id=_pid(1), cleared_at=NOW),
        ]
    )


@pytest.fixture(scope="module")
def database() -> Iterator[Engine]:
    """One scratch database for the module (what ``postgres_url`` gives a single test)."""
    with scratch_database() as url:
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        with Session(engine) as session, session.begin():
            _fill(session)
        yield engine
        engine.dispose()


def _run(engine: Engine, query: str, buildings: list[str] = BUILDINGS) -> list[dict[str, Any]]:
    start, end = NOW - dt.timedelta(hours=12), NOW
    with engine.connect() as connection:
        rows = connection.execute(text(sql(query, {"building": buildings}, start, end)))
        return [dict(row._mapping) for row in rows]


def _query(title: str) -> str:
    (query,) = [t.target["rawSql"] for t in SQL_TARGETS if t.panel["title"] == title]
    return str(query)


pytestmark = pytest.mark.servers


def test_there_are_sql_panels_for_alerts_cases_leave_and_coverage() -> None:
    assert {t.panel["title"] for t in SQL_TARGETS} == {
        "Alerts not acknowledged",
        "Open alerts",
        "Open fever cases",
        "Leave overdue",
        "Screening coverage by dorm unit",
        "Screening coverage by grid unit",
        "Not screened today",
    }


@pytest.mark.parametrize("target", SQL_TARGETS, ids=[t.where for t in SQL_TARGETS])
def test_every_sql_panel_runs_and_returns_rows(database: Engine, target: PanelTarget) -> None:
    rows = _run(database, target.target["rawSql"])
    assert rows, f"{target.where}: no rows"
    # No names reach Grafana: nothing a panel returns is a student's name.
    names = {f"Student {chr(64 + n)}" for n in range(1, 7)}
    assert not names & {str(v) for row in rows for v in row.values()}, target.where


def test_open_alerts_list_what_is_not_cleared_unacknowledged_first(database: Engine) -> None:
    rows = _run(database, _query("Open alerts"))
    assert [(r["kind"], r["state"]) for r in rows] == [
        ("fever", "raised"),
        ("edge_backlog", "raised"),
        ("device_offline", "acknowledged"),
    ]
    assert rows[0]["person_id"] == _pid(2) and rows[0]["max_temp_c"] == 38.4
    assert _run(database, _query("Alerts not acknowledged")) == [{"unacknowledged": 2}]
    only_w3 = _run(database, _query("Open alerts"), ["wenyuan-3"])
    assert {r["building"] for r in only_w3} == {"wenyuan-3"} and len(only_w3) == 2


def test_open_fever_cases_say_where_to_go(database: Engine) -> None:
    rows = _run(database, _query("Open fever cases"))
    assert [(r["person_id"], r["unit"], r["room"], r["follow_ups"]) for r in rows] == [
        (_pid(2), "w2-u1", "101", 2),
        (_pid(99), None, None, 0),  # nobody on the register: no unit or room
    ]


def test_leave_overdue_lists_only_students_out_past_their_time(database: Engine) -> None:
    rows = _run(database, _query("Leave overdue"))
    assert [(r["person_id"], r["unit"], r["hours_overdue"]) for r in rows] == [
        (_pid(1), "w2-u1", Decimal("3.0"))
    ]
    assert _run(database, _query("Leave overdue"), ["wenyuan-3"]) == []


def test_coverage_counts_each_unit_and_grid_unit(database: Engine) -> None:
    by_unit = {r["unit"]: r for r in _run(database, _query("Screening coverage by dorm unit"))}
    figures = {
        unit: (r["students"], r["morning"], r["noon"], r["not_screened"], r["abnormal"])
        for unit, r in by_unit.items()
    }
    assert figures == {
        "w2-u1": (3, 2, 1, 1, 1),
        "w2-u2": (1, 0, 1, 0, 0),  # the student abroad is not counted
        "w3-u1": (1, 0, 0, 1, 0),
    }
    assert by_unit["w2-u1"]["coverage_pct"] == Decimal("66.7")
    assert by_unit["w3-u1"]["coverage_pct"] == Decimal("0.0")
    by_grid = {r["grid_unit"]: r for r in _run(database, _query("Screening coverage by grid unit"))}
    assert {g: (r["students"], r["not_screened"]) for g, r in by_grid.items()} == {
        "g01": (3, 1),
        "g02": (2, 1),
    }
    only_w2 = {
        r["unit"] for r in _run(database, _query("Screening coverage by dorm unit"), ["wenyuan-2"])
    }
    assert only_w2 == {"w2-u1", "w2-u2"}
    missing = _run(database, _query("Not screened today"))
    assert [(r["unit"], r["room"], r["person_id"]) for r in missing] == [
        ("w2-u1", "101", _pid(3)),
        ("w3-u1", "301", _pid(6)),
    ]
