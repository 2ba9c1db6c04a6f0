"""The SQL panels: open alerts, fever cases, overdue leave and daily screening coverage, read
from the records service's tables (records/models/, alerts/lifecycle/tables.py).

Grafana reads them through a role that may only SELECT, and outside the records service's
audit log, so these panels show no names: a pseudonymous id, the building, the dorm unit and
the room say where to go; who it is stays in the records service, where every read of health
data is audited. ``$building`` is the dashboard variable (building slugs, as in the time
series); Grafana writes a multi-value variable in SQL as a quoted list, hence ``IN ($building)``.
"""

from __future__ import annotations

from typing import Final

from thermogate.config import RecordsSettings
from thermogate.dashboards.datasources import POSTGRES
from thermogate.dashboards.model import Panel, SqlQuery
from thermogate.dashboards.panels import stat, table

TIMEZONE: Final = str(RecordsSettings.model_fields["timezone"].default)
"""The records service's default time zone: a screening day is a local date there."""
DAY: Final = f"(($__timeTo())::timestamptz AT TIME ZONE '{TIMEZONE}')::date"
"""The local date at the end of the dashboard's time range ("today" when it ends now)."""

OPEN_ALERTS: Final = """SELECT a.raised_at AS "raised", a.kind, a.severity, a.state,
  a.building, a.entrance, a.device_id, a.edge_id, a.person_id, a.max_temp_c,
  a.count AS "alerts", a.escalation_level AS "escalation", a.acknowledged_by
FROM lifecycle_alerts a
WHERE a.state <> 'cleared' AND a.building IN ($building)
ORDER BY (a.state = 'raised') DESC, (a.severity = 'critical') DESC, a.raised_at DESC
LIMIT 200"""

UNACKNOWLEDGED: Final = """SELECT count(*) AS "unacknowledged"
FROM lifecycle_alerts a
WHERE a.state = 'raised' AND a.building IN ($building)"""

OPEN_CASES: Final = """SELECT c.opened_at AS "opened", c.kind, c.severity, c.building,
  u.code AS "unit", r.number AS "room", c.person_id, c.max_temp_c,
  c.last_alert_at AS "last_alert",
  (SELECT count(*) FROM follow_ups f WHERE f.case_id = c.id) AS "follow_ups"
FROM fever_cases c
LEFT JOIN students s ON s.id = c.student_id
LEFT JOIN dorm_units u ON u.id = s.unit_id
LEFT JOIN rooms r ON r.id = s.room_id
WHERE c.status = 'open' AND c.building IN ($building)
ORDER BY c.opened_at"""

LEAVE_OVERDUE: Final = """SELECT l.returns_by AS "due_back",
  round((extract(epoch FROM ($__timeTo())::timestamptz - l.returns_by) / 3600)::numeric, 1)
    AS "hours_overdue",
  b.slug AS "building", u.code AS "unit", r.number AS "room", s.person_id, l.destination
FROM leave_requests l
JOIN students s ON s.id = l.student_id
JOIN buildings b ON b.id = s.building_id
LEFT JOIN dorm_units u ON u.id = s.unit_id
LEFT JOIN rooms r ON r.id = s.room_id
WHERE l.status = 'out' AND l.returns_by < $__timeTo() AND b.slug IN ($building)
ORDER BY l.returns_by"""


def _coverage(group_table: str, group_column: str, label: str, building_join: str) -> str:
    """Per group: on-campus students, checked in the morning, at noon, not at all, abnormal."""

    def checked(condition: str) -> str:
        return (
            "count(s.id) FILTER (WHERE EXISTS (SELECT 1 FROM screening_checks k "
            f"WHERE k.student_id = s.id AND k.day = d.day{condition}))"
        )

    return f"""SELECT g.code AS "{label}",
  count(s.id) AS "students",
  {checked(" AND k.slot = 'morning'")} AS "morning",
  {checked(" AND k.slot = 'noon'")} AS "noon",
  count(s.id) - {checked("")} AS "not_screened",
  {checked(" AND k.abnormal")} AS "abnormal",
  round(100.0 * {checked("")} / nullif(count(s.id), 0), 1) AS "coverage_pct"
FROM {group_table} g
CROSS JOIN (SELECT {DAY} AS day) d
LEFT JOIN students s ON s.{group_column} = g.id AND s.situation = 'on_campus'
  AND s.building_id IN (SELECT b.id FROM buildings b WHERE b.slug IN ($building))
{building_join}GROUP BY g.code
ORDER BY "coverage_pct" NULLS LAST, g.code"""


