"""The ``thermogate`` command as a user runs it: a real process, its output and exit status."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def thermogate(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thermogate.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


def test_help_lists_the_subcommands():
    result = thermogate("--help")
    assert result.returncode == 0
    for command in ("demo", "sim", "edge", "gateway", "check-config", "records"):
        assert command in result.stdout


def test_check_config_accepts_the_example():
    result = thermogate("check-config", "thermogate.example.toml")
    assert result.returncode == 0, result.stderr
    assert "valid (2 buildings, 5 devices, 2 edges, 2 sinks" in result.stdout


def test_check_config_names_key_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[mqtt]\nport = 1883\n\n[[devices]]\nid = "hh-1"\nkind = "handheld"\n'
        'building = "b"\nentrance = "e"\ncolour = "red"\n',
        encoding="utf-8",
    )
    result = thermogate("check-config", str(bad))
    assert result.returncode == 2
    assert f"{bad}:9: devices.0.colour: Extra inputs are not permitted" in result.stderr


def test_check_config_environment_override_is_validated(tmp_path, monkeypatch):
    monkeypatch.setenv("THERMOGATE_GATEWAY__THRESHOLD_C", "hot")
    result = thermogate("check-config", "thermogate.example.toml")
    assert result.returncode == 2
    assert "gateway.threshold_c" in result.stderr


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_demo_runs_end_to_end_and_loses_nothing(broker, tmp_path):
    result = thermogate(
        "demo",
        "--duration",
        "10",
        "--no-view",
        "--broker",
        broker,
        "--rate",
        "3",
        "--fever-rate",
        "0.3",
        "--malformed-every",
        "5",
        "--workdir",
        str(tmp_path),
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout

    def number(pattern: str) -> list[int]:
        found = re.search(pattern, out)
        assert found, f"{pattern!r} not in the summary:\n{out}"
        return [int(group) for group in found.groups()]

    [sent] = number(r"readings sent\s+(\d+)")
    [stored] = number(r"readings stored\s+(\d+)")
    raised, delivered = number(r"alerts raised\s+(\d+)\s+\(delivered to the inbox (\d+)\)")
    [edge_dead] = number(r"edge (\d+) bad frames")
    assert sent > 20
    assert stored == sent
    assert raised > 0 and delivered == raised
    assert edge_dead > 0
    assert f"broker {broker}" in out
    assert (tmp_path / "inbox.jsonl").read_text(encoding="utf-8").count("\n") == delivered
