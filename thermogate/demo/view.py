"""The demo's live terminal view (rich): readings per entrance, fevers, alerts, dead letters,
and the clinic side: lifecycle alerts, notifications, open cases, the desk and the robot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from thermogate.demo.records import DeskCounts
from thermogate.demo.robot import Step


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
class DeskView:
    """The clinic side at one instant: the desk's address, the figures, the robot's steps."""

    url: str
    counts: DeskCounts
    robot: Sequence[Step] | None
    """None when the robot is off (``--no-robot``)."""


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
    desk: DeskView | None = None


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
    parts: list[Any] = [Panel(table), Panel(alerts)]
    if snapshot.desk is not None:
        parts.append(_desk_panel(snapshot.desk))
    return Group(*parts, footer)


def _desk_panel(desk: DeskView) -> Panel:
    """Lifecycle alerts, notifications and cases, the desk's URL and the robot's last steps."""
    counts = desk.counts
    lines = [
        Text.assemble(
            ("lifecycle alerts ", "bold"),
            f"{counts.alerts} raised, {counts.acknowledged} acknowledged, "
            f"{counts.cleared} cleared ({counts.open_alerts} open)   ",
            ("notifications sent ", "bold"),
            str(counts.notifications_sent),
            "   ",
            ("fever cases ", "bold"),
            (f"{counts.open_cases} open", "bold red" if counts.open_cases else ""),
            f", {counts.closed_cases} cleared",
        ),
        Text.assemble(("desk ", "bold"), (desk.url, "underline")),
    ]
    if desk.robot is None:
        lines.append(Text("clinic robot off: acknowledge and clear on the desk yourself"))
    else:
        lines += [Text(f"{step.at_s:6.1f} s  robot: {step.text}") for step in desk.robot[-5:]]
    return Panel(Group(*lines), title="Clinic and duty desk")
