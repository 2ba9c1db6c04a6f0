"""The gateway's message checks: every good reading of a batch is kept with its receive time,
every bad message or reading is refused with its reason, whatever the mix in one batch."""

from __future__ import annotations

import orjson
import pytest

from thermogate.config import DeviceSettings, GatewaySettings
from thermogate.contract import decode_readings
from thermogate.gateway.intake import Envelope
from thermogate.gateway.validate import MessageValidator

TOPIC = "thermogate/v1/readings/wenyuan-2/main/hh-1"


def reading(seq: int, device: str = "hh-1", **changes: object) -> dict[str, object]:
    return {
        "v": 1,
        "device_id": device,
        "seq": seq,
        "ts": "2026-12-01T10:00:00.000Z",
        "temp_c": 36.5,
        "site": "forehead",
        "device_kind": "handheld",
        "placement": "door",
        "building": "wenyuan-2",
        "entrance": "main",
        **changes,
    }


def envelope(payload: bytes | dict[str, object], topic: str = TOPIC, at: int = 0) -> Envelope:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Envelope(topic, body, mid=at, qos=1, received_ns=1_000 + at, epoch=1)


@pytest.fixture
def validator() -> MessageValidator:
    registry = {
        "hh-1": DeviceSettings(id="hh-1", kind="handheld", building="wenyuan-2", entrance="main"),
        "cr-1": DeviceSettings(
            id="cr-1", kind="card-reader", building="wenyuan-2", entrance="main"
        ),
    }
    return MessageValidator(GatewaySettings(max_payload_bytes=4096), registry)


def test_good_messages_are_kept_together_with_their_receive_times(validator):
    checked = validator.check(
        [
            envelope(reading(1), at=1),
            envelope({"v": 1, "readings": [reading(2), reading(3)]}, at=2),
            envelope(reading(4, ts="2026-12-01T18:00:00.000+08:00"), at=3),
        ]
    )
    assert checked.refusals == []
    assert checked.table.reading_id == ["hh-1:1", "hh-1:2", "hh-1:3", "hh-1:4"]
    assert checked.received_ns.tolist() == [1001, 1002, 1002, 1003]
    assert checked.table.event_ms.tolist() == [checked.table.event_ms[0]] * 4


def test_every_kind_of_bad_input_is_refused_with_its_reason_and_the_rest_kept(validator):
    big = reading(9, device="hh-1", edge_id="e" * 40)
    off_topic = {"v": 1, "readings": [reading(20), reading(21, entrance="north"), reading(22)]}
    checked = validator.check(
        [
            envelope(reading(1), at=1),
            envelope(b"{not json", at=2),
            envelope(b'{"v":1,"x":"\xff"}', at=3),
            envelope(orjson.dumps({"v": 1, "readings": [big] * 20}), at=4),
            envelope(reading(5), topic="thermogate/v1/readings/wenyuan-2/main", at=5),
            envelope(reading(6, device="hh-2"), topic=TOPIC.replace("hh-1", "hh-2"), at=6),
            envelope(reading(7, building="wenyuan-3"), at=7),
            envelope(off_topic, at=8),
            envelope(reading(10, entrance="main\n"), at=9),
            envelope(reading(11, ts="2026-02-30T10:00:00.000Z"), at=10),
            envelope(reading(12, temp_c=None), at=11),
            envelope(reading(13, device="cr-1"), topic=TOPIC.replace("hh-1", "cr-1"), at=12),
            envelope(reading(14), at=13),
        ]
    )
    assert checked.table.reading_id == ["hh-1:1", "hh-1:14", "hh-1:20", "hh-1:22"]
    assert sorted(checked.received_ns.tolist()) == [1001, 1008, 1008, 1013]
    reasons = [r.reason for r in checked.refusals]
    assert len(reasons) == 11
    expected = [
        "malformed JSON",
        "not valid UTF-8",
        "exceeds the limit of 4096",
        "readings topic must end in building/entrance/device",
        "unknown device 'hh-2': not in the device registry",
        "reading of hh-1 at wenyuan-3/main does not match its topic",
        "reading of hh-1 at wenyuan-2/north does not match its topic",
        "invalid reading: entrance",
        "invalid reading: ts",
        "exactly one of temp_c and error must be set",
        "device 'cr-1' is a card-reader in the registry, not a thermometer",
    ]
    for fragment in expected:
        assert any(fragment in reason for reason in reasons), (fragment, reasons)
    # A refused reading of a batch is re-encoded alone; a single one keeps its bytes.
    north = next(r for r in checked.refusals if "north" in r.reason)
    assert [x.reading_id for x in decode_readings(north.payload)] == ["hh-1:21"]
    wrong_building = next(r for r in checked.refusals if "wenyuan-3" in r.reason)
    assert wrong_building.payload == orjson.dumps(reading(7, building="wenyuan-3"))


def test_unknown_devices_are_stored_when_the_gateway_accepts_them():
    validator = MessageValidator(GatewaySettings(accept_unknown_devices=True), {})
    checked = validator.check([envelope(reading(1, device="hh-9"), TOPIC.replace("hh-1", "hh-9"))])
    assert checked.refusals == [] and checked.table.device_id == ["hh-9"]
