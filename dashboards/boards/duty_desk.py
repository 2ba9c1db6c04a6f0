"""The duty desk: who is coming in, who is suspicious or febrile, and what is still open.

The home dashboard of the stack. Readings come from InfluxDB; open alerts, fever cases and
overdue leave from the records service (see :mod:`thermogate.dashboards.records_sql`).
"""

from __future__ import annotations

from typing import Final

from thermogate.dashboards import records_sql
from thermogate.dashboards.datasources import INFLUX
from thermogate.dashboards.influxql import READINGS, variables, where
from thermogate.dashboards.model import Dashboard, InfluxQuery, Panel
from thermogate.dashboards.panels import BOARD_LINKS, heatmap, stat, table, timeseries

UID: Final = "thermogate-duty-desk"

_SUSPICIOUS = "(\"decision\" = 'recheck' OR \"decision\" = 'fever')"


def _decision_count(decision: str, ref_id: str = "A", per: str = "") -> InfluxQuery:
    group = f" GROUP BY time({per}) fill(0)" if per else ""
    condition = f"\"decision\" = '{decision}'"
    return InfluxQuery(
        INFLUX,
        f'SELECT count("seq") AS "{decision}" FROM "{READINGS}" '
        + where("building", "entrance", extra=condition)
        + group,
        ref_id=ref_id,
    )


def panels() -> tuple[Panel, ...]:
    """The duty desk's panels, in reading order."""
    return (
        timeseries(
            "Entrance traffic per 10 minutes",
            "Readings stored per building in each 10-minute window (every thermometer "
            "reading, valid or not, counts as one entrant).",
            InfluxQuery(
                INFLUX,
                f'SELECT count("seq") FROM "{READINGS}" {where("building", "entrance")} '
                'GROUP BY time(10m), "building" fill(0)',
                alias="$tag_building",
            ),
            bars=True,
            width=14,
        ),
        stat(
            "Confirmed fevers",
            "Readings decided 'fever' in the time range: a re-check confirmed it, or it was "
            "very high. Each one alerted the clinic.",
            _decision_count("fever"),
            width=5,
        ),
        stat(
            "Awaiting re-check",
            "Suspicious readings in the time range ('recheck'): the person must be measured "
            "again within the re-check window.",
            _decision_count("recheck"),
            width=5,
        ),
        heatmap(
            "Temperature distribution at entrance $entrance",
            "Core-equivalent temperatures (what the fever rule compares) in 10-minute columns "
            "and 0.1 °C rows, one panel per chosen entrance. A band moving down on a cold "
            "evening is the door's cold; a lone cell above 37.3 °C is a person to re-check.",
            InfluxQuery(
                INFLUX,
                f'SELECT "adjusted_c" FROM "{READINGS}" {where("building", "entrance")}',
            ),
            repeat="entrance",
            width=24,
        ),
        timeseries(
            "Suspicious and confirmed readings per 10 minutes",
            "Readings decided 'recheck' (suspicious) and 'fever' (confirmed) per 10 minutes.",
            _decision_count("recheck", "A", per="10m"),
            _decision_count("fever", "B", per="10m"),
            bars=True,
            width=10,
        ),
        table(
            "Suspicious and confirmed readings, latest first",
            "Every reading decided 'recheck' or 'fever': who (pseudonymous id), where, which "
            "device, measured and core-equivalent temperature. Names live in the records "
            "service, never in the time series.",
            InfluxQuery(
                INFLUX,
                'SELECT "decision", "temp_c", "adjusted_c", "person_id", "building", '
                f'"entrance", "device_id", "reading_id" FROM "{READINGS}" '
                f"{where('building', 'entrance', extra=_SUSPICIOUS)} "
                "ORDER BY time DESC LIMIT 200",
                result_format="table",
            ),
            width=14,
            units=(("temp_c|adjusted_c", "celsius"),),
        ),
        *records_sql.duty_desk_panels(),
    )


def dashboard() -> Dashboard:
    """The duty desk."""
    return Dashboard(
        uid=UID,
        title="thermogate duty desk",
        description="What the duty desk watches: traffic at each entrance, suspicious and "
        "confirmed readings, the temperature distribution per entrance, open alerts, fever "
        "cases and overdue leave.",
        file_name="duty-desk.json",
        variables=variables(),
        panels=panels(),
        links=BOARD_LINKS,
    )
