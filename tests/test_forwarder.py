"""The edge's forwarder: a backlog replays oldest first at the configured rate, in batches of
one device, while a new reading goes out at once; rows leave the buffer only on PUBACK."""

from __future__ import annotations

import threading
import time

from mqtt_probe import MqttProbe

from thermogate.contract import DeviceKind, Placement, Reading, Site, utc_now
from thermogate.edge.buffer import ReadingBuffer
from thermogate.edge.forwarder import Forwarder
from thermogate.mqtt import MqttConnection


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


def test_backlog_is_rate_limited_and_live_readings_overtake_it(tmp_path, mosquitto):
    buffer = ReadingBuffer(tmp_path / "buffer.sqlite3", capacity=10_000)
    for _ in range(600):  # an outage's backlog
        buffer.append("hh-1", _reading)
    probe = MqttProbe(mosquitto.mqtt_settings(), "thermogate/v1/readings/#")
    stop = threading.Event()
    forwarder: Forwarder
    connection = MqttConnection(
        mosquitto.mqtt_settings(),
        client_id="edge-test",
        on_published=lambda mid, ok: forwarder.on_published(mid, ok),  # noqa: PLW0108 - bound late
    )
    forwarder = Forwarder(buffer, connection, replay_rate_per_s=200, replay_batch_max=50, stop=stop)
    connection.start()
    assert connection.wait_connected(10)
    forwarder.start()
    try:

        def seqs() -> list[int]:
            out: list[int] = []
            for message in probe.messages():
                document = message.json()
                out += [r["seq"] for r in document.get("readings", [document])]
            return out

        time.sleep(1.0)
        live = buffer.append("hh-1", _reading)  # someone is measured now
        assert live is not None
        forwarder.wake()
        assert probe.wait_until(lambda: live.seq in seqs(), 2)
        sent_by_then = len(seqs())
        assert sent_by_then < 600  # the backlog was still replaying
        assert probe.wait_until(lambda: len(seqs()) == 601, 10)
        backlog = [s for s in seqs() if s != live.seq]
        assert backlog == sorted(backlog) == list(range(1, 601))  # oldest first, all of it
        batches = [m.json() for m in probe.messages() if b'"readings"' in m.payload]
        assert batches and all(len(b["readings"]) <= 50 for b in batches)
        assert probe.wait_until(lambda: buffer.pending == 0, 5)  # retired on PUBACK
    finally:
        stop.set()
        forwarder.join(5)
        connection.stop()
        probe.close()
        buffer.close()


def test_replay_rate_is_honoured(tmp_path, mosquitto):
    buffer = ReadingBuffer(tmp_path / "buffer.sqlite3", capacity=10_000)
    for _ in range(400):
        buffer.append("hh-1", _reading)
    probe = MqttProbe(mosquitto.mqtt_settings(), "thermogate/v1/readings/#")
    stop = threading.Event()
    forwarder: Forwarder
    connection = MqttConnection(
        mosquitto.mqtt_settings(),
        client_id="edge-rate",
        on_published=lambda mid, ok: forwarder.on_published(mid, ok),  # noqa: PLW0108 - bound late
    )
    forwarder = Forwarder(buffer, connection, replay_rate_per_s=200, replay_batch_max=20, stop=stop)
    connection.start()
    assert connection.wait_connected(10)
    began = time.monotonic()
    forwarder.start()
    try:

        def count() -> int:
            return sum(len(m.json()["readings"]) for m in probe.messages())

        assert probe.wait_until(lambda: count() == 400, 10)
        took = time.monotonic() - began
        # 400 readings at 200/s: about 2 s (the first batch goes out at once).
        assert 1.5 <= took <= 4.0, took
    finally:
        stop.set()
        forwarder.join(5)
        connection.stop()
        probe.close()
        buffer.close()
