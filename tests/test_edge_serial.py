"""The edge reads virtual serial ports exactly like /dev/ttyUSB0 and publishes to a real broker."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import orjson
import pytest
from mqtt_probe import MqttProbe

from thermogate.config import Settings
from thermogate.contract import (
    DeviceKind,
    ErrorCode,
    Placement,
    Reading,
    Site,
    utc_now,
)
from thermogate.contract.device_frames import (
    CardSwipe,
    HandheldReading,
    encode_card,
    encode_reading,
)
from thermogate.contract.pseudonym import pseudonymous_id
from thermogate.edge.agent import EdgeAgent
from thermogate.edge.buffer import ReadingBuffer
from thermogate.edge.pairing import CardPairer
from thermogate.firmware_sim.pty_port import VirtualSerialPort

KEY = "edge-test-key"


def _settings(tmp_path: Path, mqtt, handheld: str, reader: str) -> Settings:
    return Settings.model_validate(
        {
            "buildings": [{"id": "wenyuan-2", "name": "Wenyuan Building 2", "entrances": ["main"]}],
            "devices": [
                {
                    "id": "hh-1",
                    "kind": "handheld",
                    "building": "wenyuan-2",
                    "entrance": "main",
                    "site": "forehead",
                    "placement": "door",
                    "port": handheld,
                },
                {
                    "id": "cr-1",
                    "kind": "card-reader",
                    "building": "wenyuan-2",
                    "entrance": "main",
                    "port": reader,
                },
            ],
            "edges": [
                {
                    "id": "edge-w2",
                    "building": "wenyuan-2",
                    "entrance": "main",
                    "devices": ["hh-1", "cr-1"],
                }
            ],
            "mqtt": mqtt.model_dump(),
            "edge": {
                "data_dir": str(tmp_path / "edge"),
                "pseudonym_key": KEY,
                "pairing_window_s": 3.0,
            },
        }
    )


def _frame(dseq: int, temp: float | None, error: ErrorCode | None = None) -> bytes:
    return encode_reading(HandheldReading(dseq, temp, error, Site.FOREHEAD, 88))


@pytest.fixture
def rig(tmp_path, mosquitto):
    handheld = VirtualSerialPort(tmp_path / "dev" / "ttyUSB0")
    reader = VirtualSerialPort(tmp_path / "dev" / "ttyUSB1")
    settings = _settings(tmp_path, mosquitto.mqtt_settings(), handheld.device, reader.device)
    probe = MqttProbe(settings.mqtt, "thermogate/v1/#")
    agent = EdgeAgent(settings, "edge-w2")
    agent.start()
    assert agent.wait_connected(10)
    # The device comes online once its port is open.
    assert probe.wait_until(
        lambda: any(m.topic.endswith("/device/hh-1") for m in probe.messages()), 10
    )
    yield handheld, reader, probe, agent
    agent.stop()
    probe.close()
    handheld.close()
    reader.close()


def _readings(probe: MqttProbe) -> list[dict]:
    return [m.json() for m in probe.messages("thermogate/v1/readings/")]


def _dead(probe: MqttProbe) -> list[dict]:
    return [m.json() for m in probe.messages("thermogate/v1/deadletter/")]


def test_split_garbage_and_bad_checksum(rig):
    handheld, _reader, probe, agent = rig
    good = _frame(1, 36.6)
    # One frame in three pieces, with pauses longer than the read timeout between them.
    for piece in (good[:5], good[5:13], good[13:]):
        handheld.write(piece)
        time.sleep(0.3)
    handheld.write(b"\x07\xffnoise")
    corrupt = bytearray(_frame(2, 36.9))
    corrupt[8:10] = b"7."  # 36.9 -> 37.9 without fixing the checksum
    handheld.write(bytes(corrupt))
    handheld.write(_frame(3, 37.8) + _frame(4, None, ErrorCode.LO))

    assert probe.wait_until(lambda: len(_readings(probe)) == 3 and len(_dead(probe)) == 2)
    readings = _readings(probe)
    assert [(r.get("temp_c"), r.get("error")) for r in readings] == [
        (36.6, None),
        (37.8, None),
        (None, "LO"),
    ]
    assert [r["seq"] for r in readings] == [1, 2, 3]
    assert all(r["device_id"] == "hh-1" and r["building"] == "wenyuan-2" for r in readings)
    assert all(r["placement"] == "door" and r["site"] == "forehead" for r in readings)
    assert all("person_id" not in r for r in readings)  # nobody swiped
    stamped = dt.datetime.fromisoformat(readings[0]["ts"])
    assert stamped.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - stamped).total_seconds()) < 30
    reasons = sorted(d["reason"] for d in _dead(probe))
    assert reasons[0].startswith("checksum mismatch: frame says")
    assert reasons[1] == "garbage bytes outside a frame"
    assert all(d["source"] == "edge-w2" and d["topic"] == "serial:hh-1" for d in _dead(probe))
    assert agent.stats.rejected["garbage bytes outside a frame"] == 1


def test_swipe_pairs_with_next_reading_only(rig):
    handheld, reader, probe, _agent = rig
    reader.write(encode_card(CardSwipe("A1B2C3D4")))
    time.sleep(0.3)
    handheld.write(_frame(10, 36.5))
    time.sleep(0.3)
    handheld.write(_frame(11, 36.7))  # the swipe was consumed: unidentified
    assert probe.wait_until(lambda: len(_readings(probe)) == 2)
    first, second = _readings(probe)
    assert first["person_id"] == pseudonymous_id("A1B2C3D4", KEY.encode())
    assert "A1B2C3D4" not in probe.messages("thermogate/v1/readings/")[0].payload.decode()
    assert "person_id" not in second


def test_stopped_status_is_retained(tmp_path, mosquitto):
    handheld = VirtualSerialPort(tmp_path / "dev" / "ttyUSB0")
    reader = VirtualSerialPort(tmp_path / "dev" / "ttyUSB1")
    settings = _settings(tmp_path, mosquitto.mqtt_settings(), handheld.device, reader.device)
    agent = EdgeAgent(settings, "edge-w2")
    agent.start()
    assert agent.wait_connected(10)
    agent.stop()
    probe = MqttProbe(settings.mqtt, "thermogate/v1/status/#")
    assert probe.wait_until(lambda: len(probe.messages()) >= 3, 5)
    states = {m.topic.rsplit("/", 2)[-1]: m.json()["state"] for m in probe.messages()}
    assert states == {"edge-w2": "stopped", "hh-1": "stopped", "cr-1": "stopped"}
    assert all(m.retain for m in probe.messages())
    probe.close()
    handheld.close()
    reader.close()


def test_pairing_window_and_replacement():
    pairer = CardPairer(window_s=5.0)
    pairer.swipe("CARD1", at=100.0)
    assert pairer.reading(at=106.0) is None  # too late
    pairer.swipe("CARD2", at=200.0)
    pairer.swipe("CARD3", at=201.0)  # the first walked on without a reading
    assert pairer.reading(at=202.0) == "CARD3"
    assert pairer.reading(at=202.5) is None
    assert pairer.stats.paired == 1
    assert pairer.stats.swipes_without_reading == 2
    assert pairer.stats.unidentified_readings == 2


def _reading(seq: int) -> Reading:
    return Reading(
        device_id="hh-1",
        seq=seq,
        ts=utc_now(),
        temp_c=36.5,
        site=Site.FOREHEAD,
        device_kind=DeviceKind.HANDHELD,
        placement=Placement.DOOR,
        building="wenyuan-2",
        entrance="main",
    )


def test_buffer_numbers_stores_and_survives_reopen(tmp_path):
    buffer = ReadingBuffer(tmp_path / "buffer.sqlite3", capacity=100)
    readings = [buffer.append("hh-1", _reading) for _ in range(3)]
    assert [r.seq for r in readings if r is not None] == [1, 2, 3]
    assert buffer.pending == 3
    rows = buffer.between(0, buffer.max_id(), 10)
    buffer.acknowledge([rows[0].id])
    buffer.close()
    reopened = ReadingBuffer(tmp_path / "buffer.sqlite3", capacity=100)
    assert reopened.pending == 2
    assert [orjson.loads(r.payload)["seq"] for r in reopened.between(0, 10**9, 10)] == [2, 3]
    fourth = reopened.append("hh-1", _reading)
    assert fourth is not None and fourth.seq == 4  # never reused
    reopened.close()


def test_buffer_recognises_a_device_resend(tmp_path):
    buffer = ReadingBuffer(tmp_path / "buffer.sqlite3", capacity=100)
    frame = _frame(7, 36.6)
    assert buffer.append("hh-1", _reading, frame=frame) is not None
    assert buffer.seen("hh-1", frame)
    assert buffer.append("hh-1", _reading, frame=frame) is None  # the same bytes again
    assert not buffer.seen("hh-2", frame)
    assert buffer.append("hh-1", _reading, frame=_frame(8, 36.6)) is not None
    assert buffer.pending == 2
    buffer.close()


def test_full_buffer_drops_the_oldest_and_counts(tmp_path):
    buffer = ReadingBuffer(tmp_path / "buffer.sqlite3", capacity=100)
    for _ in range(130):
        buffer.append("hh-1", _reading)
    assert buffer.pending == 100
    assert buffer.dropped == 30
    seqs = [orjson.loads(r.payload)["seq"] for r in buffer.between(0, 10**9, 1000)]
    assert seqs == list(range(31, 131))
    buffer.close()
