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
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from thermogate.contract import DeviceKind, ErrorCode, Placement, Site

if TYPE_CHECKING:
    from _csv import Reader

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
OUTDOOR_COLUMN: Final = "outdoor_c"
"""Optional outdoor temperature when the reading was taken: the engine's cold correction."""

_KINDS: Final = frozenset(k.value for k in DeviceKind)
_SITES: Final = frozenset(s.value for s in Site)
_PLACEMENTS: Final = frozenset(p.value for p in Placement) | {""}
_ERRORS: Final = frozenset(e.value for e in ErrorCode) | {""}
_TRUTH: Final = {"0": 0, "1": 1}
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


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
    records: list[list[str]]
    """The rows' fields exactly as read."""
    row: npt.NDArray[np.int64]
    ts_ms: npt.NDArray[np.int64]
    local_day: npt.NDArray[np.int64]
    """Proleptic Gregorian ordinal of the date in the row's own UTC offset."""
    building: list[str]
    device_id: list[str]
    device_kind: list[str]
    site: list[str]
    placement: list[str]
    person_id: list[str]
    temp_c: npt.NDArray[np.float64]
    """NaN where the device showed an error code."""
    has_error: npt.NDArray[np.bool_]
    ambient_c: npt.NDArray[np.float64]
    outdoor_c: npt.NDArray[np.float64]
    """NaN where unknown, everywhere when the file has no ``outdoor_c`` column."""
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
    with gc_paused():
        header = next(reader, None)
        if header is None:
            raise HeaderError(f"{source}: empty file: expected a header row")
        positions = _header_positions(header, source, check_encoding=check_encoding)
        layout = _read_records(reader, len(header))
        if check_encoding:
            layout.refuse_undecodable(header)
        return _typed(source, tuple(header), positions, layout)


class _Layout:
    """Records with the header's field count, their row numbers and first lines, and the
    records refused for their layout (field count, csv error, encoding)."""

    def __init__(self) -> None:
        self.records: list[list[str]] = []
        self.rows: list[int] = []
        self.lines: list[int] = []
        self.bad: dict[int, BadRow] = {}

    def refuse_undecodable(self, header: Sequence[str]) -> None:
        """Move the records holding undecodable bytes to ``bad``."""
        kept = []
        for index, record in enumerate(self.records):
            column = _undecodable(record, header)
            if column is None:
                kept.append(index)
            else:
                row = self.rows[index]
                self.bad[row] = BadRow(row, self.lines[index], column, "not valid UTF-8")
        if len(kept) < len(self.records):
            self.records = [self.records[i] for i in kept]
            self.rows = [self.rows[i] for i in kept]
            self.lines = [self.lines[i] for i in kept]


class _Refused(list[str]):
    """Stands in the record list for a record the csv module refused; holds the reason."""


def _read_records(reader: Reader, width: int) -> _Layout:
    """Split the records (the csv module's own loop); blank lines are not rows.

    A record's first line is counted from the lines before it: one each, unless some record
    spans several lines (a quoted line break), which only then costs a pass over the fields.
    """
    before = reader.line_num
    records: list[list[str]] = []
    while True:
        try:
            records.extend(reader)
        except csv.Error as exc:  # a field over csv.field_size_limit(), for one
            records.append(_Refused([f"unreadable CSV record: {exc}"]))
            continue
        break
    count = len(records)
    lengths = np.fromiter(map(len, records), np.int64, count)
    spans = np.ones(count, dtype=np.int64)
    if reader.line_num - before != count:
        spans = np.fromiter((1 + "".join(r).count("\n") for r in records), np.int64, count)
    lines = before + np.cumsum(spans) - spans + 1
    rows = np.cumsum(lengths > 0)
    layout = _Layout()
    good = lengths == width
    if good.all():
        layout.records = records
    else:
        keep = np.flatnonzero(good).tolist()
        layout.records = [records[i] for i in keep]
        for index in np.flatnonzero(~good & (lengths > 0)).tolist():
            record, row, line = records[index], int(rows[index]), int(lines[index])
            problem = (
                record[0]
                if isinstance(record, _Refused)
                else f"{len(record)} fields, expected {width}"
            )
            layout.bad[row] = BadRow(row, line, None, problem)
    layout.rows = rows[good].tolist()
    layout.lines = lines[good].tolist()
    return layout


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: millions of new lists would set it off over and
    over (parsing runs 4x slower); nothing here makes reference cycles."""
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
    wanted = (*REQUIRED_COLUMNS, TRUTH_COLUMN, OUTDOOR_COLUMN)
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
    """Epoch milliseconds and the local date ordinal (0 where refused); ``fromisoformat``
    mapped over the column, row by row only when some value is refused."""
    count = len(values)
    try:
        moments = list(map(dt.datetime.fromisoformat, values))
        if None in map(_tzinfo, moments):
            raise ValueError("naive")  # noqa: TRY301 - take the careful path below
        seconds = np.fromiter(map(dt.datetime.timestamp, moments), np.float64, count)
    except (ValueError, OverflowError):
        moments = [_time(index, text, report) for index, text in enumerate(values)]
        seconds = np.fromiter(map(dt.datetime.timestamp, moments), np.float64, count)
    days = np.fromiter(map(dt.datetime.toordinal, moments), np.int64, count)
    return np.round(seconds * 1000.0).astype(np.int64), days


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _tzinfo(moment: dt.datetime) -> dt.tzinfo | None:
    return moment.tzinfo


def _time(index: int, text: str, report: Callable[[int, str], None]) -> dt.datetime:
    """One time, or the epoch after reporting why not."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        report(index, f"{_show(text)} is not an RFC 3339 time (2024-03-01T08:15:00+08:00)")
        return _EPOCH
    if moment.tzinfo is None:
        report(index, f"{_show(text)} has no UTC offset (add Z or +08:00)")
        return _EPOCH
    try:
        moment.timestamp()
    except (OverflowError, ValueError):
        report(index, f"{_show(text)} is out of range")
        return _EPOCH
    return moment


