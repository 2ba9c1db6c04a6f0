"""InfluxDB line protocol for screening points: one encoder shared by every Influx writer.

One line per reading::

    screening,building=wenyuan-2,...,site=forehead seq=42i,temp_c=36.8,...,decision="pass" 1700…042

Rules (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/):

* measurement: ``,`` and space are escaped with a backslash;
* tag keys, tag values and field keys: ``,``, ``=`` and space are escaped;
* string field values are double-quoted, with ``"`` and ``\\`` escaped;
* floats are written positionally (never ``1e-07``) with the shortest digits that read back
  as the same double; integers carry the ``i`` suffix; timestamps are ns since the epoch.

Decisions where the spec leaves room or servers disagree:

* **Newlines.** Line protocol has no escape for a line break: a ``\\n`` or ``\\r`` anywhere (tag,
  key or string field) is replaced by a space. InfluxDB 1.x would accept a newline inside a
  quoted string, but VictoriaMetrics splits the line there and silently drops the point.
* **Backslashes in names and tag values.** A backslash is written as ``\\\\`` only where it
  would otherwise be read as an escape (before ``\\``, ``,``, ``=``, space, or at the end);
  elsewhere it is written as is. InfluxDB 2.x/3.x and VictoriaMetrics read every value back
  exactly; InfluxDB 1.x, which never unescapes ``\\\\`` in tags, reads back exactly unless a
  backslash stands in one of those places. (Contract tags are slugs and enums: defence in
  depth.)
* **Absent values.** Empty tag values are omitted (Influx refuses them); float fields that are
  NaN or infinite are omitted (Influx has no such values); string fields that are ``None``
  are omitted. ``seq`` is always present so that every line has a field.
* **Text.** Output is UTF-8; a lone surrogate (impossible in JSON-decoded text) becomes ``?``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from thermogate.ingest.points import FLOAT_FIELDS, STRING_FIELDS, TAG_COLUMNS, ScreeningPoints

SORTED_TAGS: Final = tuple(sorted(TAG_COLUMNS))
"""Tags in key order, as InfluxDB recommends (it sorts them anyway, at a cost)."""
CHUNK_ROWS: Final = 4096
"""Rows encoded at a time inside one call."""

_NEWLINES: Final = str.maketrans({"\n": " ", "\r": " "})
# A backslash that a reader would take as an escape: before \ , = space, or at the end.
_AMBIGUOUS_BACKSLASH: Final = re.compile(r"\\(?=[\\,= ]|$)")
_KEY_SPECIAL: Final = re.compile(r"[,= ]")
_MEASUREMENT_SPECIAL: Final = re.compile(r"[, ]")
_STRING_SPECIAL: Final = re.compile(r'["\\\n\r]')
_STRING_ESCAPES: Final = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": " ", "\r": " "})
# repr() of a finite double uses an exponent outside [1e-4, 1e16).
_REPR_MIN: Final = 1e-4
_REPR_MAX: Final = 1e16


def _escape_with(value: str, special: re.Pattern[str]) -> str:
    value = value.translate(_NEWLINES)
    if "\\" in value:
        value = _AMBIGUOUS_BACKSLASH.sub(r"\\\\", value)
    return special.sub(r"\\\g<0>", value)


def escape_measurement(name: str) -> str:
    """A measurement name as written in line protocol (``,`` and space escaped)."""
    return _escape_with(name, _MEASUREMENT_SPECIAL)


def escape_key(key: str) -> str:
    """A tag key, tag value or field key as written in line protocol (``,= `` escaped)."""
    return _escape_with(key, _KEY_SPECIAL)


def quote_string(value: str) -> str:
    """A string field value: double-quoted, ``"`` and ``\\`` escaped, newlines as spaces."""
    if _STRING_SPECIAL.search(value):
        value = value.translate(_STRING_ESCAPES)
    return f'"{value}"'


