"""A records service under test: real uvicorn on a free port, on SQLite or PostgreSQL.

``records_url_for`` yields a database URL for each backend; :class:`RecordsRig` starts the
app on it with a movable clock and logs accounts in over HTTP.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pg import scratch_database
from pydantic import SecretStr
from servers import free_port

from thermogate.config import MqttSettings, RecordsSettings, Settings
from thermogate.records.server import build_server

START_TIMEOUT_S = 20.0
ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-1"
BACKENDS = ("sqlite", "postgresql")
TOKEN_MINUTES = 1440
"""Tokens last a day here: tests move the clock by hours while logged in."""
BACKEND_PARAMS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.servers)]
"""Parameters of a fixture over both databases (PostgreSQL tests are marked ``servers``)."""


@dataclass
class ManualClock:
    """A clock the test moves; the app reads it for "now"."""

    now: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, when: dt.datetime) -> None:
        self.now = when


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'records.sqlite3'}"
    else:
        with scratch_database() as url:
            yield url


@dataclass
class RecordsRig:
    """A running records service and helpers to call it as one account or another."""

    url: str
    clock: ManualClock
    settings: Settings

    def client(self, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> httpx.Client:
        """An HTTP client logged in as ``username`` (bearer token from /auth/token)."""
        response = httpx.post(
            f"{self.url}/auth/token", data={"username": username, "password": password}
        )
        response.raise_for_status()
        token = response.json()["access_token"]
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def add_user(self, username: str, role: str, **scope: str) -> httpx.Client:
        """Create an account through the API (as admin) and return a client logged in as it."""
        with self.client() as admin:
            password = f"{username}-password"
            body = {"username": username, "password": password, "role": role, **scope}
            admin.post("/users", json=body).raise_for_status()
        return self.client(username, password)


@contextmanager
def running_records(
    db_url: str,
    tmp_path: Path,
    clock: ManualClock | None = None,
    port: int | None = None,
    mqtt: MqttSettings | None = None,
    **records: Any,
) -> Iterator[RecordsRig]:
    """The records service on ``db_url`` with an admin account, stopped afterwards (``mqtt``:
    the broker of ``records.alert_lifecycle = "mqtt"``)."""
    clock = clock or ManualClock()
    settings = Settings(
        mqtt=mqtt or MqttSettings(),
        records=RecordsSettings(
            host="127.0.0.1",
            port=port or free_port(),
            database_url=SecretStr(db_url),
            state_dir=tmp_path / "records",
            bootstrap_admin=ADMIN,
            bootstrap_password=SecretStr(ADMIN_PASSWORD),
            token_minutes=TOKEN_MINUTES,
            **records,
        ),
    )
    server = build_server(settings, clock=clock)
    thread = threading.Thread(target=server.run, name="records-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive(), "uvicorn exited while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield RecordsRig(f"http://127.0.0.1:{settings.records.port}", clock, settings)
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
        assert not thread.is_alive()


SITE_ROOMS = """building,number,unit
wenyuan-2,101,u01
wenyuan-3,201,u07
"""
SITE_STUDENTS = """\
student_no,name,situation,college,grade,class_name,building,room,grid_unit,card_id
S001,Test Student One,on_campus,International College,2025,C1,wenyuan-2,101,g01,A1B2C3D4
S002,Test Student Two,on_campus,International College,2025,C2,wenyuan-3,201,g02,0F0F0F0F
"""
SITE_STAFF = """staff_no,name,position,supervises_unit,work_group_role,notify_urls
D1,Test Desk One,duty,,,json://127.0.0.1:9/d1
D2,Test Desk Two,duty,,,json://127.0.0.1:9/d2
C1,Test Liaison,clinic_liaison,,,mailto://liaison@example.org
L1,Test Leader,college_staff,,leader,json://127.0.0.1:9/l1
P1,Test Deputy,college_staff,,deputy,json://127.0.0.1:9/p1
U1,Test Warden,unit_supervisor,u01,,
"""


def make_site(admin: httpx.Client) -> None:
    """Two buildings (a unit, a room, a grid unit and a student each) and six staff."""
    for slug, name in (("wenyuan-2", "Wenyuan Building 2"), ("wenyuan-3", "Wenyuan Building 3")):
        admin.post("/buildings", json={"slug": slug, "name": name}).raise_for_status()
    for code, building in (("u01", "wenyuan-2"), ("u07", "wenyuan-3")):
        body = {"code": code, "name": code.upper(), "building": building}
        admin.post("/units", json=body).raise_for_status()
    for code in ("g01", "g02"):
        admin.put(f"/grid-units/{code}", json={"code": code, "name": code}).raise_for_status()
    for kind, text in (("rooms", SITE_ROOMS), ("students", SITE_STUDENTS), ("staff", SITE_STAFF)):
        response = admin.post(
            f"/import/{kind}", content=text.encode(), headers={"Content-Type": "text/csv"}
        )
        assert response.status_code == 200, response.text
