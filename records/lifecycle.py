"""The alert lifecycle inside the records service: its routes behind our login, its loops in
our lifespan, its routing from our roster.

With ``records.alert_lifecycle`` at ``api`` or ``mqtt``, the app mounts the lifecycle's
router (``/alerts``, the signed-link pages), turns each authenticated caller into the
lifecycle's :class:`~thermogate.alerts.lifecycle.policy.Actor`, and starts the lifecycle with
:class:`~thermogate.records.roster_routing.SqlRoster` on the same database. ``api`` takes
alerts only through ``POST /cases/from-alert`` (which also opens the fever case); ``mqtt``
also takes every alert the gateway publishes, and opens or updates the person's fever case
for each of those before acknowledging it, as ``POST /integration/alerts`` does. A watch
raises ``leave_overdue`` alerts for leave still out after its time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from thermogate.alerts.lifecycle.api import STATE_KEY, LifecycleState, current_actor, router
from thermogate.alerts.lifecycle.policy import Actor
from thermogate.alerts.lifecycle.runner import LifecycleHandle, start_lifecycle
from thermogate.alerts.lifecycle.service import Ingested, LifecycleService
from thermogate.config import Settings
from thermogate.contract.messages import Alert
from thermogate.records.api.deps import CurrentUser
from thermogate.records.audit import audit
from thermogate.records.context import Clock
from thermogate.records.roster_routing import SqlRoster
from thermogate.records.security.roles import Principal, Role
from thermogate.records.services.cases import NotACaseError, open_from_alert
from thermogate.records.services.overdue import overdue_alerts

log = logging.getLogger(__name__)

OVERDUE_CHECK_S: Final = 60.0
"""How often overdue leave is looked for (a leave is overdue for minutes, not seconds)."""
RUNNING_KEY: Final = "records_lifecycle"
INTAKE: Final = Principal(username="lifecycle-intake", role=Role.GATEWAY)
"""Who the audit log names for cases opened from alerts taken off the broker."""


def actor_of(who: CurrentUser) -> Actor:
    """The lifecycle's actor for the logged-in caller (user name and role)."""
    return Actor(who.username, who.role.value)


def mount(app: FastAPI, settings: Settings) -> None:
    """Mount the lifecycle's routes behind our login, when the lifecycle is on."""
    if settings.records.alert_lifecycle == "off":
        return
    app.include_router(router)
    app.dependency_overrides[current_actor] = actor_of


def raise_overdue(sessions: sessionmaker[Session], service: LifecycleService, now: Clock) -> int:
    """Hand every overdue leave to the lifecycle as a ``leave_overdue`` alert; how many."""
    with sessions() as session:
        alerts = overdue_alerts(session, now())
    for alert in alerts:
        service.ingest(alert)
    return len(alerts)


def case_opener(sessions: sessionmaker[Session], now: Clock) -> Callable[[Alert, Ingested], None]:
    """A hook for the MQTT intake: open or update the person's fever case of each alert.

    Idempotent per alert id (a redelivered alert adds nothing); alerts not about a person are
    left alone. Errors propagate, so the intake retries and does not acknowledge meanwhile.
    """

    def open_case(alert: Alert, _ingested: Ingested) -> None:
        with sessions() as session:
            try:
                case, opened = open_from_alert(session, alert, INTAKE.username)
            except NotACaseError:
                return
            audit(
                session,
                INTAKE,
                at=now(),
                action="create" if opened else "update",
                resource="fever_case",
                resource_id=case.id,
                detail=f"alert {alert.alert_id}",
            )
            session.commit()

    return open_case


@dataclass
class Running:
    """The lifecycle and the overdue-leave watch of one app; :meth:`stop` ends both."""

    handle: LifecycleHandle
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def watch_overdue(self, sessions: sessionmaker[Session], now: Clock) -> None:
        """Raise overdue-leave alerts now and every :data:`OVERDUE_CHECK_S` until stopped."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    raise_overdue(sessions, self.handle.service, now)
                except SQLAlchemyError:  # the database is down: look again next time
                    log.exception("overdue leave check failed; retrying")
                self._stop.wait(OVERDUE_CHECK_S)

        self._thread = threading.Thread(target=loop, name="records-overdue", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the watch, then the lifecycle."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(OVERDUE_CHECK_S)
        self.handle.stop()


def start(
    app: FastAPI,
    settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> Running | None:
    """Start the lifecycle on our database (already migrated); None when it is off."""
    mode = settings.records.alert_lifecycle
    if mode == "off":
        return None
    mqtt = mode == "mqtt"
    handle = start_lifecycle(
        settings,
        engine,
        SqlRoster(sessions),
        mqtt=mqtt,
        on_ingested=case_opener(sessions, clock) if mqtt else None,
    )
    setattr(app.state, STATE_KEY, handle.state)
    running = Running(handle)
    setattr(app.state, RUNNING_KEY, running)
    running.watch_overdue(sessions, clock)
    log.info("alert lifecycle running in the records service", extra={"mode": mode})
    return running


def wait_connected(app: FastAPI, timeout: float) -> bool:
    """Whether the MQTT intake of ``app``'s lifecycle is connected within ``timeout`` seconds
    (False when the lifecycle does not take alerts from MQTT)."""
    running = getattr(app.state, RUNNING_KEY, None)
    if not isinstance(running, Running) or running.handle.worker is None:
        return False
    return running.handle.worker.connection.wait_connected(timeout)


def state(app: FastAPI) -> LifecycleState | None:
    """The running lifecycle of ``app``, if any."""
    found = getattr(app.state, STATE_KEY, None)
    return found if isinstance(found, LifecycleState) else None
