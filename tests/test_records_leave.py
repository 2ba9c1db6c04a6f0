"""Leave over HTTP: request, approve or refuse, out, returned by the next entrance reading;
overdue returns flagged; scoping and the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from records_rig import BACKEND_PARAMS, RecordsRig, database_url, make_site, running_records

pytestmark = pytest.mark.timeout(120)

LEAVES = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(params=BACKEND_PARAMS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordsRig]:
    with database_url(request.param, tmp_path) as url, running_records(url, tmp_path) as rig:
        rig.clock.set(LEAVES - dt.timedelta(hours=1))
        with rig.client() as admin:
            make_site(admin)
        yield rig


def request_leave(client: httpx.Client, student: str = "S001") -> dict:
    body = {
        "student_no": student,
        "reason": "bank appointment",
        "destination": "city centre",
        "leaves_at": LEAVES.isoformat(),
        "returns_by": (LEAVES + dt.timedelta(hours=4)).isoformat(),
    }
    response = client.post("/leave", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def person_of(client: httpx.Client, student: str) -> str:
    return client.get(f"/students/{student}").json()["person_id"]


def reading(person: str, at: dt.datetime, seq: int, placement: str = "door") -> dict:
    return {
        "reading_id": f"hh-w2-main-1:{seq}",
        "person_id": person,
        "ts": at.isoformat(),
        "building": "wenyuan-2",
        "placement": placement,
        "temp_c": 36.5,
        "adjusted_c": 36.7,
        "decision": "normal",
    }


def test_the_next_entrance_reading_closes_the_leave(rig: RecordsRig) -> None:
    with rig.client() as admin, rig.add_user("gw", "gateway") as gateway:
        person = person_of(admin, "S001")
        leave = request_leave(admin)
        assert leave["status"] == "requested"
        assert admin.post(f"/leave/{leave['id']}/approve").json()["status"] == "approved"
        rig.clock.set(LEAVES)
        assert admin.post(f"/leave/{leave['id']}/out").json()["status"] == "out"
        back = LEAVES + dt.timedelta(hours=2)
        result = gateway.post(
            "/integration/readings", json={"readings": [reading(person, back, 7)]}
        )
        assert result.json() == {"checks": 0, "returns": 1, "unknown": 0}
        [closed] = admin.get("/leave").json()
    assert closed["status"] == "returned"
    assert closed["returned_at"] == back.isoformat().replace("+00:00", "Z")
    assert closed["return_source"] == "reading:hh-w2-main-1:7"


def test_a_reading_before_going_out_or_in_the_room_does_not_close_it(rig: RecordsRig) -> None:
    with rig.client() as admin, rig.add_user("gw", "gateway") as gateway:
        person = person_of(admin, "S001")
        leave = request_leave(admin)
        admin.post(f"/leave/{leave['id']}/approve").raise_for_status()
        rig.clock.set(LEAVES)
        admin.post(f"/leave/{leave['id']}/out").raise_for_status()
        earlier = reading(person, LEAVES - dt.timedelta(minutes=5), 1)
        in_room = reading(person, LEAVES + dt.timedelta(hours=1), 2, placement="room")
        result = gateway.post("/integration/readings", json={"readings": [earlier, in_room]}).json()
        assert result["returns"] == 0
        assert admin.get("/leave").json()[0]["status"] == "out"


def test_overdue_returns_are_flagged_as_the_clock_passes_returns_by(rig: RecordsRig) -> None:
    with rig.client() as admin:
        leave = request_leave(admin)
        admin.post(f"/leave/{leave['id']}/approve").raise_for_status()
        rig.clock.set(LEAVES)
        admin.post(f"/leave/{leave['id']}/out").raise_for_status()
        rig.clock.set(LEAVES + dt.timedelta(hours=3, minutes=59))
        assert admin.get("/leave", params={"overdue": True}).json() == []
        rig.clock.set(LEAVES + dt.timedelta(hours=4, minutes=1))
        [overdue] = admin.get("/leave", params={"overdue": True}).json()
    assert overdue["id"] == leave["id"]
    assert overdue["overdue"] is True


def test_transitions_out_of_order_are_409_and_refused_leave_stays_refused(rig: RecordsRig) -> None:
    with rig.client() as admin:
        leave = request_leave(admin)
        assert admin.post(f"/leave/{leave['id']}/out").status_code == 409
        assert admin.post(f"/leave/{leave['id']}/refuse").json()["status"] == "refused"
        assert admin.post(f"/leave/{leave['id']}/approve").status_code == 409
        assert admin.post("/leave/999999/approve").status_code == 404


def test_a_supervisor_handles_only_their_own_students_leave(rig: RecordsRig) -> None:
    with rig.client() as admin:
        other = request_leave(admin, "S002")
    with rig.add_user("sup", "unit_supervisor", unit="u01") as sup:
        mine = request_leave(sup, "S001")
        assert sup.post(f"/leave/{mine['id']}/approve").status_code == 200
        assert sup.post(f"/leave/{other['id']}/approve").status_code == 404
        assert [leave["student_no"] for leave in sup.get("/leave").json()] == ["S001"]
        refused = sup.post(
            "/leave",
            json={
                **{k: mine[k] for k in ("reason", "destination", "leaves_at", "returns_by")},
                "student_no": "S002",
            },
        )
        assert refused.status_code == 404
