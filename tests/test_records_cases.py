"""Fever cases over HTTP: opened by the contract's Alert, one per person per episode, follow-ups,
closed only by the clinic, every step audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from records_rig import BACKEND_PARAMS, RecordsRig, database_url, make_site, running_records
from sqlalchemy import create_engine, text

from thermogate.contract.messages import Alert, AlertKind, Severity, encode

pytestmark = pytest.mark.timeout(120)

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(params=BACKEND_PARAMS)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordsRig]:
    with database_url(request.param, tmp_path) as url, running_records(url, tmp_path) as rig:
        rig.clock.set(NOW)
        with rig.client() as admin:
            make_site(admin)
        yield rig


def alert(person: str | None, kind: AlertKind, seq: int, temp: float = 37.9) -> bytes:
    return encode(
        Alert(
            alert_id=f"{kind.value}:hh-w2-main-1:{seq}",
            kind=kind,
            severity=Severity.CRITICAL if kind is AlertKind.FEVER else Severity.WARNING,
            building="wenyuan-2",
            entrance="main",
            device_id="hh-w2-main-1",
            reading_id=f"hh-w2-main-1:{seq}",
            person_id=person,
            temp_c=temp,
            adjusted_c=temp + 0.3,
            threshold_c=37.3,
            ts=NOW - dt.timedelta(minutes=30 - seq),
            raised_at=NOW,
            message="test alert",
        )
    )


def post_alert(client: httpx.Client, payload: bytes) -> httpx.Response:
    return client.post(
        "/cases/from-alert", content=payload, headers={"Content-Type": "application/json"}
    )


def test_alerts_open_one_case_per_person_and_redelivery_changes_nothing(rig: RecordsRig) -> None:
    with rig.client() as admin, rig.add_user("gw", "gateway") as gateway:
        person = admin.get("/students/S001").json()["person_id"]
        first = post_alert(gateway, alert(person, AlertKind.RECHECK, 1, 37.5))
        assert first.status_code == 201
        second = post_alert(gateway, alert(person, AlertKind.FEVER, 2, 38.2))
        assert second.status_code == 200
        again = post_alert(gateway, alert(person, AlertKind.FEVER, 2, 38.2))
        assert again.status_code == 200
        case = admin.get(f"/cases/{first.json()['id']}").json()
        assert len(admin.get("/cases").json()) == 1
    assert case["student_no"] == "S001"
    assert (case["kind"], case["severity"], case["max_temp_c"]) == ("fever", "critical", 38.2)
    assert [e["alert_id"] for e in case["follow_ups"]] == [
        "recheck:hh-w2-main-1:1",
        "fever:hh-w2-main-1:2",
    ]


def test_alerts_about_no_person_or_a_device_are_422(rig: RecordsRig) -> None:
    with rig.add_user("gw", "gateway") as gateway:
        assert post_alert(gateway, alert(None, AlertKind.FEVER_UNCONFIRMED, 1)).status_code == 422
        offline = alert(None, AlertKind.DEVICE_OFFLINE, 2)
        assert post_alert(gateway, offline).status_code == 422
        assert gateway.post("/cases/from-alert", json={"kind": "fever"}).status_code == 422


def test_only_the_clinic_closes_a_case(rig: RecordsRig) -> None:
    with rig.client() as admin, rig.add_user("gw", "gateway") as gateway:
        person = admin.get("/students/S001").json()["person_id"]
        case_id = post_alert(gateway, alert(person, AlertKind.FEVER, 1)).json()["id"]
        with rig.add_user("desk", "duty") as duty, rig.add_user("doc", "clinic") as clinic:
            remeasured = duty.post(
                f"/cases/{case_id}/follow-ups", json={"kind": "remeasurement", "temp_c": 37.4}
            )
            assert remeasured.status_code == 201
            visit = clinic.post(
                f"/cases/{case_id}/follow-ups",
                json={"kind": "clinic_visit", "note": "throat check, rest"},
            )
            assert visit.status_code == 201
            assert (
                admin.post(f"/cases/{case_id}/close", json={"outcome": "fine"}).status_code == 403
            )
            assert duty.post(f"/cases/{case_id}/close", json={"outcome": "fine"}).status_code == 403
            closed = clinic.post(
                f"/cases/{case_id}/close", json={"outcome": "common cold, cleared"}
            )
            assert closed.status_code == 200
            assert (
                clinic.post(f"/cases/{case_id}/close", json={"outcome": "again"}).status_code == 409
            )
            late = duty.post(f"/cases/{case_id}/follow-ups", json={"kind": "note", "note": "late"})
            assert late.status_code == 409
        reopened = post_alert(gateway, alert(person, AlertKind.FEVER, 9))
    body = closed.json()
    assert (body["status"], body["closed_by"], body["outcome"]) == (
        "closed",
        "doc",
        "common cold, cleared",
    )
    assert [e["kind"] for e in body["follow_ups"]] == ["alert", "remeasurement", "clinic_visit"]
    assert reopened.status_code == 201
    assert reopened.json()["id"] != case_id


def test_a_supervisor_sees_only_cases_of_their_unit(rig: RecordsRig) -> None:
    with rig.client() as admin, rig.add_user("gw", "gateway") as gateway:
        mine = post_alert(
            gateway, alert(admin.get("/students/S001").json()["person_id"], AlertKind.FEVER, 1)
        ).json()
        other = post_alert(
            gateway, alert(admin.get("/students/S002").json()["person_id"], AlertKind.FEVER, 2)
        ).json()
        stranger = post_alert(gateway, alert("p-0000000000000000", AlertKind.FEVER, 3)).json()
        assert stranger["student_no"] is None
        assert len(admin.get("/cases").json()) == 3
    with rig.add_user("sup", "unit_supervisor", unit="u01") as sup:
        assert [c["id"] for c in sup.get("/cases").json()] == [mine["id"]]
        assert sup.get(f"/cases/{other['id']}").status_code == 404
        assert sup.get(f"/cases/{stranger['id']}").status_code == 404
        assert gateway_cannot_read(rig)


def gateway_cannot_read(rig: RecordsRig) -> bool:
    with rig.client("gw", "gw-password") as gateway:
        return gateway.get("/cases").status_code == 403


def test_case_reads_and_changes_are_audited_with_who(rig: RecordsRig) -> None:
    with rig.client() as admin, rig.add_user("gw", "gateway") as gateway:
        person = admin.get("/students/S001").json()["person_id"]
        case_id = post_alert(gateway, alert(person, AlertKind.FEVER, 1)).json()["id"]
        with rig.add_user("doc", "clinic") as clinic:
            clinic.get(f"/cases/{case_id}").raise_for_status()
            clinic.post(f"/cases/{case_id}/close", json={"outcome": "cleared"}).raise_for_status()
    engine = create_engine(rig.settings.records.sqlalchemy_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT username, action, resource, resource_id, at FROM audit_log ORDER BY id")
        ).all()
    engine.dispose()
    assert [tuple(r[:4]) for r in rows] == [
        ("gw", "create", "fever_case", str(case_id)),
        ("doc", "read", "fever_case", str(case_id)),
        ("doc", "close", "fever_case", str(case_id)),
    ]
    assert all(r[4] is not None for r in rows)
