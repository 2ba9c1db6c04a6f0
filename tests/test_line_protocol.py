"""The line-protocol encoder, checked against a small reference parser written from the spec,
and the point timestamp scheme."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thermogate.ingest.line_protocol import (
    FLOAT_FIELDS,
    STRING_FIELDS,
    encode_points,
    escape_key,
    format_float,
    quote_string,
)
from thermogate.ingest.points import TAG_COLUMNS, ScreeningPoints, point_timestamp_ns

# --------------------------------------------------------------------------------------
# A reference parser of InfluxDB line protocol (the current spec: a backslash escapes the
# next character only where it is special; elsewhere it is literal).
# --------------------------------------------------------------------------------------


@dataclass
class Line:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, Any]
    timestamp: int


class ParseError(Exception):
    pass


ESCAPABLE = "\\,= "
"""Characters a backslash escapes in names and tag values; before others it is literal."""


def _read_name(text: str, pos: int, stops: str, forbidden: str) -> tuple[str, int]:
    """Read an unquoted token up to an unescaped stop; ``forbidden`` must be escaped."""
    out: list[str] = []
    while pos < len(text) and text[pos] not in stops:
        char = text[pos]
        if char == "\\" and pos + 1 < len(text) and text[pos + 1] in ESCAPABLE:
            out.append(text[pos + 1])
            pos += 2
            continue
        if char in forbidden:
            raise ParseError(f"unescaped {char!r} at {pos} in {text!r}")
        out.append(char)
        pos += 1
    return "".join(out), pos


def _read_string(text: str, pos: int) -> tuple[str, int]:
    if text[pos] != '"':
        raise ParseError(f"expected a quote at {pos}")
    pos += 1
    out: list[str] = []
    while True:
        if pos >= len(text):
            raise ParseError("unterminated string")
        char = text[pos]
        if char == "\\" and pos + 1 < len(text) and text[pos + 1] in '"\\':
            out.append(text[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1


def _field_value(token: str) -> Any:
    if token.endswith("i"):
        return int(token[:-1])
    if token in ("t", "T", "true", "True", "TRUE"):
        return True
    if token in ("f", "F", "false", "False", "FALSE"):
        return False
    if "e" in token.lower() or token.lower() in ("nan", "inf", "-inf", "+inf"):
        raise ParseError(f"float not written positionally: {token!r}")
    return float(token)


def parse_line(line: str) -> Line:
    """Parse one line (without its newline) strictly."""
    if "\n" in line or "\r" in line:
        raise ParseError("a line break inside a line")
    measurement, pos = _read_name(line, 0, ", ", "")
    if not measurement:
        raise ParseError("empty measurement")
    tags: dict[str, str] = {}
    while pos < len(line) and line[pos] == ",":
        key, pos = _read_name(line, pos + 1, "=", ", ")
        if pos >= len(line) or line[pos] != "=":
            raise ParseError(f"tag without '=': {line!r}")
        value, pos = _read_name(line, pos + 1, ", ", "=")
        if not key or not value:
            raise ParseError(f"empty tag key or value: {line!r}")
        if key in tags:
            raise ParseError(f"duplicate tag {key!r}")
        tags[key] = value
    if pos >= len(line) or line[pos] != " ":
        raise ParseError(f"expected a space before the fields: {line!r}")
    pos += 1
    fields: dict[str, Any] = {}
    while True:
        key, pos = _read_name(line, pos, "=", ", ")
        if pos >= len(line) or line[pos] != "=" or not key:
            raise ParseError(f"field without key or '=': {line!r}")
        pos += 1
        if pos < len(line) and line[pos] == '"':
            value, pos = _read_string(line, pos)
            fields[key] = value
        else:
            end = pos
            while end < len(line) and line[end] not in ", ":
                end += 1
            fields[key] = _field_value(line[pos:end])
            pos = end
        if pos < len(line) and line[pos] == ",":
            pos += 1
            continue
        break
    if pos >= len(line) or line[pos] != " ":
        raise ParseError(f"expected a space before the timestamp: {line!r}")
    timestamp = int(line[pos + 1 :])
    return Line(measurement, tags, fields, timestamp)


def parse(body: bytes) -> list[Line]:
    text = body.decode("utf-8")
    assert text == "" or text.endswith("\n")
    return [parse_line(line) for line in text.split("\n")[:-1]]


# --------------------------------------------------------------------------------------
# Building batches
# --------------------------------------------------------------------------------------


def make_points(rows: list[dict[str, Any]]) -> ScreeningPoints:
    def column(name: str, default: Any) -> list[Any]:
        return [row.get(name, default) for row in rows]

    return ScreeningPoints(
        ts_ns=np.array(column("ts_ns", 0), dtype=np.int64),
        building=column("building", "b1"),
        entrance=column("entrance", "north"),
        device_id=column("device_id", "K-01"),
        device_kind=column("device_kind", "kiosk"),
        site=column("site", "forehead"),
        placement=column("placement", "door"),
        seq=np.array(column("seq", 0), dtype=np.int64),
        temp_c=np.array(column("temp_c", math.nan), dtype=np.float64),
        adjusted_c=np.array(column("adjusted_c", math.nan), dtype=np.float64),
        ambient_c=np.array(column("ambient_c", math.nan), dtype=np.float64),
        battery_pct=np.array(column("battery_pct", math.nan), dtype=np.float64),
        lag_ms=np.array(column("lag_ms", math.nan), dtype=np.float64),
        error=column("error", None),
        decision=column("decision", "pass"),
        person_id=column("person_id", None),
        reading_id=column("reading_id", "r"),
        clock=column("clock", None),
    )


def expected_line(measurement: str, row: dict[str, Any]) -> Line:
    """What a reader must get back for one row, per the documented decisions."""
    points = make_points([row])

    def clean(text: str) -> str:
        return text.replace("\n", " ").replace("\r", " ")

    tags = {}
    for name in TAG_COLUMNS:
        tag = clean(getattr(points, name)[0])
        if tag:
            tags[name] = tag
    fields: dict[str, Any] = {"seq": int(points.seq[0])}
    for name in FLOAT_FIELDS:
        value = float(getattr(points, name)[0])
        if math.isfinite(value):
            fields[name] = value
    for name in STRING_FIELDS:
        text = getattr(points, name)[0]
        if text is not None:
            fields[name] = clean(text)
    return Line(clean(measurement), tags, fields, int(points.ts_ns[0]))


# --------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------


def test_one_point_exactly() -> None:
    points = make_points(
        [
            {
                "ts_ns": 1_700_000_000_000_000_042,
                "building": "wenyuan-2",
                "entrance": "north",
                "device_id": "K-01",
                "seq": 42,
                "temp_c": 36.8,
                "adjusted_c": 37.05,
                "lag_ms": 12.0,
                "decision": "pass",
                "person_id": "p-1",
                "reading_id": "K-01:42",
            }
        ]
    )
    assert encode_points("screening", points) == (
        b"screening,building=wenyuan-2,device_id=K-01,device_kind=kiosk,entrance=north,"
        b"placement=door,site=forehead "
        b'seq=42i,temp_c=36.8,adjusted_c=37.05,lag_ms=12.0,decision="pass",person_id="p-1",'
        b'reading_id="K-01:42" 1700000000000000042\n'
    )


def test_empty_batch_is_empty() -> None:
    assert encode_points("screening", make_points([])) == b""


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (36.8, "36.8"),
        (0.1, "0.1"),
        (1e-7, "0.0000001"),
        (123456789.123, "123456789.123"),
        (1e16, "10000000000000000.0"),
        (2.5e-5, "0.000025"),
        (-0.0, "-0.0"),
        (37.0, "37.0"),
    ],
)
def test_floats_are_positional_and_exact(value: float, text: str) -> None:
    assert format_float(value) == text
    assert float(text) == value


def test_absent_values_are_omitted() -> None:
    points = make_points(
        [{"temp_c": math.nan, "ambient_c": math.inf, "lag_ms": -math.inf, "building": ""}]
    )
    (line,) = parse(encode_points("screening", points))
    assert "building" not in line.tags
    assert set(line.fields) == {"seq", "decision", "reading_id"}


def test_escaping_examples() -> None:
    assert escape_key("a b,c=d") == r"a\ b\,c\=d"
    assert escape_key(r"C:\temp") == r"C:\temp"  # a literal backslash stays as it is
    assert escape_key("end\\") == "end\\\\"  # ...unless a reader would take it as an escape
    assert escape_key("x\\,y") == "x\\\\\\,y"
    assert escape_key("two\nlines\r") == r"two\ lines\ "
    assert quote_string('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert quote_string("a\nb") == '"a b"'


def test_chinese_text_passes_as_utf8() -> None:
    points = make_points([{"building": "文苑2号楼", "decision": "发热"}])
    body = encode_points("screening", points)
    assert "building=文苑2号楼".encode() in body
    assert 'decision="发热"'.encode() in body
    (line,) = parse(body)
    assert line.tags["building"] == "文苑2号楼"


def test_lone_surrogate_becomes_question_mark() -> None:
    (line,) = parse(encode_points("screening", make_points([{"decision": "a\ud800b"}])))
    assert line.fields["decision"] == "a?b"


def test_tags_are_sorted_by_key() -> None:
    (line,) = parse(encode_points("screening", make_points([{}])))
    assert list(line.tags) == sorted(TAG_COLUMNS)


def test_columns_of_different_length_are_refused() -> None:
    points = make_points([{}, {}])
    broken = ScreeningPoints(**{**_asdict(points), "building": ["only-one"]})
    with pytest.raises(ValueError, match="building"):
        encode_points("screening", broken)


def _asdict(points: ScreeningPoints) -> dict[str, Any]:
    return {name: getattr(points, name) for name in ScreeningPoints.__dataclass_fields__}


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

TRICKY = " ,=\"'\\\n\r\t文苑2号楼é=,"
text = st.text(
    alphabet=st.one_of(st.sampled_from(TRICKY), st.characters(exclude_categories=["Cs"])),
    max_size=12,
)
some_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [36.8, 0.1, 1e-7, 123456789.123, 37.3, 0.0, -0.0, 5e-324, 1.7976931348623157e308]
    ),
)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

rows = st.fixed_dictionaries(
    {
        "ts_ns": int64,
        "seq": int64,
        **dict.fromkeys(TAG_COLUMNS, text),
        **dict.fromkeys(FLOAT_FIELDS, some_floats),
        **{name: st.one_of(st.none(), text) for name in ("error", "person_id", "clock")},
        "decision": text,
        "reading_id": text,
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(rows, max_size=8))
def test_every_value_round_trips(batch: list[dict[str, Any]]) -> None:
    lines = parse(encode_points("screening", make_points(batch)))
    assert lines == [expected_line("screening", row) for row in batch]


@given(measurement=text.filter(lambda m: m.replace("\n", "").replace("\r", "") != ""))
def test_measurement_round_trips(measurement: str) -> None:
    (line,) = parse(encode_points(measurement, make_points([{}])))
    assert line.measurement == measurement.replace("\n", " ").replace("\r", " ")


@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_format_float_is_positional_and_lossless(value: float) -> None:
    written = format_float(value)
    assert "e" not in written.lower()
    assert float(written) == value
    assert math.copysign(1, float(written)) == math.copysign(1, value)


event_ms = st.integers(min_value=0, max_value=4_102_444_800_000)  # up to 2100
seqs = st.integers(min_value=0, max_value=2**62)


@given(ms=event_ms, seq=seqs)
def test_point_timestamp_keeps_the_millisecond_and_the_seq(ms: int, seq: int) -> None:
    (ts,) = point_timestamp_ns(np.array([ms], dtype=np.int64), np.array([seq], dtype=np.int64))
    assert int(ts) // 1_000_000 == ms
    assert int(ts) % 1_000_000 == seq % 1_000_000


@given(ms=event_ms, seq=seqs)
def test_a_redelivered_reading_has_the_same_timestamp(ms: int, seq: int) -> None:
    first = point_timestamp_ns(np.array([ms], dtype=np.int64), np.array([seq], dtype=np.int64))
    again = point_timestamp_ns(np.array([ms], dtype=np.int64), np.array([seq], dtype=np.int64))
    assert first.tolist() == again.tolist()


@given(ms=event_ms, seq=seqs, step=st.integers(min_value=1, max_value=999_999))
def test_readings_in_one_millisecond_are_distinct(ms: int, seq: int, step: int) -> None:
    ts = point_timestamp_ns(
        np.array([ms, ms], dtype=np.int64), np.array([seq, seq + step], dtype=np.int64)
    )
    assert ts[0] != ts[1]


@given(ms=event_ms, a=seqs, b=seqs, later=st.integers(min_value=1, max_value=10**9))
def test_later_milliseconds_sort_later_whatever_the_seq(
    ms: int, a: int, b: int, later: int
) -> None:
    ts = point_timestamp_ns(
        np.array([ms, ms + later], dtype=np.int64), np.array([a, b], dtype=np.int64)
    )
    assert ts[0] < ts[1]
