"""A recorded screening CSV into numpy columns; a bad row is described and left out, never fatal.

Parsing is column-wise: the csv module splits records, each column is then validated as a
whole (categorical and numeric columns through their few distinct values, times one by one
with ``datetime.fromisoformat``). Every problem names the data row (1-based, blank lines not
counted), the file line it starts on and the column.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

import numpy as np
import numpy.typing as npt

from thermogate.contract import DeviceKind, ErrorCode, Placement, Site

if TYPE_CHECKING:
    from _csv import Reader

T = TypeVar("T")

REQUIRED_COLUMNS: Final = (
    "ts",
    "building",
    "entrance",
    "device_id",
    "device_kind",
    "site",
    "placement",
    "person_id",
    "temp_c",
    "error",
    "ambient_c",
)
TRUTH_COLUMN: Final = "truth_febrile"
"""Optional ground truth, 0 or 1 per reading: enables the screening metrics."""

_KINDS: Final = frozenset(k.value for k in DeviceKind)
_SITES: Final = frozenset(s.value for s in Site)
_PLACEMENTS: Final = frozenset(p.value for p in Placement) | {""}
_ERRORS: Final = frozenset(e.value for e in ErrorCode) | {""}
_TRUTH: Final = {"0": 0, "1": 1}
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_BLOCK_ROWS: Final = 65_536


class HeaderError(ValueError):
    """The file has no usable header row (missing, duplicated or unreadable columns)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    """One refused data row: ``row`` counts data rows from 1, ``line`` is where it starts."""

    row: int
    line: int
    column: str | None
    problem: str

    def describe(self, source: str) -> str:
        """``IN.csv:18: row 17, column temp_c: "3x.5" is not a number``."""
        where = (
            f"row {self.row}" if self.column is None else f"row {self.row}, column {self.column}"
        )
        return f"{source}:{self.line}: {where}: {self.problem}"


@dataclass(frozen=True, slots=True)
class Readings:
    """The good rows of a file, in input order: raw text for the output, typed columns for the
    engine. ``person_id`` and ``placement`` are ``""`` where the file left them empty."""

    source: str
    header: tuple[str, ...]
    text: list[list[str]]
    """One list per header column, the fields exactly as read."""
    row: npt.NDArray[np.int64]
    ts_ms: npt.NDArray[np.int64]
    local_day: npt.NDArray[np.int64]
    """Proleptic Gregorian ordinal of the date in the row's own UTC offset."""
    device_id: list[str]
    device_kind: list[str]
    site: list[str]
    placement: list[str]
    person_id: list[str]
    temp_c: npt.NDArray[np.float64]
    """NaN where the device showed an error code."""
    has_error: npt.NDArray[np.bool_]
    ambient_c: npt.NDArray[np.float64]
    truth: npt.NDArray[np.int8] | None
    """``truth_febrile`` (0/1) when the file has that column."""
    bad_rows: list[BadRow]

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])


