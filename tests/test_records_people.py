"""Accounts, places and people over real HTTP, on SQLite and PostgreSQL; role boundaries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from records_rig import ADMIN, BACKENDS, RecordsRig, database_url, make_site, running_records

from thermogate.contract.pseudonym import pseudonymous_id

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(
    params=[
        pytest.param(b, marks=pytest.mark.servers) if b == "postgresql" else b for b in BACKENDS
    ]
)
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordsRig]:
    with database_url(request.param, tmp_path) as url, running_records(url, tmp_path) as rig:
        yield rig


def test_login_gives_a_token_and_a_wrong_password_is_401(rig: RecordsRig) -> None:
    bad = httpx.post(f"{rig.url}/auth/token", data={"username": ADMIN, "password": "nope-nope"})
    assert bad.status_code == 401
    with rig.client() as admin:
        me = admin.get("/auth/me").json()
    assert me["username"] == ADMIN
    assert me["role"] == "admin"
    assert httpx.get(f"{rig.url}/students").status_code == 401
    garbage = httpx.get(f"{rig.url}/students", headers={"Authorization": "Bearer x.y.z"})
    assert garbage.status_code == 401


def test_a_token_expires_with_the_clock(rig: RecordsRig) -> None:
    with rig.client() as admin:
        assert admin.get("/auth/me").status_code == 200
        rig.clock.set(rig.clock.now + dt.timedelta(minutes=rig.settings.records.token_minutes + 1))
        assert admin.get("/auth/me").status_code == 401


def test_students_carry_the_edge_pseudonym_and_their_unit(rig: RecordsRig) -> None:
    with rig.client() as admin:
        make_site(admin)
        student = admin.get("/students/S001").json()
    key = rig.settings.edge.pseudonym_key.get_secret_value().encode()
    assert student["person_id"] == pseudonymous_id("a1b2c3d4", key)
    assert (student["building"], student["unit"], student["room"], student["grid_unit"]) == (
        "wenyuan-2",
        "u01",
        "101",
        "g01",
    )


def test_a_unit_supervisor_sees_only_their_unit(rig: RecordsRig) -> None:
    with rig.client() as admin:
        make_site(admin)
    with rig.add_user("sup1", "unit_supervisor", unit="u01") as sup:
        assert [s["student_no"] for s in sup.get("/students").json()] == ["S001"]
        assert sup.get("/students/S001").status_code == 200
        assert sup.get("/students/S002").status_code == 404
        assert sup.get("/staff").status_code == 403
        assert sup.post("/buildings", json={"slug": "x", "name": "X"}).status_code == 403


def test_a_grid_leader_sees_only_their_grid_unit(rig: RecordsRig) -> None:
    with rig.client() as admin:
        make_site(admin)
    with rig.add_user("lead2", "grid_leader", grid_unit="g02") as lead:
        assert [s["student_no"] for s in lead.get("/students").json()] == ["S002"]
        assert lead.get("/students/S001").status_code == 404


def test_the_gateway_account_reads_no_students(rig: RecordsRig) -> None:
    with rig.add_user("gw", "gateway") as gateway:
        assert gateway.get("/students").status_code == 403


def test_a_duplicate_building_is_409_and_an_unknown_reference_422(rig: RecordsRig) -> None:
    with rig.client() as admin:
        make_site(admin)
        again = admin.post("/buildings", json={"slug": "wenyuan-2", "name": "Again"})
        assert again.status_code == 409
        orphan = admin.post("/units", json={"code": "u99", "name": "U", "building": "nowhere"})
        assert orphan.status_code == 422


def test_a_deactivated_account_is_refused_at_once_and_an_admin_keeps_their_own(
    rig: RecordsRig,
) -> None:
    with rig.add_user("desk", "duty") as duty, rig.client() as admin:
        assert duty.get("/auth/me").status_code == 200
        assert admin.patch("/users/desk", json={"active": False}).json()["active"] is False
        assert duty.get("/auth/me").status_code == 401
        login = httpx.post(
            f"{rig.url}/auth/token", data={"username": "desk", "password": "desk-password"}
        )
        assert login.status_code == 401
        assert admin.patch(f"/users/{ADMIN}", json={"active": False}).status_code == 409
        assert admin.patch("/users/nobody", json={"active": True}).status_code == 404
        assert duty.get("/audit").status_code == 401


def test_the_audit_log_is_for_admins(rig: RecordsRig) -> None:
    with rig.client() as admin:
        make_site(admin)
        admin.get("/screening/checks", params={"day": "2026-03-02"}).raise_for_status()
        entries = admin.get("/audit", params={"username": ADMIN}).json()
    assert [(e["action"], e["resource"]) for e in entries] == [("read", "screening_check")]
    with rig.add_user("doc", "clinic") as clinic:
        assert clinic.get("/audit").status_code == 403


def test_tokens_follow_the_service_clock_even_ahead_of_the_system_clock(rig: RecordsRig) -> None:
    rig.clock.set(dt.datetime.now(dt.UTC) + dt.timedelta(days=400))
    with rig.client() as admin:
        assert admin.get("/auth/me").status_code == 200
