"""The alert lifecycle inside the records service: its routes behind our login, its loops in
our lifespan, its routing from our roster.

With ``records.alert_lifecycle`` at ``api`` or ``mqtt``, the app mounts the lifecycle's
router (``/alerts``, the signed-link pages), turns each authenticated caller into the
lifecycle's :class:`~thermogate.alerts.lifecycle.policy.Actor`, and starts the lifecycle with
:class:`~thermogate.records.roster_routing.SqlRoster` on the same database. ``api`` takes
alerts only through ``POST /cases/from-alert`` (which also opens the fever case); ``mqtt``
also takes every alert the gateway publishes.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from thermogate.alerts.lifecycle.api import STATE_KEY, LifecycleState, current_actor, router
from thermogate.alerts.lifecycle.policy import Actor
from thermogate.alerts.lifecycle.runner import LifecycleHandle, start_lifecycle
from thermogate.config import Settings
from thermogate.records.api.deps import CurrentUser
from thermogate.records.roster_routing import SqlRoster

log = logging.getLogger(__name__)


def actor_of(who: CurrentUser) -> Actor:
    """The lifecycle's actor for the logged-in caller (user name and role)."""
    return Actor(who.username, who.role.value)


def mount(app: FastAPI, settings: Settings) -> None:
    """Mount the lifecycle's routes behind our login, when the lifecycle is on."""
    if settings.records.alert_lifecycle == "off":
        return
    app.include_router(router)
    app.dependency_overrides[current_actor] = actor_of


def start(
    app: FastAPI, settings: Settings, engine: Engine, sessions: sessionmaker[Session]
) -> LifecycleHandle | None:
    """Start the lifecycle on our database (already migrated); None when it is off."""
    mode = settings.records.alert_lifecycle
    if mode == "off":
        return None
    handle = start_lifecycle(settings, engine, SqlRoster(sessions), mqtt=mode == "mqtt")
    setattr(app.state, STATE_KEY, handle.state)
    log.info("alert lifecycle running in the records service", extra={"mode": mode})
    return handle


def state(app: FastAPI) -> LifecycleState | None:
    """The running lifecycle of ``app``, if any."""
    found = getattr(app.state, STATE_KEY, None)
    return found if isinstance(found, LifecycleState) else None
