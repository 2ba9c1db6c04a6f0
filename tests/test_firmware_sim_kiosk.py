"""The lobby kiosk against a real Mosquitto: readings, seq across restarts, status, will."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from thermogate.config import DeviceSettings, MqttSettings, Settings
from thermogate.contract.messages import (
    DeviceKind,
    ErrorCode,
    Placement,
    Site,
    Status,
    StatusState,
    decode_readings,
)
from thermogate.contract.pseudonym import pseudonymous_id
from thermogate.contract.topics import readings_topic
from thermogate.firmware_sim.kiosk import KioskDevice, KioskMeasurement, KioskRunner

KEY = b"kiosk-test-key"
DEVICE = KioskDevice("kiosk-w2-main", "wenyuan-2", "main")
STATUS_TOPIC = "thermogate/v1/status/device/kiosk-w2-main"
READINGS_TOPIC = readings_topic("wenyuan-2", "main", "kiosk-w2-main")


class Watcher:
    """A paho subscriber recording every message on some filters."""

    def __init__(
        self,
        settings: MqttSettings,
        *filters: str,
        client_id: str | None = None,
        persistent: bool = False,
    ) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"watch-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv311,
            clean_session=not persistent,
        )
        self.client.on_connect = lambda c, *_: c.subscribe([(f, 1) for f in filters])
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(settings.host, settings.port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_message(self, _client, _userdata, message: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(message)

    def on(self, topic: str) -> list[paho.MQTTMessage]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def statuses(self) -> list[Status]:
        return [Status.model_validate(orjson.loads(m.payload)) for m in self.on(STATUS_TOPIC)]

    def readings(self):
        return [r for m in self.on(READINGS_TOPIC) for r in decode_readings(bytes(m.payload))]

    def wait(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return condition()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_status(settings: MqttSettings) -> StatusState:
    """What a newcomer sees on the kiosk's status topic (it is retained)."""
    watcher = Watcher(settings, STATUS_TOPIC)
    try:
        assert watcher.wait(lambda: bool(watcher.on(STATUS_TOPIC)), 5), "no retained status"
        message = watcher.on(STATUS_TOPIC)[-1]
        assert message.retain
        return Status.model_validate(orjson.loads(message.payload)).state
    finally:
        watcher.close()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_kiosk_publishes_readings_and_a_retained_status(mosquitto, tmp_path, protocol):
    settings = mosquitto.mqtt_settings(protocol)
    watcher = Watcher(settings, READINGS_TOPIC, STATUS_TOPIC)
    kiosk = KioskRunner(settings, DEVICE, KEY, tmp_path / "kiosk.seq")
    try:
        assert kiosk.start(wait_connected_s=10)
        assert retained_status(settings) is StatusState.ONLINE
        sent = [
            kiosk.submit(KioskMeasurement(36.6, card_id="3FA2C9B1", ambient_c=21.5)),
            kiosk.submit(KioskMeasurement(38.4, card_id="0BADCAFE", ambient_c=21.5)),
            kiosk.submit(KioskMeasurement(error=ErrorCode.HI)),
        ]
        assert kiosk.wait_published(3, 10)
        assert watcher.wait(lambda: len(watcher.readings()) == 3)
    finally:
        kiosk.stop()
    readings = watcher.readings()
    assert readings == sent
    assert [r.seq for r in readings] == [0, 1, 2]
    assert [r.temp_c for r in readings] == [36.6, 38.4, None]
    assert readings[2].error is ErrorCode.HI
    assert readings[0].person_id == pseudonymous_id("3FA2C9B1", KEY)
    assert readings[2].person_id is None
    first = readings[0]
    assert (first.device_kind, first.site, first.placement) == (
        DeviceKind.KIOSK,
        Site.CANTHUS,
        Placement.LOBBY,
    )
    assert (first.building, first.entrance, first.ambient_c) == ("wenyuan-2", "main", 21.5)
    assert first.edge_id is None and first.battery_pct is None
    assert abs(time.time() - first.ts.timestamp()) < 30
    assert "3FA2C9B1" not in b"".join(m.payload for m in watcher.on(READINGS_TOPIC)).decode()
    assert all(m.qos == 1 for m in watcher.on(READINGS_TOPIC))
    # online first, stopped at the clean shutdown, and stopped is what newcomers see.
    assert watcher.wait(lambda: len(watcher.statuses()) >= 2)
    assert [s.state for s in watcher.statuses()] == [StatusState.ONLINE, StatusState.STOPPED]
    assert retained_status(settings) is StatusState.STOPPED
    watcher.close()


def test_seq_is_never_reused_across_restarts(mosquitto, tmp_path):
    settings = mosquitto.mqtt_settings()
    state = tmp_path / "state" / "kiosk-w2-main.seq"
    seqs = []
    for _ in range(2):
        kiosk = KioskRunner(settings, DEVICE, KEY, state)
        assert kiosk.start(wait_connected_s=10)
        seqs += [kiosk.submit(KioskMeasurement(36.5)).seq for _ in range(3)]
        assert kiosk.wait_published(3, 10)
        kiosk.stop()
    assert seqs == [0, 1, 2, 3, 4, 5]
    assert state.read_text().strip() == "6"


