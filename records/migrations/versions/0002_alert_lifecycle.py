"""The alert lifecycle: lifecycle alerts, their history (events), the notification outbox.

Revision ID: 0002_alert_lifecycle
Revises: 0001_records
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_alert_lifecycle"
down_revision: str | None = "0001_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the lifecycle alerts, their history and the notification outbox."""
    op.create_table(
        "lifecycle_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("episode_key", sa.String(length=200), nullable=False),
        sa.Column("building", sa.String(length=64), nullable=False),
        sa.Column("entrance", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("edge_id", sa.String(length=64), nullable=True),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("first_source_id", sa.String(length=200), nullable=False),
        sa.Column("first_reading_id", sa.String(length=200), nullable=True),
        sa.Column("last_reading_id", sa.String(length=200), nullable=True),
        sa.Column("first_temp_c", sa.Float(), nullable=True),
        sa.Column("last_temp_c", sa.Float(), nullable=True),
        sa.Column("max_temp_c", sa.Float(), nullable=True),
        sa.Column("threshold_c", sa.Float(), nullable=True),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.String(length=200), nullable=True),
        sa.Column("clear_note", sa.Text(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_round", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_alerts")),
    )
    op.create_index(
        "ix_lifecycle_alerts_episode_state", "lifecycle_alerts", ["episode_key", "state"]
    )
    op.create_index(
        op.f("ix_lifecycle_alerts_next_escalation_at"), "lifecycle_alerts", ["next_escalation_at"]
    )
    op.create_index(op.f("ix_lifecycle_alerts_person_id"), "lifecycle_alerts", ["person_id"])
    op.create_index(op.f("ix_lifecycle_alerts_state"), "lifecycle_alerts", ["state"])

    op.create_table(
        "lifecycle_alert_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("source_id", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["lifecycle_alerts.id"],
            name=op.f("fk_lifecycle_alert_events_alert_id_lifecycle_alerts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_alert_events")),
        sa.UniqueConstraint("source_id", name=op.f("uq_lifecycle_alert_events_source_id")),
    )
    op.create_index(
        op.f("ix_lifecycle_alert_events_alert_id"), "lifecycle_alert_events", ["alert_id"]
    )

    op.create_table(
        "lifecycle_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.String(length=200), nullable=False),
        sa.Column("contact_role", sa.String(length=64), nullable=False),
        sa.Column("channel_url", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["lifecycle_alerts.id"],
            name=op.f("fk_lifecycle_notifications_alert_id_lifecycle_alerts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_notifications")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_lifecycle_notifications_idempotency_key")
        ),
    )
    op.create_index(
        op.f("ix_lifecycle_notifications_alert_id"), "lifecycle_notifications", ["alert_id"]
    )
    op.create_index(
        "ix_lifecycle_notifications_due",
        "lifecycle_notifications",
        ["sent_at", "gave_up_at", "next_attempt_at"],
    )


def downgrade() -> None:
    """Drop the lifecycle tables (their rows are lost)."""
    op.drop_index("ix_lifecycle_notifications_due", table_name="lifecycle_notifications")
    op.drop_index(op.f("ix_lifecycle_notifications_alert_id"), table_name="lifecycle_notifications")

    op.drop_table("lifecycle_notifications")
    op.drop_index(op.f("ix_lifecycle_alert_events_alert_id"), table_name="lifecycle_alert_events")

    op.drop_table("lifecycle_alert_events")
    op.drop_index(op.f("ix_lifecycle_alerts_state"), table_name="lifecycle_alerts")
    op.drop_index(op.f("ix_lifecycle_alerts_person_id"), table_name="lifecycle_alerts")
    op.drop_index(op.f("ix_lifecycle_alerts_next_escalation_at"), table_name="lifecycle_alerts")
    op.drop_index("ix_lifecycle_alerts_episode_state", table_name="lifecycle_alerts")

    op.drop_table("lifecycle_alerts")