COVERAGE_BY_UNIT: Final = _coverage(
    "dorm_units",
    "unit_id",
    "unit",
    "WHERE g.building_id IN (SELECT b.id FROM buildings b WHERE b.slug IN ($building))\n",
)
COVERAGE_BY_GRID: Final = _coverage("grid_units", "grid_unit_id", "grid_unit", "")

NOT_SCREENED: Final = f"""SELECT b.slug AS "building", u.code AS "unit", r.number AS "room",
  gu.code AS "grid_unit", s.person_id
FROM students s
JOIN buildings b ON b.id = s.building_id
LEFT JOIN dorm_units u ON u.id = s.unit_id
LEFT JOIN rooms r ON r.id = s.room_id
LEFT JOIN grid_units gu ON gu.id = s.grid_unit_id
WHERE s.situation = 'on_campus' AND b.slug IN ($building)
  AND NOT EXISTS (SELECT 1 FROM screening_checks k
                  WHERE k.student_id = s.id AND k.day = {DAY})
ORDER BY b.slug, u.code, r.number"""


def _sql(query: str) -> SqlQuery:
    return SqlQuery(POSTGRES, query)


def duty_desk_panels() -> tuple[Panel, ...]:
    """Open alerts, fever cases and overdue leave for the duty desk."""
    return (
        stat(
            "Alerts not acknowledged",
            "Alerts still waiting for someone on duty to acknowledge them (each escalates "
            "every few minutes until someone does).",
            _sql(UNACKNOWLEDGED),
            calc="lastNotNull",
            width=4,
        ),
        table(
            "Open alerts",
            "Every alert not yet cleared, unacknowledged first: fevers, unconfirmed readings, "
            "devices offline, edge backlogs, gateway lag, overdue leave. Acknowledge and "
            "clear them on the records service's alert page.",
            _sql(OPEN_ALERTS),
            width=20,
            units=(("max_temp_c", "celsius"),),
        ),
        table(
            "Open fever cases",
            "Cases the clinic has not cleared, oldest first, with the unit and room to go to "
            "and how many follow-ups were recorded. Names are in the records service.",
            _sql(OPEN_CASES),
            width=14,
            units=(("max_temp_c", "celsius"),),
        ),
        table(
            "Leave overdue",
            "Students out on leave past their return time (at the end of the time range): "
            "a return closes itself at the student's next entrance reading.",
            _sql(LEAVE_OVERDUE),
            width=10,
        ),
    )


def coverage_panels() -> tuple[Panel, ...]:
    """Daily screening coverage by dorm unit and grid unit, and who is missing."""
    return (
        table(
            "Screening coverage by dorm unit",
            "On-campus students of each unit on the day the time range ends: checked in the "
            "morning, at noon, not at all, abnormal, and the share checked at least once.",
            _sql(COVERAGE_BY_UNIT),
            width=12,
            height=10,
            units=(("coverage_pct", "percent"),),
        ),
        table(
            "Screening coverage by grid unit",
            "The same per grid unit: each grid unit contacts its students who are missing.",
            _sql(COVERAGE_BY_GRID),
            width=12,
            height=10,
            units=(("coverage_pct", "percent"),),
        ),
        table(
            "Not screened today",
            "On-campus students with no check on the day the time range ends, by building, "
            "unit and room (pseudonymous ids: names are in the records service).",
            _sql(NOT_SCREENED),
            height=10,
        ),
    )
