"""A small typed model of Grafana dashboards, rendered to the JSON Grafana imports.

Only what thermogate's dashboards use: query variables, four panel types, InfluxQL and SQL
targets, and an automatic layout on Grafana's 24-column grid. Panel ids and positions are
assigned when a dashboard is rendered, so adding a panel never means renumbering by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

GRID_COLUMNS: Final = 24
SCHEMA_VERSION: Final = 39
"""The dashboard schema version the JSON is written in (Grafana 10.4 and later read it)."""

Json = dict[str, Any]
PanelType = Literal["timeseries", "stat", "table", "heatmap"]


@dataclass(frozen=True, slots=True)
class DataSourceRef:
    """A data source as dashboards name it: plugin type and stable uid."""

    type: str
    uid: str

    def to_json(self) -> Json:
        """``{"type": ..., "uid": ...}``."""
        return {"type": self.type, "uid": self.uid}


@dataclass(frozen=True, slots=True)
class InfluxQuery:
    """A raw InfluxQL target; ``$timeFilter``, ``$__interval`` and variables as Grafana has them."""

    source: DataSourceRef
    query: str
    ref_id: str = "A"
    alias: str | None = None
    result_format: Literal["time_series", "table"] = "time_series"

    def to_json(self) -> Json:
        """The target as Grafana stores it."""
        target: Json = {
            "refId": self.ref_id,
            "datasource": self.source.to_json(),
            "rawQuery": True,
            "resultFormat": self.result_format,
            "query": self.query,
        }
        if self.alias is not None:
            target["alias"] = self.alias
        return target


@dataclass(frozen=True, slots=True)
class SqlQuery:
    """A raw SQL target of the PostgreSQL data source (Grafana macros such as
    ``$__timeFilter(column)`` and variables allowed)."""

    source: DataSourceRef
    sql: str
    ref_id: str = "A"
    format: Literal["table", "time_series"] = "table"

    def to_json(self) -> Json:
        """The target as Grafana stores it."""
        return {
            "refId": self.ref_id,
            "datasource": self.source.to_json(),
            "editorMode": "code",
            "rawQuery": True,
            "format": self.format,
            "rawSql": self.sql,
        }


Target = InfluxQuery | SqlQuery


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel: its queries, its size on the grid and its type-specific settings."""

    type: PanelType
    title: str
    description: str
    targets: tuple[Target, ...]
    width: int = 12
    height: int = 8
    field_config: Json = field(default_factory=dict)
    options: Json = field(default_factory=dict)
    transformations: tuple[Json, ...] = ()
    repeat: str | None = None
    """Repeat the panel once per selected value of this variable."""

    def __post_init__(self) -> None:
        if not 1 <= self.width <= GRID_COLUMNS:
            raise ValueError(f"{self.title}: width {self.width} outside 1..{GRID_COLUMNS}")
        if not self.targets:
            raise ValueError(f"{self.title}: a panel needs a query")
        sources = {t.source for t in self.targets}
        if len(sources) != 1:
            raise ValueError(f"{self.title}: all targets must use one data source")
        ref_ids = [t.ref_id for t in self.targets]
        if len(set(ref_ids)) != len(ref_ids):
            raise ValueError(f"{self.title}: duplicate refIds {ref_ids}")

    @property
    def source(self) -> DataSourceRef:
        """The one data source every target uses."""
        return self.targets[0].source

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        """The panel at a place on the grid."""
        panel: Json = {
            "id": panel_id,
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "datasource": self.source.to_json(),
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "targets": [t.to_json() for t in self.targets],
            "fieldConfig": {"defaults": {}, "overrides": [], **self.field_config},
            "options": self.options,
        }
        if self.transformations:
            panel["transformations"] = list(self.transformations)
        if self.repeat is not None:
            panel["repeat"] = self.repeat
            panel["repeatDirection"] = "h"
            panel["maxPerRow"] = 4
        return panel


@dataclass(frozen=True, slots=True)
class Variable:
    """A query variable (multi-value, with *All*), e.g. the buildings present in the data."""

    name: str
    label: str
    source: DataSourceRef
    query: str

    def to_json(self) -> Json:
        """The variable as Grafana stores it, with *All* selected."""
        return {
            "name": self.name,
            "label": self.label,
            "type": "query",
            "datasource": self.source.to_json(),
            "query": self.query,
            "definition": self.query,
            "refresh": 2,  # on every change of the time range
            "multi": True,
            "includeAll": True,
            "sort": 1,
            "regex": "",
            "hide": 0,
            "skipUrlSync": False,
            "options": [],
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        }


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A dashboard: stable uid, variables and panels laid out left to right, top to bottom."""

    uid: str
    title: str
    description: str
    file_name: str
    variables: tuple[Variable, ...]
    panels: tuple[Panel, ...]
    time_from: str = "now-12h"
    refresh: str = "30s"
    tags: tuple[str, ...] = ("thermogate",)
    links: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> Json:
        """The dashboard model Grafana imports (no ``id``: Grafana assigns it)."""
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "editable": False,
            "graphTooltip": 1,
            "timezone": "browser",
            "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "links": [dict(link) for link in self.links],
            "annotations": {"list": [_BUILT_IN_ANNOTATIONS]},
            "templating": {"list": [v.to_json() for v in self.variables]},
            "panels": _layout(self.panels),
        }


_BUILT_IN_ANNOTATIONS: Final[Json] = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def _layout(panels: tuple[Panel, ...]) -> list[Json]:
    """Place panels in reading order; a panel that does not fit starts a new row."""
    placed = []
    x = y = row_height = 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        placed.append(panel.to_json(number, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return placed
