"""Liveness end to end: a handheld that stops sending heartbeats is reported offline to the
push channel by the real gateway, and back when it returns; a stopped edge takes its devices
offline at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from thermogate.alerts import LocalInbox
from thermogate.config import Settings
from thermogate.edge.agent import EdgeAgent
from thermogate.firmware_sim.handheld import HandheldThermometer
from thermogate.firmware_sim.pty_port import VirtualSerialPort
from thermogate.gateway.service import Gateway


def _settings(tmp_path: Path, mqtt, inbox: LocalInbox, hh: str, cr: str) -> Settings:
    common = {"building": "wenyuan-3", "entrance": "main"}
    return Settings.model_validate(
        {
            "buildings": [{"id": "wenyuan-3", "name": "Wenyuan Building 3", "entrances": ["main"]}],
            "devices": [
                {"id": "hh-1", "kind": "handheld", "port": hh, **common},
                {"id": "cr-1", "kind": "card-reader", "port": cr, **common},
            ],
            "edges": [{"id": "edge-w3", **common, "devices": ["hh-1", "cr-1"]}],
            "mqtt": mqtt.model_dump(),
            "edge": {"data_dir": str(tmp_path / "edge"), "status_interval_s": 0.5},
            "gateway": {
                "state_dir": str(tmp_path / "gateway"),
                "screening_hours": "00:00-24:00",
                "device_silence_s": 3,
            },
            "alerts": {"push_urls": [inbox.apprise_url], "retry_initial_s": 0.1},
        }
    )


class Heartbeats(threading.Thread):
    def __init__(self, handheld: HandheldThermometer) -> None:
        super().__init__(daemon=True)
        self.handheld = handheld
        self.beating = threading.Event()
        self.beating.set()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.3):
            if self.beating.is_set():
                self.handheld.heartbeat()


@pytest.mark.timeout(60)
def test_silent_handheld_goes_offline_and_comes_back(tmp_path, mosquitto):
    hh = VirtualSerialPort(tmp_path / "dev" / "hh-1")
    cr = VirtualSerialPort(tmp_path / "dev" / "cr-1")
    with LocalInbox() as inbox:
        settings = _settings(tmp_path, mosquitto.mqtt_settings(), inbox, hh.device, cr.device)
        gateway, edge = Gateway(settings), EdgeAgent(settings, "edge-w3")
        beats = Heartbeats(HandheldThermometer(hh, device_id="hh-1"))
        edge_running = False
        try:
            gateway.start()
            assert gateway.wait_connected(10)
            edge.start()
            edge_running = True
            beats.start()

            def kinds(device: str) -> list[str]:
                return [a["kind"] for a in inbox.alerts() if a.get("device_id") == device]

            assert not inbox.wait_for(1, 5)  # everything alive: no alert at all
            beats.beating.clear()  # the handheld's battery dies
            assert inbox.wait_for(1, 15)
            assert kinds("hh-1") == ["device_offline"]
            offline = inbox.alerts()[0]
            assert offline["severity"] == "warning"
            assert offline["building"] == "wenyuan-3" and offline["edge_id"] == "edge-w3"
            beats.beating.set()
            assert inbox.wait_for(2, 15)
            assert kinds("hh-1") == ["device_offline", "device_back"]
            assert kinds("cr-1") == []  # an open card reader port counts as alive

            edge.stop()  # the edge goes away cleanly: its devices are no longer watched
            edge_running = False
            assert inbox.wait_for(4, 15)
            assert sorted(kinds("cr-1")) == ["device_offline"]
            assert kinds("hh-1") == ["device_offline", "device_back", "device_offline"]
        finally:
            beats.stop.set()
            if edge_running:
                edge.stop()
            gateway.stop()
            hh.close()
            cr.close()
