"""CSV import over HTTP and the command line: all rows or none, errors name row and column,
re-import updates and never duplicates."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from records_rig import BACKENDS, RecordsRig, database_url, running_records

pytestmark = pytest.mark.timeout(180)

ROOMS = """building,number,unit,beds
wenyuan-2,101,u01,2
wenyuan-2,102,u01,4
"""
STUDENTS = """student_no,name,situation,college,grade,class_name,building,room,grid_unit,card_id
S100,Test Learner One,on_campus,International College,2025,C1,wenyuan-2,101,g01,AA00BB11
S101,Test Learner Two,abroad,International College,2024,C2,,,g01,
"""
STAFF = """staff_no,name,position,supervises_unit,grid_unit,grid_role,notify_urls
T1,Test Warden,unit_supervisor,u01,,,json://127.0.0.1:9/a;mailto://warden@example.org
T2,Test Adviser,class_adviser,,g01,leader,
"""
ROSTER = """building,staff_no,role,starts_at,ends_at
wenyuan-2,T1,duty,2026-03-02T00:00:00+08:00,2026-03-02T08:00:00+08:00
,T2,clinic_liaison,2026-03-02T00:00:00+08:00,2026-03-02T12:00:00+08:00
"""


@pytest.fixture(
    params=[
        pytest.param(b, marks=pytest.mark.servers) if b == "postgresql" else b for b in BACKENDS
    ]
)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordsRig]:
    with database_url(request.param, tmp_path) as url, running_records(url, tmp_path) as rig:
        with rig.client() as admin:
            admin.post(
                "/buildings", json={"slug": "wenyuan-2", "name": "Wenyuan Building 2"}
            ).raise_for_status()
            admin.post(
                "/units", json={"code": "u01", "name": "Unit 1", "building": "wenyuan-2"}
            ).raise_for_status()
            admin.put("/grid-units/g01", json={"code": "g01", "name": "Grid 1"}).raise_for_status()
        yield rig


def post_csv(client: httpx.Client, kind: str, text: str) -> httpx.Response:
    return client.post(
        f"/import/{kind}", content=text.encode(), headers={"Content-Type": "text/csv"}
    )


def test_every_kind_imports_and_a_reimport_updates_without_duplicates(rig: RecordsRig) -> None:
    with rig.client() as admin:
        for kind, text in (
            ("rooms", ROOMS),
            ("students", STUDENTS),
            ("staff", STAFF),
            ("roster", ROSTER),
        ):
            first = post_csv(admin, kind, text)
            assert first.status_code == 200, first.text
            assert first.json() == {"kind": kind, "created": 2, "updated": 0}
            again = post_csv(admin, kind, text)
            assert again.json() == {"kind": kind, "created": 0, "updated": 2}
        renamed = STUDENTS.replace("Test Learner One", "Test Learner Renamed")
        assert post_csv(admin, "students", renamed).json()["updated"] == 2
        students = admin.get("/students").json()
        staff = {s["staff_no"]: s for s in admin.get("/staff").json()}
        shifts = admin.get(
            "/roster/shifts",
            params={
                "building": "wenyuan-2",
                "start": "2026-03-01T00:00:00Z",
                "end": "2026-03-03T00:00:00Z",
            },
        ).json()
    assert [s["name"] for s in students] == ["Test Learner Renamed", "Test Learner Two"]
    assert students[0]["unit"] == "u01"
    assert students[0]["person_id"].startswith("p-")
    assert students[1]["person_id"] is None
    assert staff["T1"]["notify_urls"] == ["json://127.0.0.1:9/a", "mailto://warden@example.org"]
    assert staff["T1"]["supervises_unit"] == "u01"
    assert (staff["T2"]["grid_unit"], staff["T2"]["grid_role"]) == ("g01", "leader")
    assert sorted((s["staff_no"], s["role"]) for s in shifts) == [
        ("T1", "duty"),
        ("T2", "clinic_liaison"),
    ]


def test_bad_rows_name_row_and_column_and_nothing_is_imported(rig: RecordsRig) -> None:
    bad = (
        STUDENTS
        + "S102,Test Learner Three,on_campus,International College,2025,C1,wenyuan-2,999,g01,"
        + "CC00DD22\n"
        + "S103,Test Learner Four,on_the_moon,International College,2025,C1,,,g01,\n"
        + "S104,Test Learner Five,on_campus,International College,2025,C1,,,g77,\n"
    )
    with rig.client() as admin:
        post_csv(admin, "rooms", ROOMS).raise_for_status()
        response = post_csv(admin, "students", bad)
        assert response.status_code == 422
        problems = {(p["row"], p["column"]) for p in response.json()["detail"]}
        assert problems == {(4, "room"), (5, "situation"), (6, "grid_unit")}
        assert admin.get("/students").json() == []


def test_unknown_and_missing_columns_are_refused_at_the_header(rig: RecordsRig) -> None:
    with rig.client() as admin:
        response = post_csv(admin, "rooms", "building,numbr,unit\nwenyuan-2,101,u01\n")
    assert response.status_code == 422
    assert {(p["row"], p["column"], p["message"]) for p in response.json()["detail"]} == {
        (1, "numbr", "unknown column"),
        (1, "number", "missing column"),
    }


def test_a_key_twice_in_one_file_is_an_error(rig: RecordsRig) -> None:
    with rig.client() as admin:
        response = post_csv(admin, "rooms", ROOMS + "wenyuan-2,101,u01,3\n")
        assert response.status_code == 422
        assert response.json()["detail"][0]["row"] == 4
        assert admin.get("/rooms").json() == []


def test_only_an_admin_imports(rig: RecordsRig) -> None:
    with rig.add_user("desk", "duty") as duty:
        assert post_csv(duty, "rooms", ROOMS).status_code == 403


def test_the_command_line_import_reports_rows_and_imports_nothing_on_error(
    rig: RecordsRig, tmp_path: Path
) -> None:
    url = rig.settings.records.sqlalchemy_url
    env = {
        **os.environ,
        "THERMOGATE_RECORDS__DATABASE_URL": url,
        "THERMOGATE_LOG__LEVEL": "WARNING",
    }
    bad = tmp_path / "rooms.csv"
    bad.write_text(ROOMS + "wenyuan-9,103,u01,2\n", encoding="utf-8")
    failed = subprocess.run(
        [sys.executable, "-m", "thermogate.cli", "records", "import", "rooms", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert failed.returncode == 1
    assert "row 4, column building: unknown building 'wenyuan-9'" in failed.stderr
    good = tmp_path / "good.csv"
    good.write_text(ROOMS, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "thermogate.cli", "records", "import", "rooms", str(good)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "2 created, 0 updated" in done.stdout
    with rig.client() as admin:
        assert [r["number"] for r in admin.get("/rooms").json()] == ["101", "102"]
