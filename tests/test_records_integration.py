"""The gateway's side: the registry and people over HTTP, cached on disk and served from the
cache once the records service is stopped; and alert routing from the duty roster."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from records_rig import BACKEND_PARAMS, RecordsRig, database_url, make_site, running_records

from thermogate.alerts.lifecycle.routing import Roster
from thermogate.contract.messages import Alert, AlertKind, Placement, Severity
from thermogate.records.client import RecordsClient, RecordsUnavailableError
from thermogate.records.db.engine import make_engine, make_sessions
from thermogate.records.roster_routing import SqlRoster
from thermogate.records.wire import DecidedReading, ReadingsIn

pytestmark = pytest.mark.timeout(120)

DEVICE = {
    "device_id": "hh-w2-main-1",
    "kind": "handheld",
    "site": "forehead",
    "placement": "door",
    "building": "wenyuan-2",
    "entrance": "main",
    "credentials_ref": "mosquitto:hh-w2-main-1",
    "calibration": {"offset_c": 0.4, "slope": 1.0},
}


@pytest.fixture(params=BACKEND_PARAMS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


def prepare(rig: RecordsRig) -> None:
    with rig.client() as admin:
        make_site(admin)
        admin.post("/entrances", json={"building": "wenyuan-2", "slug": "main"}).raise_for_status()
        admin.put(f"/devices/{DEVICE['device_id']}", json=DEVICE).raise_for_status()
    rig.add_user("gw", "gateway").close()


def test_the_client_keeps_answering_from_its_cache_when_the_service_stops(
    db_url: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with running_records(db_url, tmp_path) as rig:
        prepare(rig)
        with RecordsClient(rig.url, "gw", "gw-password", cache) as client:
            live_registry = client.registry()
            live_people = client.people()
    assert live_registry.from_cache is False
    assert [d.model_dump(mode="json") for d in live_registry.value.devices] == [
        {
            **DEVICE,
            "calibration": {
                "offset_c": 0.4,
                "slope": 1.0,
                "ambient_coef": None,
                "ambient_ref_c": None,
            },
        }
    ]
    places = {p.person_id: (p.building, p.unit, p.grid_unit) for p in live_people.value.people}
    assert sorted(places.values()) == [("wenyuan-2", "u01", "g01"), ("wenyuan-3", "u07", "g02")]
    assert sorted(p.name for p in cache.iterdir()) == ["people.json", "registry.json"]
    assert "Test Student" not in (cache / "people.json").read_text()
    # the service is stopped now: a fresh client (a restarted gateway) answers from the cache
    with RecordsClient(rig.url, "gw", "gw-password", cache, timeout_s=1) as client:
        cached_registry = client.registry()
        cached_people = client.people()
    assert cached_registry.from_cache is True
    assert cached_registry.value == live_registry.value
    assert cached_people.value == live_people.value
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{rig.url}/health")


def test_without_service_or_cache_the_client_says_so(tmp_path: Path) -> None:
    with (
        RecordsClient("http://127.0.0.1:9", "gw", "x", tmp_path / "empty", timeout_s=1) as client,
        pytest.raises(RecordsUnavailableError),
    ):
        client.registry()


def test_a_service_error_falls_back_to_the_cache_and_the_cache_file_is_whole_json(
    db_url: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with running_records(db_url, tmp_path) as rig:
        prepare(rig)
        with RecordsClient(rig.url, "gw", "gw-password", cache) as client:
            client.registry()
        with RecordsClient(rig.url, "gw", "wrong-password", cache) as client:
            refused = client.registry()
    assert refused.from_cache is True
    assert (
        json.loads((cache / "registry.json").read_text())["devices"][0]["device_id"]
        == "hh-w2-main-1"
    )
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]


def test_the_client_imports_no_web_framework() -> None:
    code = "import sys, thermogate.records.client; assert 'fastapi' not in sys.modules, 'fastapi'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_routing_tells_the_liaison_and_desk_first_then_escalates(
    db_url: str, tmp_path: Path
) -> None:
    day = "2026-03-02"
    with running_records(db_url, tmp_path) as rig:
        with rig.client() as admin:
            make_site(admin)
            for staff, role, building in (
                ("D1", "duty", "wenyuan-2"),
                ("C1", "clinic_liaison", None),
                ("D2", "leader", "wenyuan-2"),
            ):
                body = {
                    "building": building,
                    "staff_no": staff,
                    "role": role,
                    "starts_at": f"{day}T00:00:00+08:00",
                    "ends_at": f"{day}T12:00:00+08:00",
                }
                admin.post("/roster/shifts", json=body).raise_for_status()
        engine = make_engine(db_url)
        roster: Roster = SqlRoster(make_sessions(engine))
        at = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
        route = roster.route("wenyuan-2", at)
        later = roster.route("wenyuan-2", at + dt.timedelta(hours=6))
        unknown = roster.route("nowhere", at)
        engine.dispose()
    assert [(c.contact_id, c.role, tuple(c.channel_urls)) for c in route.first] == [
        ("C1", "clinic_liaison", ("mailto://liaison@example.org",)),
        ("D1", "duty", ("json://127.0.0.1:9/d1",)),
    ]
    assert [(c.contact_id, c.role) for c in route.escalation] == [
        ("D2", "duty_leader"),
        ("P1", "deputy"),
        ("L1", "group_leader"),
    ]
    assert later.first == ()
    assert [c.contact_id for c in later.escalation] == ["P1", "L1"]
    assert (unknown.first, unknown.escalation) == ((), ())


def test_the_client_sends_readings_and_alerts(db_url: str, tmp_path: Path) -> None:
    at = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai: the morning slot
    with running_records(db_url, tmp_path) as rig:
        prepare(rig)
        with rig.client() as admin:
            person = admin.get("/students/S001").json()["person_id"]
        reading = DecidedReading(
            reading_id="hh-w2-main-1:5",
            person_id=person,
            ts=at,
            building="wenyuan-2",
            placement=Placement.DOOR,
            temp_c=37.9,
            adjusted_c=38.1,
            decision="fever",
        )
        alert = Alert(
            alert_id="fever:hh-w2-main-1:5",
            kind=AlertKind.FEVER,
            severity=Severity.CRITICAL,
            building="wenyuan-2",
            person_id=person,
            temp_c=37.9,
            ts=at,
            raised_at=at,
            message="confirmed fever",
        )
        with RecordsClient(rig.url, "gw", "gw-password", tmp_path / "cache") as client:
            sent = client.send_readings(ReadingsIn(readings=[reading]))
            taken = client.send_alert(alert)
        with rig.client() as admin:
            [check] = admin.get("/screening/checks", params={"day": "2026-03-02"}).json()
            case = admin.get(f"/cases/{taken.case_id}").json()
    assert (sent.checks, sent.returns, sent.unknown) == (1, 0, 0)
    assert (check["student_no"], check["abnormal"], check["temp_c"]) == ("S001", True, 38.1)
    assert (taken.lifecycle, taken.case_opened) == (None, True)
    assert case["student_no"] == "S001"
    with (
        RecordsClient(rig.url, "gw", "gw-password", tmp_path / "cache", timeout_s=1) as client,
        pytest.raises(httpx.HTTPError),
    ):
        client.send_alert(alert)
