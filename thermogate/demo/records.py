"""The demo's records service: in-process uvicorn on SQLite, the fictional site, two desk users.

It runs the alert lifecycle off the embedded broker (``records.alert_lifecycle = "mqtt"``), so
every fever the gateway publishes becomes a lifecycle alert routed from the seeded duty roster
and, about a person, a fever case. Every staff member's notifications go to one local inbox
(the "phones"), where the clinic robot, or a person reading ``phones.jsonl``, finds the signed
links. The clinic and duty accounts get fresh demo-only passwords each run.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

import uvicorn
from sqlalchemy import Engine, func, select, update

from thermogate.alerts.lifecycle.tables import LifecycleAlert, Notification
from thermogate.config import Settings
from thermogate.records import lifecycle
from thermogate.records.app import create_app
from thermogate.records.db.engine import make_engine, make_sessions
from thermogate.records.db.migrate import upgrade_to_head
from thermogate.records.models import FeverCase, Staff
from thermogate.records.security.roles import Role
from thermogate.records.seed import seed_site
from thermogate.records.services.users import create_user

log = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 20.0
STOP_TIMEOUT_S: Final = 10.0
ROSTER_DAYS: Final = 2
CLINIC_USER: Final = "clinic"
DUTY_USER: Final = "duty"


def free_local_socket() -> socket.socket:
    """A listening-ready TCP socket on a free loopback port (handed to uvicorn, so no race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass(frozen=True, slots=True)
class DeskCounts:
    """What the lifecycle and the cases look like now."""

    alerts: int = 0
    acknowledged: int = 0
    cleared: int = 0
    open_alerts: int = 0
    notifications_sent: int = 0
    open_cases: int = 0
    closed_cases: int = 0


@dataclass(frozen=True, slots=True)
class DeskAccount:
    """A demo account of the desk (its password is printed at start, valid for this run)."""

    username: str
    role: str
    password: str


def prepare(settings: Settings, phones_url: str) -> tuple[DeskAccount, DeskAccount, str]:
    """Migrate, seed the fictional site, point every staff member's notifications at
    ``phones_url`` and create the clinic and duty accounts; the accounts and the seed's summary.
    """
    engine = make_engine(settings.records.sqlalchemy_url)
    try:
        upgrade_to_head(engine)
        sessions = make_sessions(engine)
        clinic = DeskAccount(CLINIC_USER, Role.CLINIC.value, secrets.token_urlsafe(9))
        duty = DeskAccount(DUTY_USER, Role.DUTY.value, secrets.token_urlsafe(9))
        today = dt.datetime.now(ZoneInfo(settings.records.timezone)).date()
        with sessions() as session:
            summary = seed_site(
                session, settings, days=ROSTER_DAYS, start=today - dt.timedelta(days=1)
            )
            session.execute(update(Staff).values(notify_urls=[phones_url]))
            for account in (clinic, duty):
                create_user(session, account.username, account.password, Role(account.role))
            session.commit()
    finally:
        engine.dispose()
    return clinic, duty, summary


class DemoRecords:
    """The records service of the demo, served from a thread until :meth:`stop`."""

    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        self.settings = settings
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._app = create_app(settings)
        self._server = uvicorn.Server(
            uvicorn.Config(self._app, log_config=None, server_header=False, lifespan="on")
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="demo-records", daemon=True
        )
        self._engine: Engine = make_engine(settings.records.sqlalchemy_url)

    @property
    def desk_url(self) -> str:
        """The clinic and duty desk."""
        return f"{self.url}/desk"

    def start(self) -> None:
        """Serve, and wait until the app is up and its lifecycle listens on the broker."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the records service did not start (see demo.log)")
            time.sleep(0.02)
        remaining = max(0.1, deadline - time.monotonic())
        if not lifecycle.wait_connected(self._app, remaining):
            raise RuntimeError("the alert lifecycle did not connect to the embedded broker")
        log.info("demo records service up", extra={"url": self.url})

    def stop(self) -> None:
        """Ask uvicorn to finish (the lifespan stops the lifecycle), then wait for it."""
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        self._engine.dispose()

    def counts(self) -> DeskCounts:
        """Alerts, notifications and cases, read from the service's database."""
        alerts, notes, cases = LifecycleAlert, Notification, FeverCase
        with self._engine.connect() as db:
            total, acked, cleared = db.execute(
                select(
                    func.count(),
                    func.count(alerts.acknowledged_at),
                    func.count(alerts.cleared_at),
                ).select_from(alerts)
            ).one()
            sent = db.scalar(select(func.count(notes.sent_at)).select_from(notes)) or 0
            by_status = dict(
                db.execute(select(cases.status, func.count()).group_by(cases.status)).tuples().all()
            )
        return DeskCounts(
            alerts=total,
            acknowledged=acked,
            cleared=cleared,
            open_alerts=total - cleared,
            notifications_sent=sent,
            open_cases=by_status.get("open", 0),
            closed_cases=by_status.get("closed", 0),
        )
