"""Run the whole lifecycle in one process: MQTT intake, escalation ticker, notification sender.

The records service calls :func:`start_lifecycle` in its lifespan, puts ``handle.state`` on
``app.state.alert_lifecycle`` for the API routes, and calls ``handle.stop()`` on shutdown.
Each loop is a thread that waits on an event (never a bare sleep), so ``stop`` is prompt and a
new notification wakes the sender at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from thermogate.alerts.lifecycle.api import LifecycleState
from thermogate.alerts.lifecycle.links import signer_from_settings
from thermogate.alerts.lifecycle.routing import Roster
from thermogate.alerts.lifecycle.sender import NotificationSender
from thermogate.alerts.lifecycle.service import LifecycleService, utc_clock
from thermogate.alerts.lifecycle.worker import LifecycleWorker, Observer
from thermogate.config import Settings

log = logging.getLogger(__name__)

TICK_MAX_S: Final = 5.0
"""The escalation ticker looks at least this often (new alerts escalate minutes later)."""
IDLE_MAX_S: Final = 5.0
"""The sender looks at the outbox at least this often, woken earlier by new rows."""
ERROR_PAUSE_S: Final = 1.0
JOIN_TIMEOUT_S: Final = 10.0


@dataclass
class LifecycleHandle:
    """The running lifecycle; :meth:`stop` ends it."""

    service: LifecycleService
    sender: NotificationSender
    worker: LifecycleWorker | None
    state: LifecycleState
    _stop: threading.Event
    _wake: threading.Event
    _threads: list[threading.Thread]

    def stop(self) -> None:
        """Stop the intake (unacknowledged alerts stay with the broker), then the loops."""
        if self.worker is not None:
            self.worker.stop()
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(JOIN_TIMEOUT_S)
        log.info("alert lifecycle stopped")


def start_lifecycle(
    settings: Settings,
    engine: Engine,
    roster: Roster,
    *,
    mqtt: bool = True,
    on_ingested: Observer | None = None,
) -> LifecycleHandle:
    """Start the lifecycle on ``engine`` (tables migrated already) with ``roster`` routing.

    ``mqtt=False`` leaves out the intake (alerts then come only through
    :meth:`LifecycleService.ingest`, e.g. from the records service's own leave checks).
    ``on_ingested`` runs after each alert from MQTT is ingested and before it is
    acknowledged (the records service opens fever cases there); if it raises, both are retried.
    Raises :class:`thermogate.config.ConfigError` for a development link secret in production.
    """
    clock = utc_clock
    links = signer_from_settings(settings, clock)
    sessions = sessionmaker(engine, expire_on_commit=False)
    alerts = settings.alerts
    stop = threading.Event()
    wake = threading.Event()
    service = LifecycleService(
        sessions,
        roster,
        links,
        escalation=dt.timedelta(minutes=alerts.escalation_minutes),
        episode=dt.timedelta(hours=alerts.episode_hours),
        clock=clock,
        on_outbox=wake.set,
    )
    sender = NotificationSender(
        sessions, retries=alerts.retries, retry_initial_s=alerts.retry_initial_s, clock=clock
    )

    def tick() -> float:
        service.escalate_due()
        return _until(service.next_escalation_at(), TICK_MAX_S)

    def send() -> float:
        if sender.send_due():
            return 0.0
        return _until(sender.next_due(), IDLE_MAX_S)

    threads = [
        threading.Thread(
            target=_loop,
            args=("escalation", tick, stop, stop),
            name="lifecycle-escalation",
            daemon=True,
        ),
        threading.Thread(
            target=_loop, args=("sender", send, stop, wake), name="lifecycle-sender", daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    worker = LifecycleWorker(service, settings.mqtt, on_ingested=on_ingested) if mqtt else None
    if worker is not None:
        worker.start()
    log.info(
        "alert lifecycle started",
        extra={"escalation_minutes": alerts.escalation_minutes, "mqtt": mqtt},
    )
    return LifecycleHandle(
        service, sender, worker, LifecycleState(service, links), stop, wake, threads
    )


def _until(at: dt.datetime | None, cap: float) -> float:
    """Seconds from now until ``at``, between 0 and ``cap``."""
    if at is None:
        return cap
    return min(cap, max(0.0, (at - utc_clock()).total_seconds()))


def _loop(
    name: str, step: Callable[[], float], stop: threading.Event, wake: threading.Event
) -> None:
    """Run ``step`` until stopped; wait what it returns, or less when woken."""
    while not stop.is_set():
        if wake is not stop:
            wake.clear()  # before the step: a wake during it makes the wait return at once
        try:
            pause = step()
        except Exception:
            log.exception("lifecycle loop error; retrying", extra={"loop": name})
            pause = ERROR_PAUSE_S
        if pause > 0:
            wake.wait(pause)
