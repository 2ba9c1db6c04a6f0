"""A records service with the alert lifecycle, a small site, desk accounts and a fever alert.

Shared by the desk's HTTP tests and its browser tests: :func:`desk_service` starts the service
on SQLite or PostgreSQL with a clinic, a duty, a unit supervisor of another unit and a gateway
account; :func:`raise_fever` posts a confirmed fever of student S001 as the gateway would.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from records_rig import ManualClock, RecordsRig, database_url, make_site, running_records

from thermogate.contract.messages import Alert, AlertKind, Severity, encode

CLINIC, DUTY, WARDEN, GATEWAY = "clinic1", "duty1", "warden7", "gw"
STUDENT_NAME = "Test Student One"
"""The name of S001 in records_rig's fictional site (wenyuan-2, unit u01)."""
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def password(username: str) -> str:
    """The password :meth:`RecordsRig.add_user` gives an account."""
    return f"{username}-password"


@dataclass
class DeskSite:
    """The running service, its clock and the pseudonymous id of S001."""

    rig: RecordsRig
    clock: ManualClock
    person_id: str


@contextmanager
def desk_service(backend: str, tmp_path: Path) -> Iterator[DeskSite]:
    """The records service with the lifecycle (``api``), the site, a roster and the accounts."""
    clock = ManualClock(dt.datetime.now(dt.UTC))
    with (
        database_url(backend, tmp_path) as url,
        running_records(url, tmp_path, clock=clock, alert_lifecycle="api") as rig,
        rig.client() as admin,
    ):
        make_site(admin)
        now = dt.datetime.now(dt.UTC)  # the lifecycle routes by the system clock
        for staff, role, building in (("D1", "duty", "wenyuan-2"), ("C1", "clinic_liaison", None)):
            body = {
                "building": building,
                "staff_no": staff,
                "role": role,
                "starts_at": (now - dt.timedelta(hours=1)).isoformat(),
                "ends_at": (now + dt.timedelta(hours=2)).isoformat(),
            }
            admin.post("/roster/shifts", json=body).raise_for_status()
        for username, role, scope in (
            (CLINIC, "clinic", {}),
            (DUTY, "duty", {}),
            (WARDEN, "unit_supervisor", {"unit": "u07"}),
            (GATEWAY, "gateway", {}),
        ):
            rig.add_user(username, role, **scope).close()
        person = admin.get("/students/S001").json()["person_id"]
        yield DeskSite(rig, clock, person)


def raise_fever(site: DeskSite, seq: int = 1, temp_c: float = 38.6) -> dict[str, object]:
    """A confirmed fever of S001 at wenyuan-2/main, posted by the gateway account."""
    now = dt.datetime.now(dt.UTC)
    alert = Alert(
        alert_id=f"fever:hh-w2-main-1:{seq}",
        kind=AlertKind.FEVER,
        severity=Severity.CRITICAL,
        building="wenyuan-2",
        entrance="main",
        device_id="hh-w2-main-1",
        reading_id=f"hh-w2-main-1:{seq}",
        person_id=site.person_id,
        temp_c=temp_c,
        threshold_c=37.3,
        ts=now,
        raised_at=now,
        message=f"fever {temp_c} °C at wenyuan-2/main",
    )
    with site.rig.client(GATEWAY, password(GATEWAY)) as gateway:
        response = gateway.post(
            "/integration/alerts",
            content=encode(alert),
            headers={"Content-Type": "application/json"},
        )
    response.raise_for_status()
    taken: dict[str, object] = response.json()
    return taken


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


class DeskBrowser:
    """An HTTP client that uses the desk as a browser does: cookies, forms, redirects."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def __enter__(self) -> DeskBrowser:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def login(self, username: str, secret: str | None = None) -> httpx.Response:
        """Fill in and send the login form (the password of the account unless given)."""
        form = self.http.get("/desk/login")
        return self.http.post(
            "/desk/login",
            data={
                "username": username,
                "password": password(username) if secret is None else secret,
                "csrf": csrf_of(form.text),
            },
        )

    def page(self) -> httpx.Response:
        """The desk page (following the redirect to the login page if there is one)."""
        return self.http.get("/desk", follow_redirects=True)

    def submit(self, action: str, fields: dict[str, str], *, csrf: bool = True) -> httpx.Response:
        """POST a form of the desk page, with the page's CSRF token unless ``csrf`` is False."""
        data = dict(fields)
        if csrf:
            data["csrf"] = csrf_of(self.page().text)
        return self.http.post(action, data=data)
