"""Readings payloads straight to columns: the gateway's fast path, same contract.

:func:`decode_readings` (pydantic) is the contract's reference decoder: exact, with errors a
person can act on, but it builds a model object per reading. A busy gateway decodes hundreds
of thousands of readings a second, so :func:`decode_columns` decodes a payload with msgspec
into structs that carry the same constraints (types strict as JSON has them, ranges, id
patterns, closed enums, unknown fields refused) and turns them into a :class:`ReadingTable`
of numpy and list columns, converting event times vectorised.

The fast path only ever *accepts*: whenever msgspec refuses a payload, or a value is unusual
enough that the vectorised conversion would not be exact (an offset other than ``Z`` or
``±hh:mm`` under 24 h, year 0000, an impossible date), the payload goes to the reference
decoder, which accepts it with the same values or refuses it with the canonical reason. So
a payload the fast path accepts is one the reference decoder accepts, with equal values
(tests/test_columnar.py checks this on generated payloads).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import msgspec
import numpy as np
import numpy.typing as npt

from thermogate.contract.messages import (
    BODY_MODE_MAX_C,
    BODY_MODE_MIN_C,
    DEVICE_ID_PATTERN,
    MAX_BATCH_READINGS,
    PERSON_ID_PATTERN,
    SLUG_PATTERN,
    DeviceKind,
    ErrorCode,
    Placement,
    Reading,
    Site,
    decode_readings,
)

_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS: Final = dt.timedelta(milliseconds=1)


class _AllMatch:
    """Checks a whole column against one of the contract's ``^...$`` patterns in one regex
    call: the values joined by newlines (which no pattern admits) must match line by line.
    Python's ``$`` also matches before a final newline and the contract's (Rust) regex does
    not, so the lines are anchored with ``\\Z`` and newlines."""

    def __init__(self, pattern: str) -> None:
        body = pattern.removeprefix("^").removesuffix("$")
        self._regex = re.compile(rf"(?:{body})(?:\n(?:{body}))*\Z")

    def __call__(self, values: Iterable[str]) -> bool:
        return self._regex.match("\n".join(values)) is not None


_SLUGS: Final = _AllMatch(SLUG_PATTERN)
_DEVICE_IDS: Final = _AllMatch(DEVICE_ID_PATTERN)
_PERSON_IDS: Final = _AllMatch(PERSON_ID_PATTERN)
_TIMESTAMPS: Final = _AllMatch(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"
)
_Temp = Annotated[float, msgspec.Meta(ge=BODY_MODE_MIN_C, le=BODY_MODE_MAX_C)]
_Ambient = Annotated[float, msgspec.Meta(ge=-60.0, le=70.0)]
_Battery = Annotated[int, msgspec.Meta(ge=0, le=100)]
_Seq = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
_SiteName = Literal["forehead", "wrist", "canthus"]
_KindName = Literal["handheld", "kiosk"]
_PlacementName = Literal["door", "lobby", "room"]
_ErrorName = Literal["LO", "HI", "ERR"]


class Row(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`~thermogate.contract.Reading`'s constraints, for msgspec."""

    v: Literal[1]  # required: the reference decoder refuses a payload without it
    device_id: str  # patterns: checked per column after decoding (:func:`rows_table`)
    seq: _Seq
    ts: str
    site: _SiteName
    device_kind: _KindName
    placement: _PlacementName
    building: str
    entrance: str
    temp_c: _Temp | None = None
    error: _ErrorName | None = None
    ambient_c: _Ambient | None = None
    person_id: str | None = None
    battery_pct: _Battery | None = None
    edge_id: str | None = None


