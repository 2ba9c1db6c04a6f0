"""Daily screening over HTTP: checks from readings and the API, who is missing by 10:00 and
14:00 local time, absences with their cause, reports, and the audit log."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from records_rig import BACKEND_PARAMS, RecordsRig, database_url, make_site, running_records
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.timeout(120)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
DAY = dt.date(2026, 3, 2)


def local(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 2, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(params=BACKEND_PARAMS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordsRig]:
    with database_url(request.param, tmp_path) as url, running_records(url, tmp_path) as rig:
        rig.clock.set(local(7))
        with rig.client() as admin:
            make_site(admin)
        yield rig


def audit_rows(rig: RecordsRig) -> list[tuple[str, str, str]]:
    engine = create_engine(rig.settings.records.sqlalchemy_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT username, action, resource FROM audit_log ORDER BY id")
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_missing_by_ten_lists_who_had_no_morning_check_in_time(rig: RecordsRig) -> None:
    with rig.client() as admin, rig.add_user("gw", "gateway") as gateway:
        person = admin.get("/students/S001").json()["person_id"]
        door = {
            "reading_id": "hh-w2-main-1:1",
            "person_id": person,
            "ts": local(8, 30).isoformat(),
            "building": "wenyuan-2",
            "placement": "door",
            "temp_c": 36.4,
            "adjusted_c": 36.8,
            "decision": "normal",
        }
        assert (
            gateway.post("/integration/readings", json={"readings": [door]}).json()["checks"] == 1
        )
        assert (
            gateway.post("/integration/readings", json={"readings": [door]}).json()["checks"] == 0
        )
        rig.clock.set(local(9, 30))
        before = admin.get(
            "/screening/missing", params={"day": DAY.isoformat(), "slot": "morning"}
        ).json()
        assert before["past_deadline"] is False
        assert [s["student_no"] for s in before["students"]] == ["S002"]
        late = {
            "student_no": "S002",
            "measured_at": local(10, 20).isoformat(),
            "temp_c": 36.6,
            "source": "self_report",
        }
        rig.clock.set(local(10, 30))
        assert admin.post("/screening/checks", json=late).status_code == 201
        after = admin.get(
            "/screening/missing", params={"day": DAY.isoformat(), "slot": "morning"}
        ).json()
        noon = admin.get(
            "/screening/missing", params={"day": DAY.isoformat(), "slot": "noon"}
        ).json()
    assert after["deadline"] == "2026-03-02T02:00:00Z"
    assert after["past_deadline"] is True
    assert [(s["student_no"], s["late_at"]) for s in after["students"]] == [
        ("S002", "2026-03-02T02:20:00Z")
    ]
    assert noon["deadline"] == "2026-03-02T06:00:00Z"
    assert [s["student_no"] for s in noon["students"]] == ["S001", "S002"]


def test_an_absence_for_illness_carries_its_cause_into_the_missing_list(rig: RecordsRig) -> None:
    with rig.client() as admin:
        body = {
            "student_no": "S002",
            "day": DAY.isoformat(),
            "cause": "stomach flu",
            "note": "seen by clinic",
        }
        assert admin.post("/screening/absences", json=body).status_code == 201
        rig.clock.set(local(15))
        missing = admin.get(
            "/screening/missing", params={"day": DAY.isoformat(), "slot": "noon"}
        ).json()
    causes = {s["student_no"]: s["absence_cause"] for s in missing["students"]}
    assert causes == {"S001": None, "S002": "stomach flu"}


def test_checks_outside_the_slots_or_in_the_future_are_422(rig: RecordsRig) -> None:
    with rig.client() as admin:
        evening = {
            "student_no": "S001",
            "measured_at": local(6).replace(hour=20).isoformat(),
            "temp_c": 36.6,
            "source": "room",
        }
        rig.clock.set(local(21))
        assert admin.post("/screening/checks", json=evening).status_code == 422
        future = {**evening, "measured_at": local(23).isoformat()}
        assert admin.post("/screening/checks", json=future).status_code == 422


def test_a_supervisor_sees_and_records_only_their_unit(rig: RecordsRig) -> None:
    with rig.add_user("sup", "unit_supervisor", unit="u01") as sup:
        mine = {
            "student_no": "S001",
            "measured_at": local(7).isoformat(),
            "temp_c": 37.6,
            "source": "room",
        }
        other = {**mine, "student_no": "S002"}
        created = sup.post("/screening/checks", json=mine)
        assert created.status_code == 201
        assert created.json()["abnormal"] is True
        assert sup.post("/screening/checks", json=other).status_code == 404
        missing = sup.get(
            "/screening/missing", params={"day": DAY.isoformat(), "slot": "noon"}
        ).json()
        assert [s["student_no"] for s in missing["students"]] == ["S001"]


def test_every_read_and_change_of_health_data_is_audited(rig: RecordsRig) -> None:
    with rig.add_user("sup", "unit_supervisor", unit="u01") as sup:
        body = {
            "student_no": "S001",
            "measured_at": local(7).isoformat(),
            "temp_c": 36.6,
            "source": "room",
        }
        sup.post("/screening/checks", json=body).raise_for_status()
        sup.get("/screening/checks", params={"day": DAY.isoformat()}).raise_for_status()
        sup.get(
            "/screening/missing", params={"day": DAY.isoformat(), "slot": "morning"}
        ).raise_for_status()
        sup.get("/reports/daily", params={"day": DAY.isoformat()}).raise_for_status()
    assert audit_rows(rig) == [
        ("sup", "create", "screening_check"),
        ("sup", "read", "screening_check"),
        ("sup", "read", "screening_check"),
        ("sup", "read", "report"),
    ]


def test_the_daily_report_counts_per_group_as_json_and_csv(rig: RecordsRig) -> None:
    with rig.client() as admin:
        hot = {
            "student_no": "S001",
            "measured_at": local(7).isoformat(),
            "temp_c": 37.8,
            "source": "room",
        }
        admin.post("/screening/checks", json=hot).raise_for_status()
        rig.clock.set(local(20))
        report = admin.get("/reports/daily", params={"day": DAY.isoformat(), "by": "unit"}).json()
        exported = admin.get("/reports/daily.csv", params={"day": DAY.isoformat(), "by": "class"})
    assert [
        (
            r["group"],
            r["students"],
            r["screened"],
            r["missing_morning"],
            r["missing_noon"],
            r["abnormal"],
        )
        for r in report["rows"]
    ] == [
        ("u01", 1, 1, 0, 1, 1),
        ("u07", 1, 0, 1, 1, 0),
    ]
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["group"], r["screened"], r["abnormal"]) for r in rows] == [
        ("C1", "1", "1"),
        ("C2", "0", "0"),
    ]
