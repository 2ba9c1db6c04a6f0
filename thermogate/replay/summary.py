"""The replay summary on stderr: decisions, engine events, and the screening figures (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from thermogate.replay.metrics import Confusion, Screening
from thermogate.replay.runner import ReplayReport

PLAIN_WIDTH = 160
"""Columns when stderr is not a terminal (rich would otherwise assume 80 and squeeze)."""


def stderr_console() -> Console:
    """A console on stderr: colours on a terminal, plain and wide otherwise."""
    console = Console(stderr=True, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(stderr=True, highlight=False, width=PLAIN_WIDTH, no_color=True)
    return console


def render(report: ReplayReport, console: Console) -> None:
    """Print the whole summary."""
    total = sum(report.seconds.values())
    console.print(
        f"replay of {report.source}: {report.rows:,} rows decided, "
        f"{len(report.bad_rows):,} bad rows skipped, {total:.2f} s"
    )
    console.print(decision_table(report))
    e = report.events
    console.print(
        f"engine events: {e.fever:,} fever alerts, {e.recheck:,} re-check requests, "
        f"{e.cleared:,} cleared, {e.unidentified:,} suspicious and unidentified (alerted "
        f"unconfirmed), {e.escalations:,} unconfirmed escalations (no re-check within the "
        f"window), {e.open_at_end:,} re-checks still open at the end of the recording"
    )
    if not report.screening:
        console.print("no truth_febrile column: no screening figures")
    for screening in report.screening:
        console.print(screening_table(screening))


def decision_table(report: ReplayReport) -> Table:
    """Readings per decision and their share."""
    table = Table(title="Decisions", title_justify="left")
    table.add_column("decision")
    table.add_column("readings", justify="right")
    table.add_column("share", justify="right")
    for label, count in report.decisions.items():
        table.add_row(label, f"{count:,}", _percent(count / report.rows if report.rows else None))
    return table


def screening_table(screening: Screening) -> Table:
    """Sensitivity, specificity, PPV and alarms per 1,000: overall, per device, per person-day."""
    table = Table(
        title=f"Screening, {screening.definition}; an invalid reading counts as negative",
        title_justify="left",
    )
    for name in ("population", "count", "febrile", "TP", "FP", "FN", "TN"):
        table.add_column(name, justify="left" if name == "population" else "right")
    for name in ("sensitivity", "specificity", "PPV", "alarms /1,000"):
        table.add_column(name, justify="right")
    table.add_row(*_figures("all readings", screening.overall), end_section=True)
    for device, figures in screening.per_device.items():
        table.add_row(*_figures(f"device {device}", figures))
    table.add_section()
    table.add_row(*_figures("person-days", screening.person_days))
    return table


def _figures(population: str, c: Confusion) -> list[str]:
    alarms = c.alarms_per_1000
    return [
        population,
        f"{c.total:,}",
        f"{c.febrile:,}",
        f"{c.tp:,}",
        f"{c.fp:,}",
        f"{c.fn:,}",
        f"{c.tn:,}",
        _percent(c.sensitivity),
        _percent(c.specificity),
        _percent(c.ppv),
        "-" if alarms is None else f"{alarms:.1f}",
    ]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:.1f} %"