def _typed(
    source: str, header: tuple[str, ...], positions: dict[str, int], layout: _Layout
) -> Readings:
    records = layout.records
    problems = _Problems(layout.rows, layout.lines)

    def reporter(name: str) -> Callable[[int, str], None]:
        position = positions[name]
        return lambda index, problem: problems.add(index, position, name, problem)

    def col(name: str) -> list[str]:
        return list(map(itemgetter(positions[name]), records))

    ts_ms, local_day = _times(col("ts"), reporter("ts"))
    device_id = col("device_id")
    if "" in set(device_id):
        report = reporter("device_id")
        for index in (i for i, value in enumerate(device_id) if not value):
            report(index, "is empty")
    device_kind, site, placement = col("device_kind"), col("site"), col("placement")
    _check_choice(device_kind, _KINDS, reporter("device_kind"), "handheld or kiosk")
    _check_choice(site, _SITES, reporter("site"), "forehead, wrist or canthus")
    _check_choice(placement, _PLACEMENTS, reporter("placement"), "door, lobby or room")
    errors = col("error")
    _check_choice(errors, _ERRORS, reporter("error"), "empty, LO, HI or ERR")
    has_error = np.fromiter(map(bool, errors), np.bool_, len(errors))
    temps = col("temp_c")
    if has_error.any():  # the display showed an error code: whatever is in temp_c is moot
        temps = [t if not e else "" for t, e in zip(temps, errors, strict=True)]
    temp_c = _numbers(temps, reporter("temp_c"), refuse_empty=~has_error)
    ambient_c = _numbers(col("ambient_c"), reporter("ambient_c"))
    outdoor_c = (
        _numbers(col(OUTDOOR_COLUMN), reporter(OUTDOOR_COLUMN))
        if OUTDOOR_COLUMN in positions
        else np.full(len(records), np.nan)
    )
    building = col("building")
    truth = None
    if TRUTH_COLUMN in positions:
        values = col(TRUTH_COLUMN)
        _check_choice(values, frozenset(_TRUTH), reporter(TRUTH_COLUMN), "0 or 1")
        truth = np.fromiter(map(_TRUTH.get, values, repeat(0)), np.int8, len(values))
    person_id = col("person_id")

    rows = np.asarray(layout.rows, dtype=np.int64)
    if problems.found:
        keep = np.setdiff1d(
            np.arange(len(records)), np.fromiter(problems.found, np.int64), assume_unique=True
        )
        picks = keep.tolist()
        records = [records[i] for i in picks]
        building, device_id, device_kind, site, placement, person_id = (
            [column[i] for i in picks]
            for column in (building, device_id, device_kind, site, placement, person_id)
        )
        rows, ts_ms, local_day = rows[keep], ts_ms[keep], local_day[keep]
        temp_c, ambient_c, has_error = temp_c[keep], ambient_c[keep], has_error[keep]
        outdoor_c = outdoor_c[keep]
        truth = None if truth is None else truth[keep]
    found = (row for _, row in problems.found.values())
    return Readings(
        source=source,
        header=header,
        records=records,
        row=rows,
        ts_ms=ts_ms,
        local_day=local_day,
        building=building,
        device_id=device_id,
        device_kind=device_kind,
        site=site,
        placement=placement,
        person_id=person_id,
        temp_c=temp_c,
        has_error=has_error,
        ambient_c=ambient_c,
        outdoor_c=outdoor_c,
        truth=truth,
        bad_rows=sorted([*layout.bad.values(), *found], key=lambda r: r.row),
    )
