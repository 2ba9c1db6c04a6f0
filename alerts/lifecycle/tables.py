"""The lifecycle's SQL tables: alerts, their history, and the notification outbox.

Declared on the shared :class:`thermogate.records.db.Base`, so one Alembic history
(``records/migrations``, revision ``0002_alert_lifecycle``) migrates them with the records.
Times are stored as UTC (:class:`UtcDateTime`) and read back timezone-aware on SQLite and
PostgreSQL alike. Only pseudonymous person ids are stored here: names stay in the records.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import (
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from thermogate.records.db import Base

SLUG_LEN: Final = 64
KEY_LEN: Final = 200


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime: ``timestamptz`` on PostgreSQL, UTC without offset on SQLite
    (which keeps none); always read back aware. Naive input is refused as ambiguous."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Refuse naive times; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: pass an aware (UTC) time")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        """Aware UTC, whatever the database returned."""
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class LifecycleAlert(Base):
    """One alert a human must see through: raised, acknowledged, cleared.

    One row per episode: later alerts of the same subject (``episode_key``) within the
    episode window update this row (latest value, count) instead of opening another.
    """

    __tablename__ = "lifecycle_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    """``raised``, ``acknowledged`` or ``cleared``."""
    kind: Mapped[str] = mapped_column(String(32))
    """An :class:`thermogate.contract.AlertKind` value (the strongest seen in the episode)."""
    severity: Mapped[str] = mapped_column(String(16))
    episode_key: Mapped[str] = mapped_column(String(KEY_LEN))
    """Kind family and subject: ``fever:person:<pseudonym>``, ``device:<device id>``, ..."""
    building: Mapped[str] = mapped_column(String(SLUG_LEN))
    entrance: Mapped[str | None] = mapped_column(String(SLUG_LEN))
    device_id: Mapped[str | None] = mapped_column(String(SLUG_LEN))
    edge_id: Mapped[str | None] = mapped_column(String(SLUG_LEN))
    person_id: Mapped[str | None] = mapped_column(String(SLUG_LEN), index=True)
    """Pseudonymous id, as in the time series; never a name."""
    first_source_id: Mapped[str] = mapped_column(String(KEY_LEN))
    """The wire ``alert_id`` that opened this alert."""
    first_reading_id: Mapped[str | None] = mapped_column(String(KEY_LEN))
    last_reading_id: Mapped[str | None] = mapped_column(String(KEY_LEN))
    first_temp_c: Mapped[float | None] = mapped_column(Float)
    last_temp_c: Mapped[float | None] = mapped_column(Float)
    max_temp_c: Mapped[float | None] = mapped_column(Float)
    threshold_c: Mapped[float | None] = mapped_column(Float)
    first_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    """Event time of the earliest cause in the episode."""
    last_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    """Event time of the latest cause in the episode."""
    count: Mapped[int] = mapped_column(Integer, default=1)
    """Wire alerts merged into this one."""
    message: Mapped[str] = mapped_column(Text)
    """The latest wire alert's one-line message."""
    raised_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(KEY_LEN))
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    cleared_by: Mapped[str | None] = mapped_column(String(KEY_LEN))
    clear_note: Mapped[str | None] = mapped_column(Text)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    """0: the first contacts were told; n: escalation step n was told."""
    next_escalation_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), index=True)
    """When the next step is due; NULL once acknowledged or cleared."""
    notify_round: Mapped[int] = mapped_column(Integer, default=0)
    """Notification rounds so far (each round's notifications share it in their key)."""

    events: Mapped[list[AlertEvent]] = relationship(
        back_populates="alert", order_by="AlertEvent.id", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_lifecycle_alerts_episode_state", "episode_key", "state"),)


class AlertEvent(Base):
    """One entry of an alert's history: every transition and every update."""

    __tablename__ = "lifecycle_alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("lifecycle_alerts.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    action: Mapped[str] = mapped_column(String(32))
    """``raised``, ``updated``, ``escalated``, ``acknowledged``, ``cleared``, ``annotated``."""
    actor: Mapped[str | None] = mapped_column(String(KEY_LEN))
    """Who did it: ``user:<id>``, ``link:<contact id>``, ``system``; NULL for the gateway."""
    source_id: Mapped[str | None] = mapped_column(String(KEY_LEN), unique=True)
    """The wire ``alert_id`` behind this event: unique, so a redelivered alert counts once."""
    detail: Mapped[str | None] = mapped_column(Text)

    alert: Mapped[LifecycleAlert] = relationship(back_populates="events")


class Notification(Base):
    """The outbox: one message to one contact on one channel, committed before it is sent."""

    __tablename__ = "lifecycle_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("lifecycle_alerts.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LEN), unique=True)
    """Sent in the body (and a header where the channel has one): receivers drop repeats."""
    step: Mapped[int] = mapped_column(Integer)
    """Escalation step: 0 for the first contacts."""
    purpose: Mapped[str] = mapped_column(String(32))
    """``raised``, ``escalated`` or ``upgraded``."""
    contact_id: Mapped[str] = mapped_column(String(KEY_LEN))
    contact_role: Mapped[str] = mapped_column(String(64))
    channel_url: Mapped[str] = mapped_column(Text)
    """The apprise URL (holds tokens: never logged; logs show :attr:`channel`)."""
    channel: Mapped[str] = mapped_column(String(32))
    """The URL's scheme (``json``, ``mailto``, ...), safe to show."""
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    gave_up_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    """Set after the last retry, or when an acknowledgement made an escalation moot."""

    __table_args__ = (
        Index("ix_lifecycle_notifications_due", "sent_at", "gave_up_at", "next_attempt_at"),
    )
