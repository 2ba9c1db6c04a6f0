"""The records service's tables: places, people, roster, leave, screening, cases, users, audit.

Revision ID: 0001_records
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_records"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create every records table."""
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(op.f("ix_audit_log_username"), "audit_log", ["username"], unique=False)
    op.create_table(
        "buildings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
        sa.UniqueConstraint("slug", name=op.f("uq_buildings_slug")),
    )
    op.create_table(
        "grid_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_units")),
        sa.UniqueConstraint("code", name=op.f("uq_grid_units_code")),
    )
    op.create_table(
        "dorm_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_dorm_units_building_id_buildings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dorm_units")),
        sa.UniqueConstraint("code", name=op.f("uq_dorm_units_code")),
    )
    op.create_index(op.f("ix_dorm_units_building_id"), "dorm_units", ["building_id"], unique=False)
    op.create_table(
        "entrances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=48), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_entrances_building_id_buildings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entrances")),
        sa.UniqueConstraint("building_id", "slug", name=op.f("uq_entrances_building_id")),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("site", sa.String(length=16), nullable=False),
        sa.Column("placement", sa.String(length=16), nullable=False),
        sa.Column("entrance_id", sa.Integer(), nullable=False),
        sa.Column("credentials_ref", sa.String(length=200), nullable=True),
        sa.Column("calibration", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["entrance_id"], ["entrances.id"], name=op.f("fk_devices_entrance_id_entrances")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("device_id", name=op.f("uq_devices_device_id")),
    )
    op.create_index(op.f("ix_devices_entrance_id"), "devices", ["entrance_id"], unique=False)
    op.create_table(
        "rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("beds", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_rooms_building_id_buildings")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["dorm_units.id"], name=op.f("fk_rooms_unit_id_dorm_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("building_id", "number", name=op.f("uq_rooms_building_id")),
    )
    op.create_index(op.f("ix_rooms_unit_id"), "rooms", ["unit_id"], unique=False)
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_no", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("position", sa.String(length=32), nullable=False),
        sa.Column("work_group_role", sa.String(length=16), nullable=True),
        sa.Column("sub_group", sa.String(length=32), nullable=True),
        sa.Column("sub_group_role", sa.String(length=16), nullable=True),
        sa.Column("supervises_unit_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("notify_urls", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["supervises_unit_id"],
            ["dorm_units.id"],
            name=op.f("fk_staff_supervises_unit_id_dorm_units"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("staff_no", name=op.f("uq_staff_staff_no")),
        sa.UniqueConstraint("supervises_unit_id", name=op.f("uq_staff_supervises_unit_id")),
    )
    op.create_table(
        "duty_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_duty_shifts_building_id_buildings")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_duty_shifts_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_shifts")),
    )
    op.create_index(
        op.f("ix_duty_shifts_building_id"), "duty_shifts", ["building_id"], unique=False
    )
    op.create_index(op.f("ix_duty_shifts_staff_id"), "duty_shifts", ["staff_id"], unique=False)
    op.create_index(op.f("ix_duty_shifts_starts_at"), "duty_shifts", ["starts_at"], unique=False)
    op.create_table(
        "grid_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_unit_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_unit_id"],
            ["grid_units.id"],
            name=op.f("fk_grid_members_grid_unit_id_grid_units"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_grid_members_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_members")),
        sa.UniqueConstraint("grid_unit_id", "staff_id", name=op.f("uq_grid_members_grid_unit_id")),
    )
    op.create_index(op.f("ix_grid_members_staff_id"), "grid_members", ["staff_id"], unique=False)
    op.create_table(
        "students",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_no", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("situation", sa.String(length=24), nullable=False),
        sa.Column("college", sa.String(length=120), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("grid_unit_id", sa.Integer(), nullable=True),
        sa.Column("card_id", sa.String(length=32), nullable=True),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_students_building_id_buildings")
        ),
        sa.ForeignKeyConstraint(
            ["grid_unit_id"], ["grid_units.id"], name=op.f("fk_students_grid_unit_id_grid_units")
        ),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_students_room_id_rooms")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["dorm_units.id"], name=op.f("fk_students_unit_id_dorm_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_students")),
        sa.UniqueConstraint("card_id", name=op.f("uq_students_card_id")),
        sa.UniqueConstraint("person_id", name=op.f("uq_students_person_id")),
        sa.UniqueConstraint("student_no", name=op.f("uq_students_student_no")),
    )
    op.create_index(op.f("ix_students_building_id"), "students", ["building_id"], unique=False)
    op.create_index(op.f("ix_students_grid_unit_id"), "students", ["grid_unit_id"], unique=False)
    op.create_index(op.f("ix_students_unit_id"), "students", ["unit_id"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("grid_unit_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_unit_id"], ["grid_units.id"], name=op.f("fk_users_grid_unit_id_grid_units")
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_users_staff_id_staff")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["dorm_units.id"], name=op.f("fk_users_unit_id_dorm_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "absences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cause", sa.String(length=200), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_absences_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_absences")),
    )
    op.create_index(op.f("ix_absences_day"), "absences", ["day"], unique=False)
    op.create_index(op.f("ix_absences_student_id"), "absences", ["student_id"], unique=False)
    op.create_table(
        "fever_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=True),
        sa.Column("building", sa.String(length=48), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_alert_id", sa.String(length=200), nullable=False),
        sa.Column("last_alert_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_temp_c", sa.Double(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_fever_cases_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fever_cases")),
    )
    op.create_index(op.f("ix_fever_cases_person_id"), "fever_cases", ["person_id"], unique=False)
    op.create_index(op.f("ix_fever_cases_status"), "fever_cases", ["status"], unique=False)
    op.create_index(op.f("ix_fever_cases_student_id"), "fever_cases", ["student_id"], unique=False)
    op.create_table(
        "leave_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("destination", sa.String(length=200), nullable=False),
        sa.Column("leaves_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("returns_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_source", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_leave_requests_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leave_requests")),
    )
    op.create_index(op.f("ix_leave_requests_status"), "leave_requests", ["status"], unique=False)
    op.create_index(
        op.f("ix_leave_requests_student_id"), "leave_requests", ["student_id"], unique=False
    )
    op.create_table(
        "screening_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=120), nullable=True),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("temp_c", sa.Double(), nullable=False),
        sa.Column("abnormal", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name=op.f("fk_screening_checks_student_id_students")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_checks")),
        sa.UniqueConstraint("source_ref", name=op.f("uq_screening_checks_source_ref")),
    )
    op.create_index(op.f("ix_screening_checks_day"), "screening_checks", ["day"], unique=False)
    op.create_index(
        op.f("ix_screening_checks_student_id"), "screening_checks", ["student_id"], unique=False
    )
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("temp_c", sa.Double(), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("alert_id", sa.String(length=200), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["fever_cases.id"], name=op.f("fk_follow_ups_case_id_fever_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_follow_ups_alert_id")),
    )
    op.create_index(op.f("ix_follow_ups_case_id"), "follow_ups", ["case_id"], unique=False)


def downgrade() -> None:
    """Drop every records table."""
    op.drop_index(op.f("ix_follow_ups_case_id"), table_name="follow_ups")
    op.drop_table("follow_ups")
    op.drop_index(op.f("ix_screening_checks_student_id"), table_name="screening_checks")
    op.drop_index(op.f("ix_screening_checks_day"), table_name="screening_checks")
    op.drop_table("screening_checks")
    op.drop_index(op.f("ix_leave_requests_student_id"), table_name="leave_requests")
    op.drop_index(op.f("ix_leave_requests_status"), table_name="leave_requests")
    op.drop_table("leave_requests")
    op.drop_index(op.f("ix_fever_cases_student_id"), table_name="fever_cases")
    op.drop_index(op.f("ix_fever_cases_status"), table_name="fever_cases")
    op.drop_index(op.f("ix_fever_cases_person_id"), table_name="fever_cases")
    op.drop_table("fever_cases")
    op.drop_index(op.f("ix_absences_student_id"), table_name="absences")
    op.drop_index(op.f("ix_absences_day"), table_name="absences")
    op.drop_table("absences")
    op.drop_table("users")
    op.drop_index(op.f("ix_students_unit_id"), table_name="students")
    op.drop_index(op.f("ix_students_grid_unit_id"), table_name="students")
    op.drop_index(op.f("ix_students_building_id"), table_name="students")
    op.drop_table("students")
    op.drop_index(op.f("ix_grid_members_staff_id"), table_name="grid_members")
    op.drop_table("grid_members")
    op.drop_index(op.f("ix_duty_shifts_starts_at"), table_name="duty_shifts")
    op.drop_index(op.f("ix_duty_shifts_staff_id"), table_name="duty_shifts")
    op.drop_index(op.f("ix_duty_shifts_building_id"), table_name="duty_shifts")
    op.drop_table("duty_shifts")
    op.drop_table("staff")
    op.drop_index(op.f("ix_rooms_unit_id"), table_name="rooms")
    op.drop_table("rooms")
    op.drop_index(op.f("ix_devices_entrance_id"), table_name="devices")
    op.drop_table("devices")
    op.drop_table("entrances")
    op.drop_index(op.f("ix_dorm_units_building_id"), table_name="dorm_units")
    op.drop_table("dorm_units")
    op.drop_table("grid_units")
    op.drop_table("buildings")
    op.drop_index(op.f("ix_audit_log_username"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
