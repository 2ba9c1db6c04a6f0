"""The duty roster over HTTP: who is on duty for a building at a time, and coverage gaps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from records_rig import BACKEND_PARAMS, RecordsRig, database_url, make_site, running_records

pytestmark = pytest.mark.timeout(120)

DAY = "2026-03-02"


@pytest.fixture(params=BACKEND_PARAMS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordsRig]:
    with database_url(request.param, tmp_path) as url, running_records(url, tmp_path) as rig:
        with rig.client() as admin:
            make_site(admin)
        yield rig


def shift(
    client: httpx.Client,
    staff: str,
    role: str,
    start: str,
    end: str,
    building: str | None = "wenyuan-2",
) -> None:
    body = {
        "building": building,
        "staff_no": staff,
        "role": role,
        "starts_at": start,
        "ends_at": end,
    }
    response = client.post("/roster/shifts", json=body)
    assert response.status_code == 201, response.text


def test_on_duty_gives_the_desk_and_the_campus_wide_liaison(rig: RecordsRig) -> None:
    with rig.client() as admin:
        shift(admin, "D1", "duty", f"{DAY}T00:00:00+08:00", f"{DAY}T08:00:00+08:00")
        shift(admin, "D2", "duty", f"{DAY}T08:00:00+08:00", f"{DAY}T16:00:00+08:00")
        shift(admin, "C1", "clinic_liaison", f"{DAY}T00:00:00+08:00", f"{DAY}T12:00:00+08:00", None)
        shift(admin, "D2", "duty", f"{DAY}T00:00:00+08:00", f"{DAY}T23:00:00+08:00", "wenyuan-3")
        at_seven = admin.get(
            "/roster/on-duty", params={"building": "wenyuan-2", "at": f"{DAY}T07:59:59+08:00"}
        ).json()
        at_eight = admin.get(
            "/roster/on-duty", params={"building": "wenyuan-2", "at": f"{DAY}T08:00:00+08:00"}
        ).json()
        at_noon = admin.get(
            "/roster/on-duty", params={"building": "wenyuan-2", "at": f"{DAY}T12:30:00+08:00"}
        ).json()
    assert sorted((s["staff_no"], s["role"]) for s in at_seven) == [
        ("C1", "clinic_liaison"),
        ("D1", "duty"),
    ]
    assert sorted((s["staff_no"], s["role"]) for s in at_eight) == [
        ("C1", "clinic_liaison"),
        ("D2", "duty"),
    ]
    assert [(s["staff_no"], s["building"]) for s in at_noon] == [("D2", "wenyuan-2")]


def test_gaps_report_every_uncovered_interval_per_role(rig: RecordsRig) -> None:
    with rig.client() as admin:
        shift(admin, "D1", "duty", f"{DAY}T00:00:00+08:00", f"{DAY}T08:00:00+08:00")
        shift(
            admin,
            "D2",
            "duty",
            f"{DAY}T09:00:00+08:00",
            f"{DAY}T24:00:00+08:00".replace("T24:00:00", "T23:59:59"),
        )
        shift(admin, "C1", "clinic_liaison", f"{DAY}T00:00:00+08:00", f"{DAY}T12:00:00+08:00", None)
        report = admin.get(
            "/roster/gaps",
            params={
                "building": "wenyuan-2",
                "start": f"{DAY}T00:00:00+08:00",
                "end": f"{DAY}T23:59:59+08:00",
            },
        ).json()
    gaps = [(g["role"], g["start"], g["end"]) for g in report["gaps"]]
    assert gaps == [
        ("duty", "2026-03-02T00:00:00Z", "2026-03-02T01:00:00Z"),
        ("clinic_liaison", "2026-03-02T04:00:00Z", "2026-03-02T15:59:59Z"),
    ]


def test_a_fully_covered_day_has_no_gaps_and_a_campus_wide_duty_shift_does_not_count(
    rig: RecordsRig,
) -> None:
    with rig.client() as admin:
        shift(admin, "D1", "duty", f"{DAY}T00:00:00+08:00", f"{DAY}T12:00:00+08:00")
        shift(admin, "D2", "duty", f"{DAY}T11:00:00+08:00", "2026-03-03T00:00:00+08:00")
        shift(
            admin,
            "C1",
            "clinic_liaison",
            f"{DAY}T00:00:00+08:00",
            "2026-03-03T00:00:00+08:00",
            None,
        )
        params = {
            "building": "wenyuan-2",
            "start": f"{DAY}T00:00:00+08:00",
            "end": "2026-03-03T00:00:00+08:00",
        }
        assert admin.get("/roster/gaps", params=params).json()["gaps"] == []
        params["building"] = "wenyuan-3"
        shift(admin, "D1", "duty", f"{DAY}T00:00:00+08:00", "2026-03-03T00:00:00+08:00", None)
        gaps = admin.get("/roster/gaps", params=params).json()["gaps"]
    assert [(g["role"], g["start"], g["end"]) for g in gaps] == [
        ("duty", "2026-03-01T16:00:00Z", "2026-03-02T16:00:00Z")
    ]


def test_bad_windows_and_unknown_buildings_are_422(rig: RecordsRig) -> None:
    with rig.client() as admin:
        backwards = admin.get(
            "/roster/gaps",
            params={
                "building": "wenyuan-2",
                "start": f"{DAY}T10:00:00Z",
                "end": f"{DAY}T09:00:00Z",
            },
        )
        naive = admin.get(
            "/roster/on-duty", params={"building": "wenyuan-2", "at": f"{DAY}T10:00:00"}
        )
        unknown = admin.get(
            "/roster/on-duty", params={"building": "nowhere", "at": f"{DAY}T10:00:00Z"}
        )
        nobody = admin.post(
            "/roster/shifts",
            json={
                "building": "wenyuan-2",
                "staff_no": "ZZ",
                "role": "duty",
                "starts_at": f"{DAY}T00:00:00Z",
                "ends_at": f"{DAY}T08:00:00Z",
            },
        )
    assert [r.status_code for r in (backwards, naive, unknown, nobody)] == [422, 422, 422, 422]


def test_a_unit_supervisor_reads_the_roster_but_cannot_write_it(rig: RecordsRig) -> None:
    with rig.add_user("sup", "unit_supervisor", unit="u01") as sup:
        assert (
            sup.get(
                "/roster/on-duty", params={"building": "wenyuan-2", "at": f"{DAY}T10:00:00Z"}
            ).status_code
            == 200
        )
        body = {
            "building": "wenyuan-2",
            "staff_no": "D1",
            "role": "duty",
            "starts_at": f"{DAY}T00:00:00Z",
            "ends_at": f"{DAY}T08:00:00Z",
        }
        assert sup.post("/roster/shifts", json=body).status_code == 403
