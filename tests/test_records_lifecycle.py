"""The alert lifecycle running inside the records service: alerts posted by the gateway open a
lifecycle alert routed from the records' duty roster and, about a person, a fever case; the
lifecycle's routes answer behind the records' login."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from records_rig import BACKEND_PARAMS, RecordsRig, database_url, make_site, running_records
from sqlalchemy import create_engine, text

from thermogate.contract.messages import Alert, AlertKind, Severity, encode
from thermogate.records import lifecycle as records_lifecycle

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=BACKEND_PARAMS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordsRig]:
    with (
        database_url(request.param, tmp_path) as url,
        running_records(url, tmp_path, alert_lifecycle="api") as rig,
    ):
        with rig.client() as admin:
            make_site(admin)
            now = dt.datetime.now(dt.UTC)  # the lifecycle routes by the system clock
            for staff, role, building in (
                ("D1", "duty", "wenyuan-2"),
                ("C1", "clinic_liaison", None),
            ):
                body = {
                    "building": building,
                    "staff_no": staff,
                    "role": role,
                    "starts_at": (now - dt.timedelta(hours=1)).isoformat(),
                    "ends_at": (now + dt.timedelta(hours=2)).isoformat(),
                }
                admin.post("/roster/shifts", json=body).raise_for_status()
        yield rig


def alert(kind: AlertKind, person: str | None, device: str = "hh-w2-main-1") -> bytes:
    now = dt.datetime.now(dt.UTC)
    return encode(
        Alert(
            alert_id=f"{kind.value}:{device}:1",
            kind=kind,
            severity=Severity.CRITICAL,
            building="wenyuan-2",
            entrance="main",
            device_id=device,
            reading_id=f"{device}:1" if person else None,
            person_id=person,
            temp_c=38.4 if person else None,
            threshold_c=37.3 if person else None,
            ts=now,
            raised_at=now,
            message="test",
        )
    )


def post(client: httpx.Client, payload: bytes) -> dict:
    response = client.post(
        "/integration/alerts", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_fever_alert_opens_a_routed_lifecycle_alert_and_the_persons_case(rig: RecordsRig) -> None:
    with rig.client() as admin, rig.add_user("gw", "gateway") as gateway:
        person = admin.get("/students/S001").json()["person_id"]
        taken = post(gateway, alert(AlertKind.FEVER, person))
        again = post(gateway, alert(AlertKind.FEVER, person))
        with rig.add_user("desk", "duty") as duty:
            [listed] = duty.get("/alerts").json()
            acked = duty.post(f"/alerts/{listed['id']}/ack")
        case = admin.get(f"/cases/{taken['case_id']}").json()
    assert (taken["lifecycle"], taken["case_opened"]) == ("opened", True)
    assert (again["lifecycle"], again["case_id"], again["case_opened"]) == (
        "duplicate",
        taken["case_id"],
        False,
    )
    assert listed["person_id"] == person
    assert acked.status_code == 200
    assert acked.json()["acknowledged_by"] is not None
    assert case["student_no"] == "S001"
    engine = create_engine(rig.settings.records.sqlalchemy_url)
    with engine.connect() as connection:
        told = set(
            connection.execute(text("SELECT contact_id FROM lifecycle_notifications")).scalars()
        )
    engine.dispose()
    assert told == {"D1", "C1"}


def test_a_device_alert_reaches_the_lifecycle_without_a_case(rig: RecordsRig) -> None:
    with rig.add_user("gw", "gateway") as gateway:
        taken = post(gateway, alert(AlertKind.DEVICE_OFFLINE, None))
    assert taken["lifecycle"] == "opened"
    assert (taken["case_id"], taken["case_opened"]) == (None, False)


def test_the_lifecycle_routes_need_the_records_login(rig: RecordsRig) -> None:
    assert httpx.get(f"{rig.url}/alerts").status_code == 401
    with rig.add_user("gw", "gateway") as gateway:
        assert gateway.get("/alerts").status_code == 403


def test_leave_still_out_after_its_time_raises_a_leave_overdue_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records_lifecycle, "OVERDUE_CHECK_S", 0.05)
    url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    with running_records(url, tmp_path, alert_lifecycle="api") as rig, rig.client() as admin:
        make_site(admin)
        leaves = rig.clock.now + dt.timedelta(hours=1)
        body = {
            "student_no": "S001",
            "reason": "family visit",
            "destination": "home town",
            "leaves_at": leaves.isoformat(),
            "returns_by": (leaves + dt.timedelta(hours=3)).isoformat(),
        }
        leave = admin.post("/leave", json=body).json()
        admin.post(f"/leave/{leave['id']}/approve").raise_for_status()
        admin.post(f"/leave/{leave['id']}/out").raise_for_status()
        person = admin.get("/students/S001").json()["person_id"]
        assert admin.get("/alerts").json() == []
        rig.clock.set(leaves + dt.timedelta(hours=3, minutes=1))
        deadline = time.monotonic() + 10
        while not (found := admin.get("/alerts").json()):
            assert time.monotonic() < deadline, "no leave_overdue alert"
            time.sleep(0.05)
    [overdue] = found
    assert (overdue["kind"], overdue["person_id"], overdue["building"]) == (
        "leave_overdue",
        person,
        "wenyuan-2",
    )
