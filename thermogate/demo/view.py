"""The demo's live terminal view (rich): readings per entrance, fevers, alerts, dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True, slots=True)
class EntranceRow:
    """One line of the entrance table."""

    building: str
    entrance: str
    sent: int
    stored: int
    fevers_sent: int
    alerts: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the view shows at one instant."""

    elapsed_s: float
    broker: str
    rows: Sequence[EntranceRow]
    stored_total: int
    dead_letters_edge: int
    dead_letters_gateway: int
    alerts_raised: int
    alerts_delivered: int
    recent_alerts: Sequence[dict[str, Any]] = field(default_factory=list)


def render(snapshot: Snapshot) -> Group:
    """Build the renderable for one snapshot."""
    table = Table(title="Entrances", expand=True)
    for column, justify in (
        ("building", "left"),
        ("entrance", "left"),
        ("readings sent", "right"),
        ("stored", "right"),
        ("fevers sent", "right"),
        ("alerts delivered", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in snapshot.rows:
        table.add_row(
            row.building,
            row.entrance,
            str(row.sent),
            str(row.stored),
            Text(str(row.fevers_sent), style="bold red" if row.fevers_sent else ""),
            str(row.alerts),
        )
    alerts = Table(title="Latest alerts (local inbox)", expand=True)
    for column in ("event time", "alert", "building", "entrance", "°C", "person"):
        alerts.add_column(column)
    for alert in list(snapshot.recent_alerts)[-6:]:
        value = alert.get("temp_c", alert.get("adjusted_c"))
        alerts.add_row(
            str(alert.get("ts", ""))[11:19],
            str(alert.get("kind", "")),
            str(alert.get("building", "")),
            str(alert.get("entrance", "")),
            Text("" if value is None else f"{value:.1f}", style="bold red"),
            str(alert.get("person_id") or "unidentified"),
        )
    footer = Text(
        f"{snapshot.elapsed_s:6.1f} s   broker {snapshot.broker}   stored {snapshot.stored_total}"
        f"   alerts raised {snapshot.alerts_raised}, delivered {snapshot.alerts_delivered}"
        f"   dead letters: edge {snapshot.dead_letters_edge}, "
        f"gateway {snapshot.dead_letters_gateway}   (Ctrl-C stops)"
    )
    return Group(Panel(table), Panel(alerts), footer)
