"""Panel factories: the look of each panel type, decided once so the dashboards stay alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from thermogate.dashboards.model import Json, Panel, Target

BOARD_LINKS: tuple[Json, ...] = (
    {
        "title": "thermogate",
        "type": "dashboards",
        "tags": ["thermogate"],
        "asDropdown": True,
        "includeVars": True,
        "keepTime": True,
    },
)
"""Every dashboard links to the others (by the tag they share), keeping variables and time."""
_LEGEND: Json = {"displayMode": "list", "placement": "bottom", "showLegend": True}
_TOOLTIP: Json = {"mode": "multi", "sort": "none"}


def thresholds(*steps: tuple[str, float | None]) -> Json:
    """Absolute colour steps; the first step's value is None (from minus infinity)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def timeseries(
    title: str,
    description: str,
    *targets: Target,
    unit: str = "short",
    bars: bool = False,
    width: int = 12,
    threshold_line: float | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Panel:
    """Lines (or bars) over time; an optional red threshold line."""
    defaults: Json = {
        "unit": unit,
        "custom": {
            "drawStyle": "bars" if bars else "line",
            "lineWidth": 1,
            "fillOpacity": 60 if bars else 10,
            "showPoints": "auto",
            "spanNulls": False,
            "thresholdsStyle": {"mode": "off" if threshold_line is None else "line"},
        },
    }
    if threshold_line is not None:
        defaults["thresholds"] = thresholds(("transparent", None), ("red", threshold_line))
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return Panel(
        type="timeseries",
        title=title,
        description=description,
        targets=targets,
        width=width,
        field_config={"defaults": defaults},
        options={"legend": _LEGEND, "tooltip": _TOOLTIP},
    )


def stat(
    title: str,
    description: str,
    *targets: Target,
    red_from: float = 1,
    calc: Literal["sum", "lastNotNull", "max"] = "sum",
    width: int = 6,
) -> Panel:
    """One number, green below ``red_from``, red from it."""
    return Panel(
        type="stat",
        title=title,
        description=description,
        targets=targets,
        width=width,
        field_config={
            "defaults": {
                "unit": "short",
                "noValue": "0",
                "color": {"mode": "thresholds"},
                "thresholds": thresholds(("green", None), ("red", red_from)),
            }
        },
        options={
            "reduceOptions": {"calcs": [calc], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value",
            "justifyMode": "center",
            "orientation": "auto",
        },
    )


def table(
    title: str,
    description: str,
    *targets: Target,
    width: int = 24,
    height: int = 8,
    units: Sequence[tuple[str, str]] = (),
    transformations: Sequence[Json] = (),
) -> Panel:
    """Rows as the query returns them; ``units`` are (column regex, Grafana unit) pairs."""
    overrides: list[Any] = [
        {
            "matcher": {"id": "byRegexp", "options": pattern},
            "properties": [{"id": "unit", "value": unit}]
            + ([{"id": "decimals", "value": 1}] if unit == "celsius" else []),
        }
        for pattern, unit in units
    ]
    return Panel(
        type="table",
        title=title,
        description=description,
        targets=targets,
        width=width,
        height=height,
        field_config={"defaults": {"custom": {"align": "auto"}}, "overrides": overrides},
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        transformations=tuple(transformations),
    )


def heatmap(
    title: str,
    description: str,
    *targets: Target,
    bucket_c: float = 0.1,
    repeat: str | None = None,
    width: int = 12,
) -> Panel:
    """A distribution over time, bucketed by Grafana from the raw values of the query."""
    return Panel(
        type="heatmap",
        title=title,
        description=description,
        targets=targets,
        width=width,
        repeat=repeat,
        field_config={"defaults": {"custom": {"scaleDistribution": {"type": "linear"}}}},
        options={
            "calculate": True,
            "calculation": {
                "xBuckets": {"mode": "size", "value": "10m"},
                "yBuckets": {"mode": "size", "value": str(bucket_c)},
            },
            "yAxis": {"unit": "celsius", "decimals": 1, "axisPlacement": "left"},
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64, "exponent": 0.5},
            "cellGap": 1,
            "tooltip": {"mode": "single", "yHistogram": True},
            "legend": {"show": True},
            "rowsFrame": {"layout": "auto"},
        },
    )


def join_by(field_name: str) -> Json:
    """The transformation that puts several queries' rows side by side, keyed by a column."""
    return {"id": "joinByField", "options": {"byField": field_name, "mode": "outer"}}
