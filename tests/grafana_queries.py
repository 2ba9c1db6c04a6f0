"""The dashboards' queries as Grafana sends them: variables, time range and interval
substituted the way Grafana does, so tests can run them on real databases."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from thermogate.dashboards.catalog import dashboards

# Grafana's kbn.roundInterval: (below this many ms, use this interval).
_ROUNDING = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000),
    (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000),
    (45_000, 30_000), (90_000, 60_000), (210_000, 120_000), (450_000, 300_000),
    (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000), (2_700_000, 1_800_000),
    (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
    (32_400_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000),
)  # fmt: skip


@dataclass(frozen=True)
class PanelTarget:
    """One query of one panel."""

    board: str
    panel: dict[str, Any]
    target: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.board}/{self.panel['title']}/{self.target['refId']}"

    @property
    def is_sql(self) -> bool:
        return "rawSql" in self.target


def targets() -> Iterator[PanelTarget]:
    for board in dashboards():
        document = board.to_json()
        for panel in document["panels"]:
            for target in panel["targets"]:
                yield PanelTarget(board.uid, panel, target)


def interval_ms(start_ms: int, end_ms: int, max_points: int = 1000, min_ms: int = 10_000) -> int:
    """``$__interval`` as Grafana computes it: range / points, rounded, at least the data
    source's minimum interval (``timeInterval``)."""
    raw = (end_ms - start_ms) / max_points
    rounded = next((to for below, to in _ROUNDING if raw < below), 604_800_000)
    return max(rounded, min_ms)


def interval_text(ms: int) -> str:
    """Grafana's interval text: 500ms, 10s, 1m, 2h, 1d."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def influxql(query: str, variables: Mapping[str, Sequence[str]], start_ms: int, end_ms: int) -> str:
    """An InfluxQL query as Grafana sends it: a multi-value variable in a regex becomes
    ``(a|b)`` (values regex-escaped), the time range and the interval are filled in."""
    for name, values in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        escaped = [re.escape(v) for v in values]
        value = escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"
        query = query.replace(f"${name}", value)
    query = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    return query.replace("$__interval", interval_text(interval_ms(start_ms, end_ms)))


def sql(
    query: str, variables: Mapping[str, Sequence[str]], start: dt.datetime, end: dt.datetime
) -> str:
    """A SQL query as Grafana's PostgreSQL data source sends it: a variable becomes a quoted,
    comma-separated list; ``$__timeFilter(col)``, ``$__timeFrom()``, ``$__timeTo()`` the range."""

    def stamp(at: dt.datetime) -> str:
        return "'" + at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "'"

    query = re.sub(
        r"\$__timeFilter\(([^)]+)\)",
        lambda m: f"{m[1]} BETWEEN {stamp(start)} AND {stamp(end)}",
        query,
    )
    query = query.replace("$__timeFrom()", stamp(start)).replace("$__timeTo()", stamp(end))
    for name, values in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        quoted = ",".join("'" + v.replace("'", "''") + "'" for v in values)
        query = query.replace(f"${{{name}}}", quoted).replace(f"${name}", quoted)
    return query
