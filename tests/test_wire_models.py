"""Wire contract v1: payload models, their codec, topics and pseudonymous ids.

Round-trips are property tests over everything the models accept; refusals are pinned to the
reason a dead letter carries, since that sentence is all an operator sees.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from thermogate.contract import (
    MAX_BATCH_READINGS,
    WIRE_VERSION,
    Alert,
    AlertKind,
    ComponentKind,
    ContractError,
    DeadLetter,
    DeviceKind,
    ErrorCode,
    Placement,
    Reading,
    ReadingBatch,
    Severity,
    Site,
    Status,
    StatusState,
    Weather,
    decode_readings,
    encode,
    utc_now,
)
from thermogate.contract.device_frames import (
    encode_frame,
    parse_frame,
)
from thermogate.contract.messages import (
    DEVICE_ID_PATTERN,
    PERSON_ID_PATTERN,
    SLUG_PATTERN,
    WireModel,
)
from thermogate.contract.pseudonym import pseudonymous_id
from thermogate.contract.topics import (
    ALERTS_FILTER,
    DEADLETTER_FILTER,
    READINGS_FILTER,
    ROOT,
    STATUS_FILTER,
    ReadingsTopic,
    alerts_topic,
    deadletter_topic,
    parse_readings_topic,
    readings_topic,
    status_topic,
)

WIRE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
T0 = dt.datetime(2024, 3, 1, 8, 0, 0, 123_000, tzinfo=dt.UTC)

# --- strategies ------------------------------------------------------------------------------

slugs = st.from_regex(SLUG_PATTERN.rstrip("$") + r"\Z", fullmatch=True)
device_ids = st.from_regex(DEVICE_ID_PATTERN.rstrip("$") + r"\Z", fullmatch=True)
person_ids = st.from_regex(PERSON_ID_PATTERN.rstrip("$") + r"\Z", fullmatch=True)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
wire_times = st.builds(
    lambda moment, tz: (
        moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        .replace(tzinfo=dt.UTC)
        .astimezone(tz)
    ),
    # Hypothesis takes naive bounds and draws naive times; the offset is added above.
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)),  # noqa: DTZ001
    offsets,
)
"""Aware times of any offset, at the millisecond precision of the wire."""


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    measured = draw(st.booleans())
    return Reading(
        device_id=draw(device_ids),
        seq=draw(st.integers(min_value=0, max_value=2**63 - 1)),
        ts=draw(wire_times),
        temp_c=draw(st.floats(min_value=20.0, max_value=45.0)) if measured else None,
        error=None if measured else draw(st.sampled_from(list(ErrorCode))),
        site=draw(st.sampled_from(list(Site))),
        device_kind=draw(st.sampled_from(list(DeviceKind))),
        placement=draw(st.sampled_from(list(Placement))),
        building=draw(slugs),
        entrance=draw(slugs),
        ambient_c=draw(st.none() | st.floats(min_value=-60.0, max_value=70.0)),
        person_id=draw(st.none() | person_ids),
        battery_pct=draw(st.none() | st.integers(min_value=0, max_value=100)),
        edge_id=draw(st.none() | slugs),
    )


def reading(**changes: Any) -> Reading:
    fields: dict[str, Any] = {
        "device_id": "hh-w2-north-1",
        "seq": 41,
        "ts": T0,
        "temp_c": 36.8,
        "site": Site.FOREHEAD,
        "device_kind": DeviceKind.HANDHELD,
        "placement": Placement.DOOR,
        "building": "wenyuan-2",
        "entrance": "north",
    }
    fields.update(changes)
    return Reading(**fields)


def document(**changes: Any) -> dict[str, Any]:
    """A valid reading as a JSON document, with some fields changed (None removes one)."""
    doc: dict[str, Any] = orjson.loads(encode(reading()))
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def refused(payload: bytes) -> str:
    with pytest.raises(ContractError) as info:
        decode_readings(payload)
    return info.value.reason


# --- round trips -----------------------------------------------------------------------------


@given(readings())
def test_a_reading_survives_encode_and_decode(original: Reading) -> None:
    wire = encode(original)
    assert decode_readings(wire) == [original]
    assert WIRE_TIME.fullmatch(orjson.loads(wire)["ts"])


@given(st.lists(readings(), min_size=1, max_size=20))
def test_a_batch_survives_encode_and_decode(batch: list[Reading]) -> None:
    assert decode_readings(encode(ReadingBatch(readings=batch))) == batch


@given(wire_times)
def test_times_are_sent_in_utc_with_milliseconds_and_z(moment: dt.datetime) -> None:
    sent = orjson.loads(encode(reading(ts=moment)))["ts"]
    assert WIRE_TIME.fullmatch(sent)
    assert dt.datetime.fromisoformat(sent) == moment


def test_the_exact_bytes_of_a_reading() -> None:
    east_eight = dt.timezone(dt.timedelta(hours=8))
    wire = encode(reading(ts=dt.datetime(2024, 3, 1, 16, 0, 0, 123_000, tzinfo=east_eight)))
    assert wire == (
        b'{"v":1,"device_id":"hh-w2-north-1","seq":41,"ts":"2024-03-01T08:00:00.123Z",'
        b'"temp_c":36.8,"site":"forehead","device_kind":"handheld","placement":"door",'
        b'"building":"wenyuan-2","entrance":"north"}'
    )


def test_sub_millisecond_digits_are_cut_not_rounded() -> None:
    wire = encode(reading(ts=T0.replace(microsecond=123_999)))
    assert orjson.loads(wire)["ts"] == "2024-03-01T08:00:00.123Z"


def test_utc_now_has_wire_precision() -> None:
    now = utc_now()
    assert now.tzinfo is dt.UTC
    assert now.microsecond % 1000 == 0


def test_other_payloads_round_trip_through_their_models() -> None:
    messages: list[WireModel] = [
        Status(
            component=ComponentKind.EDGE,
            id="edge-w2-north",
            state=StatusState.ONLINE,
            ts=T0,
            battery_pct=80,
        ),
        Alert(
            alert_id="fever:hh-w2-north-1:41",
            kind=AlertKind.FEVER,
            severity=Severity.CRITICAL,
            reading_id="hh-w2-north-1:41",
            device_id="hh-w2-north-1",
            building="wenyuan-2",
            entrance="north",
            person_id="p-3f2a9c1d0b7e6a55",
            temp_c=38.1,
            threshold_c=37.3,
            ts=T0,
            raised_at=T0 + dt.timedelta(seconds=1),
            message="38.1 °C at wenyuan-2/north",
        ),
        DeadLetter(
            source="gateway-1",
            reason="malformed JSON",
            topic="thermogate/v1/readings/wenyuan-2/north/hh-w2-north-1",
            payload_b64="e30=",
            payload_text="{}",
            received_at=T0,
        ),
    ]
    for message in messages:
        assert type(message).model_validate_json(encode(message)) == message
        assert orjson.loads(encode(message))["v"] == WIRE_VERSION


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{", "malformed JSON: unexpected end of data: line 1 column 2 (char 1)"),
        (b"", "malformed JSON: Input is a zero-length, empty document: line 1 column 1 (char 0)"),
        (b"[1, 2]", "payload must be a JSON object, got list"),
        (b'"reading"', "payload must be a JSON object, got str"),
        (b"null", "payload must be a JSON object, got NoneType"),
        (orjson.dumps(document(v=2)), "unsupported wire version 2 (this gateway speaks v1)"),
        (orjson.dumps(document(v="1")), "unsupported wire version '1' (this gateway speaks v1)"),
        (orjson.dumps(document(v=True)), "unsupported wire version True (this gateway speaks v1)"),
        (orjson.dumps(document(v=1.0)), "unsupported wire version 1.0 (this gateway speaks v1)"),
        (orjson.dumps(document(v=None)), "missing wire version field 'v' (this gateway speaks v1)"),
    ],
)
def test_payloads_that_are_not_v1_objects_are_refused(payload: bytes, reason: str) -> None:
    assert refused(payload) == reason


def test_invalid_utf8_is_refused_as_malformed() -> None:
    reason = refused(b'{"v":1,"device_id":"h\xff1"}')
    assert reason.startswith("malformed JSON: ")
    assert "not valid UTF-8" in reason


def test_non_finite_numbers_are_not_json() -> None:
    payload = orjson.dumps(document()).replace(b"36.8", b"NaN")
    assert refused(payload).startswith("malformed JSON: ")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"temp_c": None},
            "invalid reading: payload: Value error, exactly one of temp_c and error must be set",
        ),
        (
            {"error": "LO"},
            "invalid reading: payload: Value error, exactly one of temp_c and error must be set",
        ),
        (
            {"temp_c": 80},
            "invalid reading: temp_c: Input should be less than or equal to 45 (got 80)",
        ),
        (
            {"temp_c": 19.9},
            "invalid reading: temp_c: Input should be greater than or equal to 20 (got 19.9)",
        ),
        (
            {"temp_c": None, "error": "OVER"},
            "invalid reading: error: Input should be 'LO', 'HI' or 'ERR' (got 'OVER')",
        ),
        (
            {"temp_c": "36.8"},
            "invalid reading: temp_c: Input should be a valid number (got '36.8')",
        ),
        ({"seq": "41"}, "invalid reading: seq: Input should be a valid integer (got '41')"),
        ({"seq": 41.0}, "invalid reading: seq: Input should be a valid integer (got 41.0)"),
        ({"seq": True}, "invalid reading: seq: Input should be a valid integer (got True)"),
        (
            {"seq": -1},
            "invalid reading: seq: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            {"battery_pct": 101},
            "invalid reading: battery_pct: Input should be less than or equal to 100 (got 101)",
        ),
        (
            {"device_id": 12},
            "invalid reading: device_id: Input should be a valid string (got 12)",
        ),
        ({"device_id": None}, "invalid reading: device_id: Field required"),
        ({"ts": None}, "invalid reading: ts: Field required"),
        (
            {"site": "Forehead"},
            "invalid reading: site: Input should be 'forehead', 'wrist' or 'canthus' "
            "(got 'Forehead')",
        ),
        (
            {"name": "Li Wei"},
            "invalid reading: name: Extra inputs are not permitted (got 'Li Wei')",
        ),
        (
            {"card_id": "20240117"},
            "invalid reading: card_id: Extra inputs are not permitted (got '20240117')",
        ),
        (
            {"ts": "2024-03-01T08:00:00.123"},
            "invalid reading: ts: Input should be an RFC 3339 date-time with an offset, e.g. "
            "2024-03-01T08:00:00.000Z (got '2024-03-01T08:00:00.123')",
        ),
        (
            {"ts": 1709280000},
            "invalid reading: ts: Input should be an RFC 3339 date-time with an offset, e.g. "
            "2024-03-01T08:00:00.000Z (got 1709280000)",
        ),
        (
            {"ts": "1709280000"},
            "invalid reading: ts: Input should be an RFC 3339 date-time with an offset, e.g. "
            "2024-03-01T08:00:00.000Z (got '1709280000')",
        ),
        (
            {"ts": "2024-02-30T08:00:00Z"},
            "invalid reading: ts: Input is not a valid date-time: day is out of range for month "
            "(got '2024-02-30T08:00:00Z')",
        ),
    ],
)
def test_invalid_readings_are_refused_with_the_field_and_the_problem(
    changes: dict[str, Any], reason: str
) -> None:
    assert refused(orjson.dumps(document(**changes))) == reason


def test_several_problems_are_named_together() -> None:
    reason = refused(orjson.dumps(document(seq="x", site="neck", building="B", entrance="")))
    assert reason.startswith("invalid reading: seq: ")
    assert reason.endswith("; and 1 more")


def test_a_long_value_in_a_refusal_is_cut_to_40_characters() -> None:
    reason = refused(orjson.dumps(document(device_id="x" * 200)))
    assert reason.endswith("(got '" + "x" * 39 + ")")


def test_a_reading_with_an_offset_is_accepted_and_moved_to_utc() -> None:
    [decoded] = decode_readings(orjson.dumps(document(ts="2024-03-01T16:00:00.123+08:00")))
    assert decoded.ts == T0
    assert decoded.ts.utcoffset() == dt.timedelta(0)


def test_naive_times_are_refused_in_python_too() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        reading(ts=dt.datetime(2024, 3, 1, 8, 0))  # noqa: DTZ001 - the point of the test


def test_a_batch_of_the_maximum_size_is_accepted() -> None:
    batch = {"v": 1, "readings": [document(seq=n) for n in range(MAX_BATCH_READINGS)]}
    assert len(decode_readings(orjson.dumps(batch))) == MAX_BATCH_READINGS


def test_an_oversized_batch_is_refused() -> None:
    batch = {"v": 1, "readings": [document(seq=n) for n in range(MAX_BATCH_READINGS + 1)]}
    assert refused(orjson.dumps(batch)) == (
        f"invalid reading: readings: List should have at most {MAX_BATCH_READINGS} items "
        f"after validation, not {MAX_BATCH_READINGS + 1}"
    )


def test_an_empty_batch_is_refused() -> None:
    assert refused(b'{"v":1,"readings":[]}') == (
        "invalid reading: readings: List should have at least 1 item after validation, not 0"
    )


def test_one_bad_reading_refuses_the_batch_and_says_which() -> None:
    batch = {"v": 1, "readings": [document(seq=1), document(seq=2, temp_c=99.0)]}
    assert refused(orjson.dumps(batch)) == (
        "invalid reading: readings.1.temp_c: Input should be less than or equal to 45 (got 99.0)"
    )


def test_a_v2_reading_inside_a_v1_batch_is_refused() -> None:
    batch = {"v": 1, "readings": [document(v=2)]}
    assert (
        refused(orjson.dumps(batch)) == "invalid reading: readings.0.v: Input should be 1 (got 2)"
    )


# --- reading ids -----------------------------------------------------------------------------


def test_reading_id_is_device_and_sequence() -> None:
    assert reading().reading_id == "hh-w2-north-1:41"


@given(readings(), wire_times, st.floats(min_value=20.0, max_value=45.0))
def test_reading_id_is_stable_across_redelivery_and_other_fields(
    original: Reading, other_time: dt.datetime, other_temp: float
) -> None:
    [redelivered] = decode_readings(encode(original))
    assert redelivered.reading_id == original.reading_id == f"{original.device_id}:{original.seq}"
    changed = original.model_copy(update={"ts": other_time, "temp_c": other_temp, "error": None})
    assert changed.reading_id == original.reading_id


# --- topics ----------------------------------------------------------------------------------


def test_topic_layout() -> None:
    assert ROOT == "thermogate/v1"
    assert readings_topic("wenyuan-2", "north", "hh-w2-north-1") == (
        "thermogate/v1/readings/wenyuan-2/north/hh-w2-north-1"
    )
    assert status_topic(ComponentKind.DEVICE, "hh-w2-north-1") == (
        "thermogate/v1/status/device/hh-w2-north-1"
    )
    assert (
        status_topic(ComponentKind.GATEWAY, "gateway-1") == "thermogate/v1/status/gateway/gateway-1"
    )
    assert alerts_topic("wenyuan-3") == "thermogate/v1/alerts/wenyuan-3"
    assert deadletter_topic("edge-w2-north") == "thermogate/v1/deadletter/edge-w2-north"
    assert READINGS_FILTER == "thermogate/v1/readings/+/+/+"
    assert STATUS_FILTER == "thermogate/v1/status/#"
    assert ALERTS_FILTER == "thermogate/v1/alerts/+"
    assert DEADLETTER_FILTER == "thermogate/v1/deadletter/+"


@given(slugs, slugs, device_ids)
def test_readings_topics_parse_back(building: str, entrance: str, device_id: str) -> None:
    topic = readings_topic(building, entrance, device_id)
    assert parse_readings_topic(topic) == ReadingsTopic(building, entrance, device_id)


@pytest.mark.parametrize("level", ["+", "#", "a/b", "", "wenyuan+2", "north#", "a b", "Ämter"])
def test_topic_builders_refuse_unsafe_levels(level: str) -> None:
    builders: list[Callable[[], str]] = [
        lambda: readings_topic(level, "north", "hh-1"),
        lambda: readings_topic("wenyuan-2", level, "hh-1"),
        lambda: readings_topic("wenyuan-2", "north", level),
        lambda: status_topic(ComponentKind.EDGE, level),
        lambda: alerts_topic(level),
        lambda: deadletter_topic(level),
    ]
    for build in builders:
        with pytest.raises(ContractError, match="is not a valid topic level"):
            build()


def test_topic_refusal_names_the_part() -> None:
    with pytest.raises(ContractError) as info:
        readings_topic("wenyuan-2", "+", "hh-1")
    assert info.value.reason.startswith("entrance '+' is not a valid topic level")


def test_buildings_and_entrances_are_lower_case_but_device_ids_need_not_be() -> None:
    with pytest.raises(ContractError, match="building 'Wenyuan-2'"):
        readings_topic("Wenyuan-2", "north", "hh-1")
    assert readings_topic("wenyuan-2", "north", "HH.North-1").endswith("/HH.North-1")


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        (
            "thermogate/v2/readings/wenyuan-2/north/hh-1",
            "not a v1 readings topic: 'thermogate/v2/readings/wenyuan-2/north/hh-1'",
        ),
        (
            "thermogate/v1/status/device/hh-1",
            "not a v1 readings topic: 'thermogate/v1/status/device/hh-1'",
        ),
        (
            "thermogate/v1/readings/wenyuan-2/north",
            "readings topic must end in building/entrance/device: "
            "'thermogate/v1/readings/wenyuan-2/north'",
        ),
        (
            "thermogate/v1/readings/wenyuan-2/north/hh-1/extra",
            "readings topic must end in building/entrance/device: "
            "'thermogate/v1/readings/wenyuan-2/north/hh-1/extra'",
        ),
        (
            "thermogate/v1/readings/wenyuan-2//hh-1",
            f"entrance '' is not a valid topic level ({SLUG_PATTERN})",
        ),
        (
            "thermogate/v1/readings/+/north/hh-1",
            f"building '+' is not a valid topic level ({SLUG_PATTERN})",
        ),
        (
            "thermogate/v1/readings/wenyuan-2/north/#",
            f"device id '#' is not a valid topic level ({DEVICE_ID_PATTERN})",
        ),
    ],
)
def test_readings_topic_parser_refuses_anything_else(topic: str, reason: str) -> None:
    with pytest.raises(ContractError) as info:
        parse_readings_topic(topic)
    assert info.value.reason == reason


# --- pseudonymous ids ------------------------------------------------------------------------

cards = st.from_regex(r"[A-Za-z0-9]{8,20}", fullmatch=True)
keys = st.binary(min_size=1, max_size=64)


def test_pseudonym_of_a_known_card() -> None:
    assert pseudonymous_id("20240117", b"k") == pseudonymous_id("20240117", b"k")
    assert re.fullmatch(r"p-[0-9a-f]{16}", pseudonymous_id("20240117", b"k"))


@given(cards, keys)
def test_pseudonyms_are_deterministic_valid_ids_that_hide_the_card(card: str, key: bytes) -> None:
    person = pseudonymous_id(card, key)
    assert person == pseudonymous_id(card, key)
    assert re.fullmatch(r"p-[0-9a-f]{16}", person)
    assert re.fullmatch(PERSON_ID_PATTERN, person)
    assert card not in person
    assert card.lower() not in person
    assert reading(person_id=person).person_id == person


@given(cards, keys, keys)
def test_pseudonyms_depend_on_the_key(card: str, key: bytes, other_key: bytes) -> None:
    if key != other_key:
        assert pseudonymous_id(card, key) != pseudonymous_id(card, other_key)


@given(cards, cards)
def test_different_cards_give_different_pseudonyms(card: str, other: str) -> None:
    if card.upper() != other.upper():
        assert pseudonymous_id(card, b"key") != pseudonymous_id(other, b"key")


def test_card_ids_are_normalised_before_hashing() -> None:
    assert pseudonymous_id(" ab12cd34 \n", b"key") == pseudonymous_id("AB12CD34", b"key")


# --- docs/wire.md stays true -----------------------------------------------------------------

WIRE_DOC = Path(__file__).resolve().parents[1] / "docs" / "wire.md"


def test_every_json_example_in_the_wire_doc_is_exactly_what_encode_writes() -> None:
    examples = re.findall(r"```json\n(.*?)\n```", WIRE_DOC.read_text(encoding="utf-8"), re.S)
    assert len(examples) >= 10
    for example in examples:
        raw = example.encode("utf-8")
        document = orjson.loads(raw)
        if "readings" in document:  # decoded the way the gateway does, then re-encoded
            assert encode(ReadingBatch(readings=decode_readings(raw))) == raw
        elif "seq" in document:
            assert [encode(r) for r in decode_readings(raw)] == [raw]
        else:
            models = [m for m in (Status, Alert, DeadLetter, Weather) if _validates(m, raw)]
            assert len(models) == 1, example
            assert encode(models[0].model_validate_json(raw)) == raw


def _validates(model: type[WireModel], raw: bytes) -> bool:
    try:
        model.model_validate_json(raw)
    except ValidationError:
        return False
    return True


def test_every_serial_example_in_the_wire_doc_parses() -> None:
    lines = re.findall(r"^(\$\S+)\\r\\n", WIRE_DOC.read_text(encoding="utf-8"), re.M)
    assert len(lines) == 6
    for line in lines:
        assert encode_frame(parse_frame(line.encode("ascii"))) == line.encode("ascii") + b"\r\n"
