"""Send the notification outbox: due rows out through apprise, with retries, across restarts.

Each pass reads the due rows (committed earlier by the lifecycle store), sends each one
outside any transaction, then records the outcome in its own transaction: ``sent_at`` on
success, or one more attempt and the next time to try, with exponential backoff and jitter
(:func:`thermogate.alerts.dispatcher.backoff_delay`), until ``retries`` retries were used up
(``gave_up_at``). Nothing is kept in memory between passes, so a new process resumes exactly
where a killed one stopped. A kill between a send and its record sends that message again
with the same idempotency key, which receivers use to drop it.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import quote

import apprise
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from thermogate.alerts.dispatcher import backoff_delay
from thermogate.alerts.lifecycle.compose import KEY_HEADER
from thermogate.alerts.lifecycle.tables import LifecycleAlert, Notification

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]

BATCH: Final = 20
"""Rows read per pass; the rest wait for the next pass."""
HEADER_SCHEMES: Final = frozenset(
    {"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"}
)
"""apprise schemes that take extra headers as ``+Name=value`` URL arguments."""
NOTIFY_TYPES: Final = {
    "critical": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO,
}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One due notification, detached from the database."""

    row_id: int
    key: str
    url: str
    channel: str
    title: str
    body: str
    attempts: int
    severity: str
    """The alert's severity now (``critical``, ``warning``, ``info``)."""


class Transport(Protocol):
    """Delivers one notification; True once the target accepted it (may also raise)."""

    def __call__(self, message: Outgoing) -> bool:
        """Send ``message``."""
        ...


def with_key_header(url: str, key: str) -> str:
    """The URL with an ``Idempotency-Key`` header argument, on schemes that send headers."""
    scheme = url.split("://", 1)[0].lower()
    if scheme not in HEADER_SCHEMES:
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}+{KEY_HEADER}={quote(key, safe='')}"


def apprise_transport(message: Outgoing) -> bool:
    """Send through apprise, one fresh :class:`apprise.Apprise` per message (its own URL)."""
    notifier = apprise.Apprise()
    if not notifier.add(with_key_header(message.url, message.key)):
        raise ValueError(f"apprise cannot use this {message.channel}:// URL")
    return bool(
        notifier.notify(
            body=message.body,
            title=message.title,
            notify_type=NOTIFY_TYPES.get(message.severity, apprise.NotifyType.WARNING),
        )
    )


class NotificationSender:
    """Works through the due rows of the outbox; call :meth:`send_due` from one worker."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        retries: int,
        retry_initial_s: float,
        clock: Clock,
        transport: Transport = apprise_transport,
        rng: random.Random | None = None,
    ) -> None:
        self._sessions = sessions
        self._retries = retries
        self._retry_initial_s = retry_initial_s
        self._clock = clock
        self._transport = transport
        self._rng = rng or random.Random()

    def send_due(self, limit: int = BATCH) -> int:
        """Send up to ``limit`` due notifications, oldest first; how many were attempted."""
        due = self._due(limit)
        for message in due:
            accepted, error = self._send(message)
            self._record(message, accepted, error)
        return len(due)

    def next_due(self) -> dt.datetime | None:
        """When the earliest unsent notification is due (None when none is waiting)."""
        with self._sessions() as session:
            return session.scalar(
                select(Notification.next_attempt_at)
                .where(Notification.sent_at.is_(None), Notification.gave_up_at.is_(None))
                .order_by(Notification.next_attempt_at)
                .limit(1)
            )

    def _due(self, limit: int) -> list[Outgoing]:
        with self._sessions() as session:
            rows = session.execute(
                select(Notification, LifecycleAlert.severity)
                .join(LifecycleAlert, LifecycleAlert.id == Notification.alert_id)
                .where(
                    Notification.sent_at.is_(None),
                    Notification.gave_up_at.is_(None),
                    Notification.next_attempt_at <= self._clock(),
                )
                .order_by(Notification.next_attempt_at, Notification.id)
                .limit(limit)
            ).all()
            return [
                Outgoing(
                    r.id,
                    r.idempotency_key,
                    r.channel_url,
                    r.channel,
                    r.title,
                    r.body,
                    r.attempts,
                    sev,
                )
                for r, sev in rows
            ]

    def _send(self, message: Outgoing) -> tuple[bool, str | None]:
        try:
            if self._transport(message):
                return True, None
        except Exception as exc:  # noqa: BLE001 - a failed attempt, retried; logged below
            return False, f"{type(exc).__name__}: {exc}"
        return False, f"not accepted by the {message.channel}:// target"

    def _record(self, message: Outgoing, accepted: bool, error: str | None) -> None:
        """Write the outcome; a row given up or sent meanwhile (acknowledged) stays as it is."""
        now = self._clock()
        attempts = message.attempts + 1
        pending = (
            Notification.id == message.row_id,
            Notification.sent_at.is_(None),
        )
        extra = {"key": message.key, "channel": message.channel, "attempt": attempts}
        with self._sessions.begin() as session:
            if accepted:
                session.execute(
                    update(Notification).where(*pending).values(sent_at=now, attempts=attempts)
                )
                log.info("notification sent", extra=extra)
                return
            if attempts > self._retries:
                session.execute(
                    update(Notification)
                    .where(*pending)
                    .values(attempts=attempts, last_error=error, gave_up_at=now)
                )
                log.error("notification given up", extra={**extra, "error": error})
                return
            delay = backoff_delay(attempts, self._retry_initial_s, self._rng)
            session.execute(
                update(Notification)
                .where(*pending)
                .values(
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=now + dt.timedelta(seconds=delay),
                )
            )
        log.warning(
            "notification failed, retrying",
            extra={**extra, "retry_in_s": round(delay, 3), "error": error},
        )