def read_readings(path: Path) -> Readings:
    """Read a UTF-8 CSV file (a byte-order mark is ignored); invalid UTF-8 spoils only its rows."""
    source = str(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            return parse_readings(stream, source)
    except UnicodeDecodeError:
        pass
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as stream:
        return parse_readings(stream, source, check_encoding=True)


def parse_readings(
    lines: Iterable[str], source: str = "<input>", *, check_encoding: bool = False
) -> Readings:
    """Parse CSV text (an open file or lines). ``check_encoding`` refuses fields holding
    undecodable bytes (read with ``errors="surrogateescape"``)."""
    reader = csv.reader(lines, strict=False)
    with _gc_paused():
        header = next(reader, None)
        if header is None:
            raise HeaderError(f"{source}: empty file: expected a header row")
        positions = _header_positions(header, source, check_encoding=check_encoding)
        width = len(header)
        columns: list[list[str]] = [[] for _ in header]
        rows: list[int] = []
        lines_of: list[int] = []
        bad: dict[int, BadRow] = {}
        for block in _blocks(_records(reader), _BLOCK_ROWS):
            kept = []
            for number, line, record in block:
                if isinstance(record, str):  # the csv module refused the record
                    bad[number] = BadRow(number, line, None, record)
                    continue
                if len(record) != width:
                    bad[number] = BadRow(
                        number, line, None, f"{len(record)} fields, expected {width}"
                    )
                    continue
                if check_encoding and (problem := _undecodable(record, header)) is not None:
                    bad[number] = BadRow(number, line, problem, "not valid UTF-8")
                    continue
                kept.append(record)
                rows.append(number)
                lines_of.append(line)
            for column, values in zip(columns, zip(*kept, strict=True), strict=False):
                column.extend(values)
        return _typed(
            source,
            header=tuple(header),
            columns=columns,
            positions=positions,
            rows=rows,
            lines=lines_of,
            layout_bad=bad,
        )


def _records(reader: Reader) -> Iterator[tuple[int, int, list[str] | str]]:
    """(data row number, first line, fields or why the csv module refused the record); blank
    lines are skipped and not counted."""
    number, last_line = 0, reader.line_num
    while True:
        try:
            record: list[str] | str = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over csv.field_size_limit(), for one
            record = f"unreadable CSV record: {exc}"
        line, last_line = last_line + 1, reader.line_num
        if not record:
            continue
        number += 1
        yield number, line, record


def _blocks(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while block := list(islice(items, size)):
        yield block


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of small lists would trigger the cycle collector over and over (4x slower)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _header_positions(
    header: Sequence[str], source: str, *, check_encoding: bool
) -> dict[str, int]:
    names = [name.strip() for name in header]
    if check_encoding and _undecodable(names, names) is not None:
        raise HeaderError(f"{source}:1: the header row is not valid UTF-8")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise HeaderError(
            f"{source}:1: missing required column(s): {', '.join(missing)} "
            f"(the header has: {', '.join(names) or 'nothing'})"
        )
    wanted = (*REQUIRED_COLUMNS, TRUTH_COLUMN)
    repeated = sorted({n for n in names if n in wanted and names.count(n) > 1})
    if repeated:
        raise HeaderError(f"{source}:1: column(s) named more than once: {', '.join(repeated)}")
    return {name: names.index(name) for name in wanted if name in names}


def _undecodable(fields: Sequence[str], header: Sequence[str]) -> str | None:
    for name, field in zip(header, fields, strict=True):
        try:
            field.encode("utf-8")
        except UnicodeEncodeError:
            return name.strip()
    return None


def _show(value: str) -> str:
    """A field as it reads in a message: quoted, escaped, shortened."""
    shown = value if len(value) <= 40 else value[:37] + "..."
    return json.dumps(shown, ensure_ascii=False)


class _Problems:
    """The first problem of each row, by column position (the leftmost column wins)."""

    def __init__(self, rows: list[int], lines: list[int]) -> None:
        self._rows, self._lines = rows, lines
        self.found: dict[int, tuple[int, BadRow]] = {}  # index -> (column position, problem)

    def add(self, index: int, position: int, column: str, problem: str) -> None:
        """Note a problem of the row at ``index`` (of the rows with the right field count)."""
        earlier = self.found.get(index)
        if earlier is None or position < earlier[0]:
            row = BadRow(self._rows[index], self._lines[index], column, problem)
            self.found[index] = (position, row)


def _check_choice(
    values: list[str],
    allowed: frozenset[str],
    report: Callable[[int, str], None],
    expected: str,
) -> None:
    if set(values) <= allowed:
        return
    for index, value in enumerate(values):
        if value not in allowed:
            problem = "is empty" if value == "" else f"{_show(value)} is not {expected}"
            report(index, problem)


def _numbers(
    values: list[str],
    report: Callable[[int, str], None],
    refuse_empty: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.float64]:
    """Parse through the distinct values (NaN for ``""``); an empty field is a problem where
    ``refuse_empty`` is set, and so is a field that is not a plain finite decimal number."""
    table: dict[str, float] = {"": float("nan")}
    problems: dict[str, str] = {}
    for text in set(values) - {""}:
        number = float(text) if _NUMBER.fullmatch(text) else float("nan")
        if not np.isfinite(number):
            problems[text] = f"{_show(text)} is not a number"
        table[text] = number
    parsed = np.fromiter(map(table.__getitem__, values), np.float64, len(values))
    suspect = np.isnan(parsed)
    if refuse_empty is None:
        suspect &= bool(problems)
    else:
        suspect &= refuse_empty | bool(problems)
    for index in np.flatnonzero(suspect).tolist():
        value = values[index]
        if value in problems:
            report(index, problems[value])
        elif value == "" and refuse_empty is not None and refuse_empty[index]:
            report(index, "is empty and no error code is set")
    return parsed


def _times(
    values: list[str], report: Callable[[int, str], None]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Epoch milliseconds and the local date ordinal, one ``fromisoformat`` per row."""
    seconds = np.zeros(len(values), dtype=np.float64)
    days = np.zeros(len(values), dtype=np.int64)
    parse = dt.datetime.fromisoformat
    for index, text in enumerate(values):
        try:
            moment = parse(text)
        except ValueError:
            report(index, f"{_show(text)} is not an RFC 3339 time (2024-03-01T08:15:00+08:00)")
            continue
        if moment.tzinfo is None:
            report(index, f"{_show(text)} has no UTC offset (add Z or +08:00)")
            continue
        seconds[index] = moment.timestamp()
        days[index] = moment.toordinal()
    return np.round(seconds * 1000.0).astype(np.int64), days


def _typed(
    source: str,
    *,
    header: tuple[str, ...],
    columns: list[list[str]],
    positions: dict[str, int],
    rows: list[int],
    lines: list[int],
    layout_bad: dict[int, BadRow],
) -> Readings:
    problems = _Problems(rows, lines)

    def reporter(name: str) -> Callable[[int, str], None]:
        position = positions[name]
        return lambda index, problem: problems.add(index, position, name, problem)

    def col(name: str) -> list[str]:
        return columns[positions[name]]

    ts_ms, local_day = _times(col("ts"), reporter("ts"))
    device_ids, device_report = col("device_id"), reporter("device_id")
    if "" in set(device_ids):
        for index, value in enumerate(device_ids):
            if not value:
                device_report(index, "is empty")
    _check_choice(col("device_kind"), _KINDS, reporter("device_kind"), "handheld or kiosk")
    _check_choice(col("site"), _SITES, reporter("site"), "forehead, wrist or canthus")
    _check_choice(col("placement"), _PLACEMENTS, reporter("placement"), "door, lobby or room")
    errors = col("error")
    _check_choice(errors, _ERRORS, reporter("error"), "empty, LO, HI or ERR")
    has_error = np.fromiter((e != "" for e in errors), np.bool_, len(errors))
    temps = col("temp_c")
    if has_error.any():  # the display showed an error code: whatever is in temp_c is moot
        temps = [t if e == "" else "" for t, e in zip(temps, errors, strict=True)]
    temp_c = _numbers(temps, reporter("temp_c"), refuse_empty=~has_error)
    ambient_c = _numbers(col("ambient_c"), reporter("ambient_c"))
    truth = None
    if TRUTH_COLUMN in positions:
        values = col(TRUTH_COLUMN)
        _check_choice(values, frozenset(_TRUTH), reporter(TRUTH_COLUMN), "0 or 1")
        truth = np.fromiter((_TRUTH.get(v, 0) for v in values), np.int8, len(values))

    index = np.arange(len(rows))
    if problems.found:
        index = np.setdiff1d(index, np.fromiter(problems.found, np.int64), assume_unique=True)
        columns = [np.asarray(c, dtype=object)[index].tolist() for c in columns]
        ts_ms, local_day = ts_ms[index], local_day[index]
        temp_c, ambient_c, has_error = temp_c[index], ambient_c[index], has_error[index]
        truth = None if truth is None else truth[index]
    return Readings(
        source=source,
        header=header,
        text=columns,
        row=np.asarray(rows, dtype=np.int64)[index],
        ts_ms=ts_ms,
        local_day=local_day,
        device_id=columns[positions["device_id"]],
        device_kind=columns[positions["device_kind"]],
        site=columns[positions["site"]],
        placement=columns[positions["placement"]],
        person_id=columns[positions["person_id"]],
        temp_c=temp_c,
        has_error=has_error,
        ambient_c=ambient_c,
        truth=truth,
        bad_rows=sorted(
            [*layout_bad.values(), *(row for _, row in problems.found.values())],
            key=lambda r: r.row,
        ),
    )