def test_readings_taken_while_the_broker_is_away_are_sent_after_it_returns(mosquitto, tmp_path):
    settings = mosquitto.mqtt_settings()
    watcher = Watcher(settings, READINGS_TOPIC, client_id="kiosk-test-watch", persistent=True)
    kiosk = KioskRunner(settings, DEVICE, KEY, tmp_path / "kiosk.seq")
    try:
        assert kiosk.start(wait_connected_s=10)
        kiosk.submit(KioskMeasurement(36.7))
        assert kiosk.wait_published(1, 10)
        mosquitto.stop()
        taken = [kiosk.submit(KioskMeasurement(37.0 + i / 10)) for i in range(3)]
        time.sleep(0.5)
        assert kiosk.published == 1 and kiosk.pending == 3
        mosquitto.start()
        assert kiosk.wait_published(4, 15)
        assert watcher.wait(lambda: len(watcher.readings()) >= 4, 15)
    finally:
        kiosk.stop()
        watcher.close()
    received = watcher.readings()
    assert [r.seq for r in received] == [0, 1, 2, 3]  # in order, none lost
    assert received[1:] == taken  # stamped when taken, not when sent


def test_an_unexpected_disconnect_leaves_offline_through_the_will(mosquitto, tmp_path):
    settings = mosquitto.mqtt_settings()
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from thermogate.config import MqttSettings\n"
        "from thermogate.firmware_sim.kiosk import KioskDevice, KioskRunner\n"
        f"settings = MqttSettings(host={settings.host!r}, port={settings.port})\n"
        f"runner = KioskRunner(settings, KioskDevice('kiosk-w2-main', 'wenyuan-2', 'main'),"
        f" b'k', Path({str(tmp_path / 'k.seq')!r}))\n"
        "assert runner.start(wait_connected_s=10)\n"
        "print('online', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "online"
        assert retained_status(settings) is StatusState.ONLINE
        child.kill()  # a crash: no clean disconnect, the broker publishes the will
        child.wait(5)
        deadline = time.monotonic() + 10
        while retained_status(settings) is not StatusState.OFFLINE:
            assert time.monotonic() < deadline, "the will was never published"
            time.sleep(0.2)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)


def test_kiosk_from_settings_defaults_to_canthus_in_the_lobby(tmp_path):
    settings = Settings(
        devices=[
            DeviceSettings(id="kiosk-w3-main", kind="kiosk", building="wenyuan-3", entrance="main"),
            DeviceSettings(
                id="kiosk-w3-side",
                kind="kiosk",
                building="wenyuan-3",
                entrance="side",
                site=Site.FOREHEAD,
                placement=Placement.DOOR,
            ),
            DeviceSettings(
                id="hh-w3-main-1", kind="handheld", building="wenyuan-3", entrance="main"
            ),
        ]
    )
    main = KioskRunner.from_settings(settings, "kiosk-w3-main", tmp_path)
    assert (main.device.site, main.device.placement) == (Site.CANTHUS, Placement.LOBBY)
    side = KioskRunner.from_settings(settings, "kiosk-w3-side", tmp_path)
    assert (side.device.site, side.device.placement) == (Site.FOREHEAD, Placement.DOOR)
    with pytest.raises(ValueError, match="not a kiosk"):
        KioskRunner.from_settings(settings, "hh-w3-main-1", tmp_path)


def test_a_corrupt_seq_state_is_refused_rather_than_restarting_at_zero(tmp_path):
    state = tmp_path / "kiosk.seq"
    state.write_text("garbage")
    with pytest.raises(ValueError, match="not a number"):
        KioskRunner(MqttSettings(), DEVICE, KEY, state)


def test_stop_without_a_broker_returns_promptly(tmp_path):
    settings = MqttSettings(host="127.0.0.1", port=9, connect_timeout_s=1)
    kiosk = KioskRunner(settings, DEVICE, KEY, tmp_path / "kiosk.seq")
    assert not kiosk.start(wait_connected_s=0.5)
    kiosk.submit(KioskMeasurement(36.5))
    started = time.monotonic()
    kiosk.stop(timeout=3)
    assert time.monotonic() - started < 4
    assert kiosk.pending == 1 and kiosk.published == 0
    assert Path(tmp_path / "kiosk.seq").read_text().strip() == "1"


def test_readings_taken_in_a_burst_get_distinct_increasing_times(tmp_path):
    kiosk = KioskRunner(MqttSettings(), DEVICE, KEY, tmp_path / "kiosk.seq")
    stamps = [kiosk.submit(KioskMeasurement(36.5)).ts for _ in range(50)]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert all(t.microsecond % 1000 == 0 for t in stamps)  # the wire's millisecond precision