def format_float(value: float) -> str:
    """A finite float positionally, with the fewest digits that read back as ``value``."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = np.format_float_positional(value, unique=True, trim="0")
    return text


def _float_fragments(key: str, column: npt.NDArray[np.float64]) -> list[str]:
    """``,key=value`` for each finite value of a column, ``""`` where absent."""
    values = np.asarray(column, dtype=np.float64)
    prefix = f",{escape_key(key)}="
    # Readings repeat their values (a tenth of a degree, a battery percentage): each distinct
    # value is formatted once.
    finite = np.isfinite(values)
    if finite.all():
        listed = values.tolist()
    else:
        if not finite.any():
            return [""] * len(values)
        listed = np.where(finite, values, 0.0).tolist()  # NaN is never equal to itself
    texts: dict[float, str] = {}
    out = [texts.get(v) or texts.setdefault(v, prefix + repr(v)) for v in listed]
    if not finite.all():
        for index in np.flatnonzero(~finite).tolist():
            out[index] = ""
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        exponent = finite & (magnitude != 0) & ((magnitude < _REPR_MIN) | (magnitude >= _REPR_MAX))
    for index in np.flatnonzero(exponent).tolist():
        out[index] = prefix + format_float(values[index])
    return out


def _string_fragments(key: str, column: Sequence[str | None]) -> list[str]:
    """``,key="value"`` for each non-None value of a column, ``""`` where absent."""
    prefix = f',{escape_key(key)}="'
    present = [v for v in column if v is not None]
    if _STRING_SPECIAL.search("".join(present)) is None:  # the common case: nothing to escape
        return ["" if v is None else f'{prefix}{v}"' for v in column]
    return ["" if v is None else f"{prefix}{quote_string(v)[1:]}" for v in column]


def _tag_prefixes(
    head: str, columns: list[Sequence[str]], cache: dict[tuple[str, ...], str]
) -> list[str]:
    """``measurement,k=v,...`` followed by a space, for each row (built once per tag set)."""
    rows = list(zip(*columns, strict=True))
    for row in set(rows).difference(cache):
        tags = "".join(
            f",{key}={escape_key(str(value))}"
            for key, value in zip(_SORTED_TAG_KEYS, row, strict=True)
            if value
        )
        cache[row] = f"{head}{tags} "
    return list(map(cache.__getitem__, rows))


def encode_points(measurement: str, points: ScreeningPoints) -> bytes:
    """The batch as line protocol: one ``\\n``-terminated line per row, UTF-8."""
    n = len(points)
    _check_lengths(points, n)
    head = escape_measurement(measurement)
    cache: dict[tuple[str, ...], str] = {}
    # Chunks keep the number of live temporary strings bounded, so a huge batch does not
    # make the garbage collector rescan millions of objects.
    return b"".join(
        _encode_rows(head, points, start, min(start + CHUNK_ROWS, n), cache)
        for start in range(0, n, CHUNK_ROWS)
    )


def _encode_rows(
    head: str,
    points: ScreeningPoints,
    start: int,
    stop: int,
    cache: dict[tuple[str, ...], str],
) -> bytes:
    def column(name: str) -> Any:
        return getattr(points, name)[start:stop]

    seq = np.asarray(column("seq"), dtype=np.int64).tolist()
    ts = np.asarray(column("ts_ns"), dtype=np.int64).tolist()
    columns: list[Iterable[str]] = [
        _tag_prefixes(head, [column(name) for name in SORTED_TAGS], cache),
        [f"{_SEQ_KEY}={s}i" for s in seq],
    ]
    columns.extend(_float_fragments(name, column(name)) for name in FLOAT_FIELDS)
    columns.extend(_string_fragments(name, column(name)) for name in STRING_FIELDS)
    columns.append([f" {t}\n" for t in ts])
    text = "".join(chain.from_iterable(zip(*columns, strict=True)))
    return text.encode("utf-8", errors="replace")


def _check_lengths(points: ScreeningPoints, n: int) -> None:
    names = ("seq", *TAG_COLUMNS, *FLOAT_FIELDS, *STRING_FIELDS)
    lengths = {name: len(getattr(points, name)) for name in names}
    wrong = {name: length for name, length in lengths.items() if length != n}
    if wrong:
        raise ValueError(f"columns differ in length from ts_ns ({n}): {wrong}")


_SORTED_TAG_KEYS: Final = tuple(escape_key(name) for name in SORTED_TAGS)
_SEQ_KEY: Final = escape_key("seq")
