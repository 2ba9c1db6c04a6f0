"""Daily coverage: who was screened today and who was not, by dorm unit and grid unit."""

from __future__ import annotations

from typing import Final

from thermogate.dashboards import records_sql
from thermogate.dashboards.influxql import variables
from thermogate.dashboards.model import Dashboard
from thermogate.dashboards.panels import BOARD_LINKS

UID: Final = "thermogate-daily-coverage"


def dashboard() -> Dashboard:
    """Daily coverage (records service tables)."""
    return Dashboard(
        uid=UID,
        title="thermogate daily coverage",
        description="The plan's daily question: who was screened and who was not, per dorm "
        "unit and grid unit, on the day the time range ends (records service tables).",
        file_name="daily-coverage.json",
        variables=variables(),
        links=BOARD_LINKS,
        panels=records_sql.coverage_panels(),
        time_from="now/d",
        refresh="5m",
    )
