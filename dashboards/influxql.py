"""InfluxQL building blocks: the dashboard variables as tag filters, and the time bound.

Tags are matched with anchored regular expressions (``"building" =~ /^$building$/``) so that
*All* and several chosen values work: Grafana writes a multi-value variable as ``(a|b)``.
"""

from __future__ import annotations

from typing import Final

from thermogate.dashboards.datasources import INFLUX
from thermogate.dashboards.model import Variable

READINGS: Final = "screening"
"""The readings measurement (``ingest.measurement``; docs/storage.md)."""
EDGES: Final = "thermogate_edge"
"""Edge backlog figures (gateway/edge_metrics.py)."""
GATEWAYS: Final = "thermogate_gateway"
"""The gateway's own counters and gauges (gateway/own_metrics.py)."""
VARIABLE_TAGS: Final = {"building": "building", "entrance": "entrance", "device": "device_id"}
"""Dashboard variable -> the tag of ``screening`` it filters."""


def where(*variables: str, extra: str = "", tags: dict[str, str] | None = None) -> str:
    """``WHERE`` with a filter per variable, an optional condition, and ``$timeFilter``."""
    names = VARIABLE_TAGS if tags is None else tags
    parts = [f'"{names[v]}" =~ /^${v}$/' for v in variables]
    if extra:
        parts.insert(0, extra)
    return "WHERE " + " AND ".join([*parts, "$timeFilter"])


def variables() -> tuple[Variable, ...]:
    """Building, entrance and device: tag values present in the data, each narrowed by the
    ones before it."""
    building = f'SHOW TAG VALUES FROM "{READINGS}" WITH KEY = "building"'
    entrance = (
        f'SHOW TAG VALUES FROM "{READINGS}" WITH KEY = "entrance" WHERE "building" =~ /^$building$/'
    )
    device = (
        f'SHOW TAG VALUES FROM "{READINGS}" WITH KEY = "device_id" '
        'WHERE "building" =~ /^$building$/ AND "entrance" =~ /^$entrance$/'
    )
    return (
        Variable("building", "Building", INFLUX, building),
        Variable("entrance", "Entrance", INFLUX, entrance),
        Variable("device", "Device", INFLUX, device),
    )
