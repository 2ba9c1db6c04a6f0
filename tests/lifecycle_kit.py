"""Shared parts of the alert lifecycle tests: a roster in memory, a clock moved by hand,
wire alerts, and a service on a real database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from thermogate.alerts.lifecycle.links import LinkSigner
from thermogate.alerts.lifecycle.routing import Contact, Route
from thermogate.alerts.lifecycle.service import LifecycleService
from thermogate.contract.messages import Alert, AlertKind, Severity
from thermogate.records.db import Base

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
SECRET = "test-link-secret-of-enough-length-0123456789"
BASE_URL = "http://records.test:8080"


class FakeClock:
    """A clock the test moves; never the machine's."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@dataclass
class MemoryRoster:
    """The duty roster in memory: the same route for every building and time, recorded."""

    first: Sequence[Contact] = ()
    escalation: Sequence[Contact] = ()
    asked: list[tuple[str, dt.datetime]] = field(default_factory=list)

    def route(self, building: str, at: dt.datetime) -> Route:
        self.asked.append((building, at))
        return Route(first=tuple(self.first), escalation=tuple(self.escalation))


def contact(contact_id: str, role: str, *urls: str) -> Contact:
    return Contact(
        contact_id=contact_id, name=f"Fictional {contact_id}", role=role, channel_urls=urls
    )


LIAISON = contact("c-liaison", "clinic_liaison", "json://127.0.0.1:9/liaison")
DUTY = contact("c-duty", "duty", "json://127.0.0.1:9/duty")
DEPUTY = contact("c-deputy", "group_deputy", "json://127.0.0.1:9/deputy")
LEADER = contact("c-leader", "group_leader", "json://127.0.0.1:9/leader")


def make_alert(
    kind: AlertKind = AlertKind.FEVER,
    *,
    seq: int = 1,
    person: str | None = "p-0a1b2c3d",
    ts: dt.datetime = T0,
    temp: float | None = 38.1,
    **overrides: Any,
) -> Alert:
    """A wire alert as the gateway would raise it (ids stable per cause)."""
    reading = f"hh-w2-main-1:{seq}"
    fields: dict[str, Any] = {
        "alert_id": f"{kind.value}:{reading}",
        "kind": kind,
        "severity": Severity.CRITICAL if kind is AlertKind.FEVER else Severity.WARNING,
        "building": "wenyuan-2",
        "entrance": "main",
        "device_id": "hh-w2-main-1",
        "reading_id": reading,
        "person_id": person,
        "temp_c": temp,
        "threshold_c": 37.3,
        "ts": ts,
        "raised_at": ts,
        "message": f"{kind.value} {temp} at wenyuan-2/main",
    }
    fields.update(overrides)
    return Alert(**fields)


def device_alert(kind: AlertKind, device: str = "hh-w2-main-1", since: dt.datetime = T0) -> Alert:
    stamp = since.isoformat()
    return Alert(
        alert_id=f"{kind.value}:{device}:{stamp}",
        kind=kind,
        severity=Severity.WARNING,
        building="wenyuan-2",
        entrance="main",
        device_id=device,
        ts=since,
        raised_at=since,
        message=f"{device} {kind.value}",
    )


def engine_for(url: str) -> Engine:
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    return engine


def make_service(
    engine: Engine,
    roster: MemoryRoster,
    clock: FakeClock,
    *,
    escalation_min: float = 5,
    episode_h: float = 24,
) -> LifecycleService:
    links = LinkSigner(SECRET, dt.timedelta(hours=24), BASE_URL, clock)
    sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
    return LifecycleService(
        sessions,
        roster,
        links,
        escalation=dt.timedelta(minutes=escalation_min),
        episode=dt.timedelta(hours=episode_h),
        clock=clock,
    )
