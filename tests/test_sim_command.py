"""``thermogate sim`` and ``thermogate edge`` as separate processes, as an operator runs them:
the simulator's ptys are opened by the edge through the configured port paths."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from mqtt_probe import MqttProbe

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, port: int) -> Path:
    dev = tmp_path / "dev"
    text = f"""
[[buildings]]
id = "wenyuan-3"
name = "Wenyuan Building 3"
entrances = ["main"]

[[devices]]
id = "hh-w3-main-1"
kind = "handheld"
building = "wenyuan-3"
entrance = "main"
port = "{dev / "hh-w3-main-1"}"

[[devices]]
id = "cr-w3-main-1"
kind = "card-reader"
building = "wenyuan-3"
entrance = "main"
port = "{dev / "cr-w3-main-1"}"

[[devices]]
id = "ks-w3-lobby-1"
kind = "kiosk"
building = "wenyuan-3"
entrance = "main"

[[edges]]
id = "edge-w3-main"
building = "wenyuan-3"
entrance = "main"
devices = ["hh-w3-main-1", "cr-w3-main-1"]

[mqtt]
port = {port}

[edge]
data_dir = "{tmp_path / "edge"}"
"""
    path = tmp_path / "thermogate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "thermogate.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sim_and_edge_processes_talk_over_ptys(tmp_path, mosquitto):
    config = _config(tmp_path, mosquitto.port)
    probe = MqttProbe(mosquitto.mqtt_settings(), "thermogate/v1/readings/#")
    sim = _start(
        "sim",
        "--config",
        str(config),
        "--building",
        "wenyuan-3",
        "--ports-dir",
        str(tmp_path / "dev"),
        "--rate",
        "4",
        "--duration",
        "30",
    )
    edge = _start("edge", "--config", str(config), "--id", "edge-w3-main")
    try:

        def devices() -> set[str]:
            return {m.json()["device_id"] for m in probe.messages()}

        assert probe.wait_until(lambda: {"hh-w3-main-1", "ks-w3-lobby-1"} <= devices(), 25), (
            f"saw {devices()}"
        )
        handheld = [m.json() for m in probe.messages() if m.json()["device_id"] == "hh-w3-main-1"]
        assert all(r["edge_id"] == "edge-w3-main" for r in handheld)
        assert [r["seq"] for r in handheld] == sorted(r["seq"] for r in handheld)
    finally:
        for process in (edge, sim):
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=15)[0] for process in (edge, sim)]
        probe.close()
    assert edge.returncode == 0, outputs[0]
    assert sim.returncode == 0, outputs[1]
    assert "simulation ended" in outputs[1]