class _Batch(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    v: Literal[1]
    readings: Annotated[list[Row], msgspec.Meta(min_length=1, max_length=MAX_BATCH_READINGS)]


_READING: Final = msgspec.json.Decoder(Row)
_BATCH: Final = msgspec.json.Decoder(_Batch)

assert {s.value for s in Site} == set(_SiteName.__args__)  # type: ignore[attr-defined]
assert {k.value for k in DeviceKind} == set(_KindName.__args__)  # type: ignore[attr-defined]
assert {p.value for p in Placement} == set(_PlacementName.__args__)  # type: ignore[attr-defined]
assert {e.value for e in ErrorCode} == set(_ErrorName.__args__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ReadingTable:
    """Valid readings as columns: numbers in numpy arrays (NaN = absent), text in lists."""

    device_id: list[str]
    seq: npt.NDArray[np.int64]
    event_ms: npt.NDArray[np.int64]
    """Event time in ms since the epoch (the wire's precision; finer digits are truncated)."""
    temp_c: npt.NDArray[np.float64]
    error: list[str | None]
    site: list[str]
    device_kind: list[str]
    placement: list[str]
    building: list[str]
    entrance: list[str]
    ambient_c: npt.NDArray[np.float64]
    person_id: list[str | None]
    battery_pct: npt.NDArray[np.float64]
    edge_id: list[str | None]

    def __len__(self) -> int:
        return int(self.seq.shape[0])

    @property
    def reading_id(self) -> list[str]:
        """``device_id:seq`` per row."""
        return [f"{d}:{s}" for d, s in zip(self.device_id, self.seq.tolist(), strict=True)]

    @property
    def has_error(self) -> npt.NDArray[np.bool_]:
        """Rows where the device showed an error code."""
        return np.fromiter((e is not None for e in self.error), np.bool_, len(self.error))

    def reading(self, row: int) -> Reading:
        """Row ``row`` as a contract model (for alerts and dead letters: a few rows, not all)."""
        temp, ambient, battery = (
            float(self.temp_c[row]),
            float(self.ambient_c[row]),
            float(self.battery_pct[row]),
        )
        error = self.error[row]
        return Reading.model_construct(
            device_id=self.device_id[row],
            seq=int(self.seq[row]),
            ts=_EPOCH + int(self.event_ms[row]) * _MS,
            temp_c=None if np.isnan(temp) else temp,
            error=None if error is None else ErrorCode(error),
            site=Site(self.site[row]),
            device_kind=DeviceKind(self.device_kind[row]),
            placement=Placement(self.placement[row]),
            building=self.building[row],
            entrance=self.entrance[row],
            ambient_c=None if np.isnan(ambient) else ambient,
            person_id=self.person_id[row],
            battery_pct=None if np.isnan(battery) else int(battery),
            edge_id=self.edge_id[row],
        )

    def take(self, rows: Sequence[int] | npt.NDArray[np.intp]) -> ReadingTable:
        """The given rows, in that order."""
        index = np.asarray(rows, dtype=np.intp)
        columns: dict[str, Any] = {}
        for name in _COLUMN_NAMES:
            column = getattr(self, name)
            picked = column[index] if isinstance(column, np.ndarray) else [column[i] for i in index]
            columns[name] = picked
        return ReadingTable(**columns)

    @classmethod
    def empty(cls) -> ReadingTable:
        """No rows."""
        return concat([])

    @classmethod
    def from_readings(cls, readings: Sequence[Reading]) -> ReadingTable:
        """Columns of contract models (the reference decoder's output)."""
        return cls(
            device_id=[r.device_id for r in readings],
            seq=np.fromiter((r.seq for r in readings), np.int64, len(readings)),
            event_ms=np.fromiter(
                ((r.ts - _EPOCH) // _MS for r in readings), np.int64, len(readings)
            ),
            temp_c=_floats([r.temp_c for r in readings]),
            error=[None if r.error is None else r.error.value for r in readings],
            site=[r.site.value for r in readings],
            device_kind=[r.device_kind.value for r in readings],
            placement=[r.placement.value for r in readings],
            building=[r.building for r in readings],
            entrance=[r.entrance for r in readings],
            ambient_c=_floats([r.ambient_c for r in readings]),
            person_id=[r.person_id for r in readings],
            battery_pct=_floats([r.battery_pct for r in readings]),
            edge_id=[r.edge_id for r in readings],
        )


def concat(tables: Sequence[ReadingTable]) -> ReadingTable:
    """One table of all rows, in order."""
    if len(tables) == 1:
        return tables[0]
    columns: dict[str, Any] = {}
    for name in _COLUMN_NAMES:
        parts = [getattr(table, name) for table in tables]
        if name in _ARRAY_COLUMNS:
            dtype = _ARRAY_COLUMNS[name]
            columns[name] = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
        else:
            columns[name] = [value for part in parts for value in part]
    return ReadingTable(**columns)


_COLUMN_NAMES: Final = tuple(field.name for field in dataclasses.fields(ReadingTable))
_ARRAY_COLUMNS: Final = {
    "seq": np.int64,
    "event_ms": np.int64,
    "temp_c": np.float64,
    "ambient_c": np.float64,
    "battery_pct": np.float64,
}


def decode_columns(payload: bytes) -> ReadingTable:
    """Decode a single or batched readings payload into columns.

    Raises :class:`~thermogate.contract.ContractError` with the reference decoder's reason
    when the payload is refused.
    """
    table = decode_columns_fast(payload)
    if table is None:  # refused, or something the fast path does not convert exactly
        return ReadingTable.from_readings(decode_readings(payload))
    return table


def decode_columns_fast(payload: bytes) -> ReadingTable | None:
    """The fast path alone: the columns, or None where the reference decoder must decide."""
    rows = decode_rows(payload)
    return None if rows is None else rows_table(rows)


def decode_rows(payload: bytes) -> list[Row] | None:
    """msgspec's structs of a payload (types, ranges, enums, unknown fields checked; the
    patterns, times and the value-or-error rule are checked by :func:`rows_table`), or None
    where the reference decoder must decide."""
    # A batch names its readings early ({"v":1,"readings":[...]}); try the likely shape first.
    first, second = (_BATCH, _READING) if b'"readings"' in payload[:64] else (_READING, _BATCH)
    for decoder in (first, second):
        try:
            decoded = decoder.decode(payload)
        except (msgspec.ValidationError, msgspec.DecodeError):
            continue
        return list(decoded.readings) if isinstance(decoded, _Batch) else [decoded]
    return None


def rows_table(rows: Sequence[Row]) -> ReadingTable | None:
    """The columns of decoded rows, or None when one of them is not exactly convertible."""
    n = len(rows)
    temp = [r.temp_c for r in rows]
    error = [r.error for r in rows]
    if any((t is None) == (e is None) for t, e in zip(temp, error, strict=True)):
        return None  # exactly one of temp_c and error: the reference decoder says which
    device_id, building, entrance = (
        [r.device_id for r in rows],
        [r.building for r in rows],
        [r.entrance for r in rows],
    )
    person_id, edge_id, ts = (
        [r.person_id for r in rows],
        [r.edge_id for r in rows],
        [r.ts for r in rows],
    )
    if not (
        _DEVICE_IDS(set(device_id))
        and _SLUGS({*building, *entrance, *(e for e in edge_id if e is not None)})
        and _PERSON_IDS({p for p in person_id if p is not None} or {"x"})
        and _TIMESTAMPS(ts)
    ):
        return None  # a value off its pattern: the reference decoder names it
    event_ms = event_times_ms(ts)
    if event_ms is None:
        return None
    return ReadingTable(
        device_id=device_id,
        seq=np.fromiter((r.seq for r in rows), np.int64, n),
        event_ms=event_ms,
        temp_c=_floats(temp),
        error=list(error),
        site=[r.site for r in rows],
        device_kind=[r.device_kind for r in rows],
        placement=[r.placement for r in rows],
        building=building,
        entrance=entrance,
        ambient_c=_floats([r.ambient_c for r in rows]),
        person_id=person_id,
        battery_pct=_floats([r.battery_pct for r in rows]),
        edge_id=edge_id,
    )


_OFFSET: Final = re.compile(r"([+-])(\d{2}):(\d{2})\Z")


def event_times_ms(texts: Sequence[str]) -> npt.NDArray[np.int64] | None:
    """RFC 3339 texts (already matched by the contract's pattern) to ms since the epoch,
    truncating digits finer than a millisecond; None when one is not exactly convertible."""
    n = len(texts)
    bases: list[str] = []
    offsets = np.zeros(n, dtype=np.int64)
    for index, text in enumerate(texts):
        if text.startswith("0000"):
            return None  # year 0 is not a date (numpy would take it)
        if text.endswith("Z"):
            local = text[:-1]
        else:
            match = _OFFSET.search(text)
            if match is None:
                return None
            sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3))
            if hours > 23 or minutes > 59:
                return None
            offsets[index] = (-1 if sign == "-" else 1) * (hours * 60 + minutes) * 60_000
            local = text[: match.start()]
        bases.append(local[:23])  # YYYY-MM-DDTHH:MM:SS.fff: milliseconds, finer digits cut
    try:
        parsed = np.array(bases, dtype="datetime64[ms]")
    except ValueError:
        return None  # an impossible date or time
    ms = parsed.astype(np.int64)
    if (ms < 0).any():  # before 1970: leave the rounding of finer digits to the reference
        return None
    return ms - offsets


def _floats(values: Sequence[float | int | None]) -> npt.NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
