"""``thermogate replay``: a recorded CSV through the gateway's decision engine, in time order.

``reader`` parses and validates the CSV into numpy columns, ``runner`` decides in time-ordered
chunks and writes the output, ``metrics`` computes the screening figures and ``summary``
prints them. :func:`run_replay` is the command: exit status 0, or 2 for a bad header, an
unreadable file or (with ``strict``) a bad row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from rich.console import Console

from thermogate.config import Settings
from thermogate.replay.metrics import Confusion, Screening
from thermogate.replay.reader import (
    REQUIRED_COLUMNS,
    TRUTH_COLUMN,
    BadRow,
    HeaderError,
    Readings,
    parse_readings,
    read_readings,
)
from thermogate.replay.runner import (
    ADDED_COLUMNS,
    DEFAULT_CHUNK_ROWS,
    EventCounts,
    ReplayError,
    ReplayReport,
    replay,
)
from thermogate.replay.summary import render, stderr_console

EXIT_OK: Final = 0
EXIT_USAGE: Final = 2

__all__ = [
    "ADDED_COLUMNS",
    "DEFAULT_CHUNK_ROWS",
    "REQUIRED_COLUMNS",
    "TRUTH_COLUMN",
    "BadRow",
    "Confusion",
    "EventCounts",
    "HeaderError",
    "Readings",
    "ReplayError",
    "ReplayReport",
    "Screening",
    "parse_readings",
    "read_readings",
    "replay",
    "run_replay",
]


def run_replay(
    in_path: Path,
    out_path: Path,
    settings: Settings,
    *,
    strict: bool = False,
    console: Console | None = None,
) -> int:
    """The command: bad rows and the summary on stderr; the exit status."""
    console = console or stderr_console()

    def report_bad(row: BadRow) -> None:  # plain writes: there may be a great many
        console.file.write(f"thermogate replay: {row.describe(str(in_path))}\n")

    try:
        report = replay(in_path, out_path, settings, strict=strict, on_bad_row=report_bad)
    except ReplayError as exc:
        console.print(f"thermogate replay: {exc}", markup=False)
        return EXIT_USAGE
    render(report, console)
    return EXIT_OK
