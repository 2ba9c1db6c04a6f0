"""The lifecycle store: wire alerts in, lifecycle alerts and their notifications out.

Every public method is one database transaction, committed before it returns, and every
notification it decides on is a row in the same transaction (the outbox): nothing is sent
here. The :class:`~thermogate.alerts.lifecycle.sender.NotificationSender` sends the rows
later, so a crash after the commit loses nothing. The clock is injected (``clock``), so
escalation is tested by moving time, not by sleeping.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from thermogate.alerts.lifecycle.compose import idempotency_key, render
from thermogate.alerts.lifecycle.links import LinkSigner
from thermogate.alerts.lifecycle.policy import (
    CLOSING_KINDS,
    LIFECYCLE_KINDS,
    OPEN_STATES,
    SEVERITY,
    SYSTEM_ACTOR,
    Actor,
    State,
    clearing_roles,
    episode_key,
    may_acknowledge,
    may_clear,
    step_contacts,
    stronger_kind,
)
from thermogate.alerts.lifecycle.routing import Contact, Roster
from thermogate.alerts.lifecycle.tables import AlertEvent, LifecycleAlert, Notification
from thermogate.contract.messages import Alert, AlertKind

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utc_clock() -> dt.datetime:
    """The wall clock, in UTC."""
    return dt.datetime.now(dt.UTC)


class Outcome(StrEnum):
    """What ingesting one wire alert did."""

    OPENED = "opened"
    UPDATED = "updated"
    DUPLICATE = "duplicate"
    """Its ``alert_id`` was ingested before (an MQTT redelivery): nothing changed."""
    CLOSED = "closed"
    """A ``device_back`` (``device_recovered``) cleared the open ``device_offline``
    (``device_fault``) of its device."""
    IGNORED = "ignored"
    """Not a lifecycle kind (``recheck``), or a closing kind with nothing open."""


@dataclass(frozen=True, slots=True)
class Ingested:
    """The outcome and the lifecycle alert it touched (None when ignored)."""

    outcome: Outcome
    alert_id: int | None


class LifecycleError(Exception):
    """A request the lifecycle refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class LifecycleService:
    """Opens, updates, escalates, acknowledges and clears lifecycle alerts."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        roster: Roster,
        links: LinkSigner,
        *,
        escalation: dt.timedelta = dt.timedelta(minutes=5),
        episode: dt.timedelta = dt.timedelta(hours=24),
        clock: Clock = utc_clock,
        on_outbox: Callable[[], None] | None = None,
    ) -> None:
        """``on_outbox`` is called after a commit that added notifications (wakes the sender)."""
        if escalation <= dt.timedelta(0) or episode <= dt.timedelta(0):
            raise ValueError("escalation and episode must be positive")
        self._sessions = sessions
        self._roster = roster
        self._links = links
        self._escalation = escalation
        self._episode = episode
        self._clock = clock
        self._on_outbox = on_outbox

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory (for readers such as the API)."""
        return self._sessions

    # -- ingest ---------------------------------------------------------------------------
    def ingest(self, alert: Alert) -> Ingested:
        """Open or update the lifecycle alert of a wire alert; committed when this returns.

        Idempotent per ``alert.alert_id``: a redelivered alert changes nothing.
        """
        if alert.kind not in LIFECYCLE_KINDS and alert.kind not in CLOSING_KINDS:
            log.debug("not a lifecycle alert", extra={"alert_id": alert.alert_id})
            return Ingested(Outcome.IGNORED, None)
        try:
            with self._sessions.begin() as session:
                result, notified = self._ingest(session, alert)
        except IntegrityError:
            # Another writer ingested the same alert id between our check and our insert.
            log.info("alert ingested concurrently", extra={"alert_id": alert.alert_id})
            return Ingested(Outcome.DUPLICATE, None)
        if notified:
            self._wake()
        log.info(
            "alert ingested",
            extra={
                "alert_id": alert.alert_id,
                "kind": alert.kind.value,
                "outcome": result.outcome.value,
                "lifecycle_id": result.alert_id,
            },
        )
        return result

    def _ingest(self, session: Session, alert: Alert) -> tuple[Ingested, bool]:
        seen = session.scalar(
            select(AlertEvent.alert_id).where(AlertEvent.source_id == alert.alert_id)
        )
        if seen is not None:
            return Ingested(Outcome.DUPLICATE, seen), False
        now = self._clock()
        key = episode_key(alert)
        if alert.kind in CLOSING_KINDS:
            return self._close_episode(session, alert, key, now), False
        row = self._open_episode(session, key, alert.ts)
        if row is None:
            row = self._open(session, alert, key, now)
            return Ingested(Outcome.OPENED, row.id), self._notify(
                session, row, step=0, purpose="raised", now=now
            )
        upgraded = self._merge(row, alert, now)
        session.add(
            AlertEvent(
                alert_id=row.id,
                at=now,
                action="upgraded" if upgraded else "updated",
                source_id=alert.alert_id,
                detail=alert.message,
            )
        )
        notified = False
        if upgraded:
            # A confirmed fever after an unconfirmed one: the first contacts hear it again,
            # acknowledged or not, since it is news to the clinic.
            notified = self._notify(session, row, step=0, purpose="upgraded", now=now)
        return Ingested(Outcome.UPDATED, row.id), notified

    def _open_episode(self, session: Session, key: str, ts: dt.datetime) -> LifecycleAlert | None:
        """The open alert of this key whose readings are within the episode window of ``ts``."""
        return session.scalar(
            select(LifecycleAlert)
            .where(
                LifecycleAlert.episode_key == key,
                LifecycleAlert.state.in_(OPEN_STATES),
                LifecycleAlert.last_at >= ts - self._episode,
                LifecycleAlert.first_at <= ts + self._episode,
            )
            .order_by(LifecycleAlert.last_at.desc())
            .limit(1)
        )

    def _open(self, session: Session, alert: Alert, key: str, now: dt.datetime) -> LifecycleAlert:
        row = LifecycleAlert(
            state=State.RAISED.value,
            kind=alert.kind.value,
            severity=SEVERITY[alert.kind].value,
            episode_key=key,
            building=alert.building,
            entrance=alert.entrance,
            device_id=alert.device_id,
            edge_id=alert.edge_id,
            person_id=alert.person_id,
            first_source_id=alert.alert_id,
            first_reading_id=alert.reading_id,
            last_reading_id=alert.reading_id,
            first_temp_c=alert.temp_c,
            last_temp_c=alert.temp_c,
            max_temp_c=alert.temp_c,
            threshold_c=alert.threshold_c,
            first_at=alert.ts,
            last_at=alert.ts,
            count=1,
            message=alert.message,
            raised_at=now,
            updated_at=now,
            escalation_level=0,
            next_escalation_at=now + self._escalation,
            notify_round=0,
        )
        session.add(row)
        session.flush()  # the id, for the event and the notifications' keys and links
        session.add(
            AlertEvent(
                alert_id=row.id,
                at=now,
                action="raised",
                source_id=alert.alert_id,
                detail=alert.message,
            )
        )
        return row

    @staticmethod
    def _merge(row: LifecycleAlert, alert: Alert, now: dt.datetime) -> bool:
        """Fold a later (or late) alert into the episode; True when its kind rose."""
        row.count += 1
        row.updated_at = now
        if alert.ts >= row.last_at:
            row.last_at = alert.ts
            row.last_reading_id = alert.reading_id or row.last_reading_id
            row.last_temp_c = alert.temp_c if alert.temp_c is not None else row.last_temp_c
            row.message = alert.message
        row.first_at = min(row.first_at, alert.ts)
        if alert.temp_c is not None:
            row.max_temp_c = max(alert.temp_c, row.max_temp_c or alert.temp_c)
        kind = stronger_kind(AlertKind(row.kind), alert.kind)
        if kind.value == row.kind:
            return False
        row.kind = kind.value
        row.severity = SEVERITY[kind].value
        row.threshold_c = alert.threshold_c if alert.threshold_c is not None else row.threshold_c
        return True

    def _close_episode(
        self, session: Session, alert: Alert, key: str, now: dt.datetime
    ) -> Ingested:
        row = session.scalar(
            select(LifecycleAlert)
            .where(LifecycleAlert.episode_key == key, LifecycleAlert.state.in_(OPEN_STATES))
            .order_by(LifecycleAlert.last_at.desc())
            .limit(1)
        )
        if row is None:
            return Ingested(Outcome.IGNORED, None)
        self._close(session, row, SYSTEM_ACTOR, alert.message, now, source_id=alert.alert_id)
        return Ingested(Outcome.CLOSED, row.id)

    # -- notifications --------------------------------------------------------------------
    def _notify(
        self, session: Session, row: LifecycleAlert, *, step: int, purpose: str, now: dt.datetime
    ) -> bool:
        """Add one round of notifications for ``step`` to the outbox; True if any was added."""
        route = self._roster.route(row.building, now)
        contacts = step_contacts(route, step, AlertKind(row.kind))
        row.notify_round += 1
        added: list[Notification] = []
        for contact in contacts:
            added += self._notifications(row, contact, step=step, purpose=purpose, now=now)
        session.add_all(added)
        if not added:
            session.add(
                AlertEvent(
                    alert_id=row.id,
                    at=now,
                    action="annotated",
                    actor=SYSTEM_ACTOR.label,
                    detail=f"nobody to notify at step {step}: no contact with a channel",
                )
            )
            log.warning(
                "no contact to notify",
                extra={"lifecycle_id": row.id, "building": row.building, "step": step},
            )
        return bool(added)

    def _notifications(
        self, row: LifecycleAlert, contact: Contact, *, step: int, purpose: str, now: dt.datetime
    ) -> list[Notification]:
        out = []
        for index, url in enumerate(contact.channel_urls):
            key = idempotency_key(row.id, row.notify_round, contact.contact_id, index)
            text = render(
                row,
                purpose=purpose,
                step=step,
                contact_id=contact.contact_id,
                key=key,
                links=self._links,
            )
            out.append(
                Notification(
                    alert_id=row.id,
                    idempotency_key=key,
                    step=step,
                    purpose=purpose,
                    contact_id=contact.contact_id,
                    contact_role=contact.role,
                    channel_url=url,
                    channel=url.split("://", 1)[0].lower() if "://" in url else "?",
                    title=text.title,
                    body=text.body,
                    created_at=now,
                    attempts=0,
                    next_attempt_at=now,
                )
            )
        return out

    def _wake(self) -> None:
        if self._on_outbox is not None:
            self._on_outbox()

    # -- escalation -----------------------------------------------------------------------
    def escalate_due(self) -> list[int]:
        """Escalate every raised alert whose period ran out; the ids escalated.

        One step per call and alert, however late the call: a ticker that was down does not
        fire a burst of steps, and the next step is one full period after this one.
        """
        now = self._clock()
        escalated: list[int] = []
        notified = False
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(LifecycleAlert)
                .where(
                    LifecycleAlert.state == State.RAISED.value,
                    LifecycleAlert.next_escalation_at <= now,
                )
                .order_by(LifecycleAlert.next_escalation_at)
            ).all()
            for row in rows:
                row.escalation_level += 1
                row.next_escalation_at = now + self._escalation
                row.updated_at = now
                session.add(
                    AlertEvent(
                        alert_id=row.id,
                        at=now,
                        action="escalated",
                        actor=SYSTEM_ACTOR.label,
                        detail=f"not acknowledged: escalation step {row.escalation_level}",
                    )
                )
                notified |= self._notify(
                    session, row, step=row.escalation_level, purpose="escalated", now=now
                )
                escalated.append(row.id)
        if escalated:
            log.warning("alerts escalated", extra={"lifecycle_ids": escalated})
        if notified:
            self._wake()
        return escalated

    def next_escalation_at(self) -> dt.datetime | None:
        """When the earliest raised alert escalates (None when none is raised)."""
        with self._sessions() as session:
            return session.scalar(
                select(LifecycleAlert.next_escalation_at)
                .where(LifecycleAlert.state == State.RAISED.value)
                .order_by(LifecycleAlert.next_escalation_at)
                .limit(1)
            )

    # -- acknowledge and clear ------------------------------------------------------------
    def acknowledge(self, alert_id: int, actor: Actor) -> LifecycleAlert:
        """raised → acknowledged: escalation stops; acknowledging twice changes nothing."""
        if not may_acknowledge(actor):
            raise LifecycleError(403, f"role {actor.role!r} may not acknowledge alerts")
        now = self._clock()
        with self._sessions.begin() as session:
            row = self._get_for_update(session, alert_id)
            if row.state == State.CLEARED.value:
                raise LifecycleError(409, "the alert is already cleared")
            if row.state == State.RAISED.value:
                row.state = State.ACKNOWLEDGED.value
                row.acknowledged_at = now
                row.acknowledged_by = actor.label
                row.updated_at = now
                row.next_escalation_at = None
                session.add(
                    AlertEvent(alert_id=row.id, at=now, action="acknowledged", actor=actor.label)
                )
                self._cancel_escalations(session, row.id, now, "acknowledged")
                log.info("alert acknowledged", extra={"lifecycle_id": row.id, "actor": actor.label})
            session.expunge(row)
        return row

    def clear(self, alert_id: int, actor: Actor, note: str | None = None) -> LifecycleAlert:
        """raised or acknowledged → cleared, by a role that may clear this kind."""
        now = self._clock()
        with self._sessions.begin() as session:
            row = self._get_for_update(session, alert_id)
            kind = AlertKind(row.kind)
            if not may_clear(kind, actor):
                raise LifecycleError(
                    403, f"a {kind.value} alert is cleared by {' or '.join(clearing_roles(kind))}"
                )
            if row.state == State.CLEARED.value:
                raise LifecycleError(409, "the alert is already cleared")
            self._close(session, row, actor, note, now)
            session.expunge(row)
        return row

    def _close(
        self,
        session: Session,
        row: LifecycleAlert,
        actor: Actor,
        note: str | None,
        now: dt.datetime,
        *,
        source_id: str | None = None,
    ) -> None:
        if row.acknowledged_at is None:
            row.acknowledged_at = now
            row.acknowledged_by = actor.label
        row.state = State.CLEARED.value
        row.cleared_at = now
        row.cleared_by = actor.label
        row.clear_note = note
        row.updated_at = now
        row.next_escalation_at = None
        session.add(
            AlertEvent(
                alert_id=row.id,
                at=now,
                action="cleared",
                actor=actor.label,
                source_id=source_id,
                detail=note,
            )
        )
        self._cancel_escalations(session, row.id, now, "cleared")
        log.info("alert cleared", extra={"lifecycle_id": row.id, "actor": actor.label})

    @staticmethod
    def _cancel_escalations(session: Session, alert_id: int, now: dt.datetime, why: str) -> None:
        """Unsent escalation messages are moot once someone acted; first notices still go."""
        session.execute(
            update(Notification)
            .where(
                Notification.alert_id == alert_id,
                Notification.step > 0,
                Notification.sent_at.is_(None),
                Notification.gave_up_at.is_(None),
            )
            .values(gave_up_at=now, last_error=f"not sent: the alert was {why} first")
        )

    @staticmethod
    def _get_for_update(session: Session, alert_id: int) -> LifecycleAlert:
        row = session.get(LifecycleAlert, alert_id, with_for_update=True)
        if row is None:
            raise LifecycleError(404, f"no alert {alert_id}")
        return row

    # -- reading --------------------------------------------------------------------------
    def get(self, alert_id: int) -> tuple[LifecycleAlert, Sequence[AlertEvent]]:
        """An alert and its history (detached from the session)."""
        with self._sessions() as session:
            row = session.get(LifecycleAlert, alert_id)
            if row is None:
                raise LifecycleError(404, f"no alert {alert_id}")
            events = list(row.events)
            session.expunge_all()
        return row, events

    def alerts(
        self, *, open_only: bool = True, state: str | None = None, limit: int = 200
    ) -> list[LifecycleAlert]:
        """Alerts, newest first: the open ones (default), all, or those in ``state``."""
        query = select(LifecycleAlert).order_by(
            LifecycleAlert.raised_at.desc(), LifecycleAlert.id.desc()
        )
        if state is not None:
            query = query.where(LifecycleAlert.state == state)
        elif open_only:
            query = query.where(LifecycleAlert.state.in_(OPEN_STATES))
        with self._sessions() as session:
            rows = list(session.scalars(query.limit(limit)).all())
            session.expunge_all()
        return rows

    def notifications(self, alert_id: int) -> list[Notification]:
        """The outbox rows of one alert, oldest first (detached)."""
        with self._sessions() as session:
            rows = list(
                session.scalars(
                    select(Notification)
                    .where(Notification.alert_id == alert_id)
                    .order_by(Notification.id)
                ).all()
            )
            session.expunge_all()
        return rows
