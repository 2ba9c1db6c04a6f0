"""The gateway's fast columnar decoder agrees with the contract's reference decoder: whatever it
accepts, the reference accepts with equal values; whatever the reference refuses, the gateway
refuses with the reference's reason."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thermogate.contract import ContractError, decode_readings
from thermogate.contract.columnar import (
    ReadingTable,
    concat,
    decode_columns,
    decode_columns_fast,
    event_times_ms,
)

VALID = {
    "v": 1,
    "device_id": "hh-w2-main-1",
    "seq": 17,
    "ts": "2026-12-01T18:00:00.250+08:00",
    "temp_c": 36.6,
    "site": "forehead",
    "device_kind": "handheld",
    "placement": "door",
    "building": "wenyuan-2",
    "entrance": "main",
    "person_id": "p-0123456789abcdef",
    "ambient_c": 21.5,
    "battery_pct": 80,
    "edge_id": "edge-w2-main",
}

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "",
            "x",
            "main\n",
            "MAIN",
            "wenyuan-2",
            "hh.1",
            "-x",
            "a" * 48,
            "a" * 49,
            "a" * 64,
            "a" * 65,
            "LO",
            "lo",
            "HI",
            "ERR",
            "kiosk",
            "lobby",
            "room",
            "canthus",
            "wrist",
            "36.6",
            "1",
            "2026-12-01T18:00:00Z",
            "2026-12-01T18:00:00z",
            "2026-12-01t18:00:00Z",
            "2026-12-01 18:00:00Z",
            "2026-12-01T18:00:00",
            "2026-12-01T18:00Z",
            "2026-12-01T18:00:00.1234567Z",
            "2026-12-01T18:00:00.123456789-05:30",
            "2026-12-01T18:00:00+24:00",
            "2026-12-01T18:00:00+23:59",
            "2026-12-01T18:00:00-00:60",
            "2026-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T23:59:60Z",
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59.9995Z",
            "9999-12-31T23:59:59.999+00:00",
            "p-ü",
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
FIELDS = [*VALID, "extra"]


@st.composite
def reading_documents(draw: st.DrawFn) -> dict[str, object]:
    """A valid reading with a few fields removed, replaced by odd values, or added."""
    document: dict[str, object] = dict(VALID)
    if draw(st.booleans()):
        document.pop("temp_c")
        document["error"] = draw(st.sampled_from(["LO", "HI", "ERR"]))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        field = draw(st.sampled_from(FIELDS))
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            document.pop(field, None)
        else:
            document[field] = draw(ODD_VALUES)
    return document


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return json.dumps(draw(reading_documents())).encode()
    readings = draw(st.lists(reading_documents(), min_size=0, max_size=4))
    batch: dict[str, object] = {
        "v": draw(st.sampled_from([1, 1, 1, 2, True, 1.0])),
        "readings": readings,
    }
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        batch["extra"] = 1
    return json.dumps(batch).encode()  # the standard library writes integers of any size


def reference(payload: bytes) -> ReadingTable | str:
    try:
        return ReadingTable.from_readings(decode_readings(payload))
    except ContractError as exc:
        return exc.reason


def assert_same(left: ReadingTable, right: ReadingTable) -> None:
    for name in (field.name for field in dataclasses.fields(ReadingTable)):
        a, b = getattr(left, name), getattr(right, name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert a == b, name


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads())
def test_fast_path_accepts_only_what_the_reference_accepts_with_equal_values(payload):
    expected = reference(payload)
    fast = decode_columns_fast(payload)
    if fast is not None:
        assert isinstance(expected, ReadingTable), f"fast accepted, reference refused: {expected}"
        assert_same(fast, expected)
    try:
        got: ReadingTable | str = decode_columns(payload)
    except ContractError as exc:
        got = exc.reason
    if isinstance(expected, str):
        assert got == expected
    else:
        assert isinstance(got, ReadingTable)
        assert_same(got, expected)


def test_the_common_payloads_take_the_fast_path():
    batch = {"v": 1, "readings": [VALID, {**VALID, "seq": 18, "ts": "2026-12-01T10:00:01Z"}]}
    table = decode_columns_fast(orjson.dumps(batch))
    assert table is not None and len(table) == 2
    assert table.reading_id == ["hh-w2-main-1:17", "hh-w2-main-1:18"]
    assert table.event_ms.tolist() == [
        int(dt.datetime(2026, 12, 1, 10, 0, 0, 250000, tzinfo=dt.UTC).timestamp() * 1000),
        int(dt.datetime(2026, 12, 1, 10, 0, 1, tzinfo=dt.UTC).timestamp() * 1000),
    ]
    errored = {k: v for k, v in VALID.items() if k != "temp_c"} | {"error": "LO"}
    single = decode_columns_fast(orjson.dumps(errored))
    assert single is not None and single.error == ["LO"] and math.isnan(single.temp_c[0])
    assert single.has_error.tolist() == [True]


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T08:00:00.0019+08:00", 1),
        ("1970-01-01T00:00:00.999999999Z", 999),
        ("1970-01-01T00:00:01-05:00", 18_001_000),
    ],
)
def test_event_times_are_truncated_to_the_millisecond_in_utc(text, ms):
    assert event_times_ms([text]) is not None
    assert event_times_ms([text]).tolist() == [ms]  # type: ignore[union-attr]


def test_a_row_round_trips_through_the_contract_model_and_tables_concatenate():
    table = decode_columns(orjson.dumps(VALID))
    reading = table.reading(0)
    assert reading.model_dump() == decode_readings(orjson.dumps(VALID))[0].model_dump()
    both = concat([table, table.take([0])])
    assert len(both) == 2 and both.device_id == ["hh-w2-main-1"] * 2
    assert len(ReadingTable.empty()) == 0
