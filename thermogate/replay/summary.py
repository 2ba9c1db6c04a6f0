"""The replay summary on stderr (rich): decisions, engine events and the screening figures.

With a ``truth_febrile`` column, two tables: a reading is *positive* when its decision is
``fever`` (the clinic is alerted), then *flagged* when it is ``recheck`` or ``fever`` (a re-check
is an alarm for the staff). Each gives sensitivity, specificity, PPV and alarms per 1,000 for
all readings, per device and per person-day (see :mod:`thermogate.replay.metrics`).
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from thermogate.replay.metrics import Confusion, Screening
from thermogate.replay.runner import ReplayReport

PLAIN_WIDTH = 160
"""Columns when stderr is not a terminal (rich would otherwise assume 80 and squeeze)."""


def stderr_console() -> Console:
    """A console on stderr: colours on a terminal, plain and wide otherwise."""
    console = Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=True, highlight=False, width=PLAIN_WIDTH, no_color=True)
    return console


def render(report: ReplayReport, console: Console) -> None:
    """Print the whole summary."""
    seconds = sum(report.seconds.values())
    console.print(
        f"thermogate replay: {report.source} -> {report.output}: {report.rows:,} rows decided "
        f"in time order, {len(report.bad_rows):,} bad rows skipped, {seconds:.2f} s",
        markup=False,
    )
    console.print(decision_table(report))
    console.print(event_table(report))
    if not report.screening:
        console.print("no truth_febrile column: no screening figures")
        return
    console.print(
        "Screening against truth_febrile. Per reading, POSITIVE = decision fever; FLAGGED = "
        "decision recheck or fever. An invalid reading is never positive. A person-day "
        "(person_id and local date) is febrile or positive when any of its readings is; "
        "readings without a person_id are left out of it.",
        markup=False,
    )
    for screening in report.screening:
        console.print(screening_table(screening))


def decision_table(report: ReplayReport) -> Table:
    """Readings per decision and their share."""
    table = Table(title="Decisions", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("decision")
    table.add_column("readings", justify="right")
    table.add_column("share", justify="right")
    for label, count in report.decisions.items():
        table.add_row(label, f"{count:,}", _percent(count / report.rows if report.rows else None))
    return table


def event_table(report: ReplayReport) -> Table:
    """What the engine asked for (alerts and requests; not written to the CSV)."""
    e = report.events
    table = Table(title="Engine events", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("event")
    table.add_column("count", justify="right")
    table.add_column("meaning")
    for name, count, meaning in (
        ("fever alerts", e.fever, "confirmed by a re-check, or very high"),
        ("re-check requests", e.recheck, "suspicious, person known"),
        ("cleared", e.cleared, "re-check below the threshold"),
        ("unidentified", e.unidentified, "suspicious, nobody known: alerted unconfirmed"),
        ("unconfirmed escalations", e.escalations, "no re-check within the window"),
        ("open at the end", e.open_at_end, "re-check window still running when the data ends"),
        ("device faults", e.device_faults, "a device stuck on one value or off its peers"),
    ):
        table.add_row(name, f"{count:,}", meaning)
    for fault in e.faulty_at_end:
        table.add_row("faulty at the end", "", fault)
    return table


def screening_table(screening: Screening) -> Table:
    """Sensitivity, specificity, PPV and alarms per 1,000: overall, per device, per person-day."""
    table = Table(
        title=f"Screening, {screening.definition}",
        title_justify="left",
        caption="sensitivity TP/(TP+FN), specificity TN/(TN+FP), PPV TP/(TP+FP); alarms per "
        "1,000 readings (per 1,000 person-days on the person-days row)",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
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


def _figures(population: str, c: Confusion) -> list[str | Text]:
    alarms = c.alarms_per_1000
    return [
        Text(population),  # a device id is data, not markup
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
