"""The gateway and ``thermogate replay`` decide alike: the same readings, once through MQTT and
the live gateway, once from a CSV through replay, give the same decision for every reading."""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mqtt_probe import MqttProbe

from thermogate.config import Settings
from thermogate.contract import (
    DeviceKind,
    ErrorCode,
    Placement,
    Reading,
    ReadingBatch,
    Site,
    Weather,
    encode,
)
from thermogate.contract.topics import readings_topic, weather_topic
from thermogate.gateway.service import Gateway

ROOT = Path(__file__).resolve().parent.parent
START = dt.datetime(2026, 11, 30, 18, 0, tzinfo=dt.UTC)
DEVICES = {
    "hh-1": (DeviceKind.HANDHELD, Site.FOREHEAD, Placement.DOOR),
    "ks-1": (DeviceKind.KIOSK, Site.CANTHUS, Placement.LOBBY),
    "hh-3": (DeviceKind.HANDHELD, Site.FOREHEAD, Placement.DOOR),
}
BUILDING = {"hh-1": "wenyuan-2", "ks-1": "wenyuan-2", "hh-3": "wenyuan-3"}
COLD_BUILDING = "wenyuan-3"
"""Only this building has a weather feed (the other's door readings stay uncorrected)."""

# (minute, device, person, value or error): suspicious then confirmed, cleared, too soon,
# unidentified, very high, errors, a calibrated kiosk, a re-check after the window.
SCRIPT: list[tuple[float, str, str | None, float | ErrorCode]] = [
    (0, "hh-1", "p-aaaaaaaaaaaaaaa1", 37.6),
    (0.5, "hh-1", "p-aaaaaaaaaaaaaaa2", 37.5),
    (1, "hh-1", "p-aaaaaaaaaaaaaaa3", 37.4),
    (1.5, "hh-1", None, 37.7),
    (2, "hh-1", "p-aaaaaaaaaaaaaaa4", 39.0),
    (2.5, "hh-1", "p-aaaaaaaaaaaaaaa5", ErrorCode.LO),
    (3, "ks-1", "p-aaaaaaaaaaaaaaa6", 37.9),
    (3.5, "ks-1", "p-aaaaaaaaaaaaaaa7", 36.9),
    (4, "hh-1", "p-aaaaaaaaaaaaaaa3", 36.6),  # too soon to clear p3
    (5, "hh-1", "p-aaaaaaaaaaaaaaa8", 37.8),
    (12, "hh-1", "p-aaaaaaaaaaaaaaa1", 37.9),  # confirms p1
    (13, "hh-1", "p-aaaaaaaaaaaaaaa2", 36.7),  # clears p2
    (14, "ks-1", "p-aaaaaaaaaaaaaaa6", 38.3),  # confirms p6 at the kiosk
    (50, "hh-1", "p-aaaaaaaaaaaaaaa8", 37.5),  # after p8's window: a new re-check
    (51, "hh-1", "p-aaaaaaaaaaaaaaa9", 33.0),  # too cold to assess
    (52, "hh-3", "p-aaaaaaaaaaaaaaab", 33.0),  # assessable once the cold is added back
    (53, "hh-3", "p-aaaaaaaaaaaaaaac", 36.0),  # suspicious only with the cold added back
    (54, "hh-3", "p-aaaaaaaaaaaaaaad", 32.4),  # too cold to assess, even corrected
]
OUTDOOR_C = -10.0
"""The weather feed says -10 °C: door readings get 0.05 * (20 - -10) = 1.5 °C back."""


def _readings() -> list[Reading]:
    out = []
    for seq, (minute, device, person, value) in enumerate(SCRIPT, start=1):
        kind, site, placement = DEVICES[device]
        out.append(
            Reading(
                device_id=device,
                seq=seq,
                ts=START + dt.timedelta(minutes=minute),
                temp_c=None if isinstance(value, ErrorCode) else value,
                error=value if isinstance(value, ErrorCode) else None,
                site=site,
                device_kind=kind,
                placement=placement,
                building=BUILDING[device],
                entrance="main",
                person_id=person,
                ambient_c=22.0 if kind is DeviceKind.KIOSK else None,
            )
        )
    return out


def _csv(readings: list[Reading], path: Path) -> None:
    columns = [
        "ts",
        "building",
        "entrance",
        "device_id",
        "device_kind",
        "site",
        "placement",
        "person_id",
        "temp_c",
        "error",
        "ambient_c",
        "outdoor_c",
        "reading_id",
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for r in readings:
            writer.writerow(
                [
                    r.ts.isoformat(),
                    r.building,
                    r.entrance,
                    r.device_id,
                    r.device_kind.value,
                    r.site.value,
                    r.placement.value,
                    r.person_id or "",
                    "" if r.temp_c is None else r.temp_c,
                    "" if r.error is None else r.error.value,
                    "" if r.ambient_c is None else r.ambient_c,
                    OUTDOOR_C if r.building == COLD_BUILDING else "",
                    r.reading_id,
                ]
            )


@pytest.mark.timeout(60)
def test_gateway_and_replay_give_identical_decisions(tmp_path, mosquitto):
    readings = _readings()
    store = tmp_path / "screening.sqlite3"
    settings = Settings.model_validate(
        {
            "buildings": [
                {"id": "wenyuan-2", "name": "Wenyuan 2", "entrances": ["main"]},
                {"id": "wenyuan-3", "name": "Wenyuan 3", "entrances": ["main"]},
            ],
            "devices": [
                {
                    "id": d,
                    "kind": k.value,
                    "site": s,
                    "placement": p,
                    "building": BUILDING[d],
                    "entrance": "main",
                }
                for d, (k, s, p) in DEVICES.items()
            ],
            "mqtt": mosquitto.mqtt_settings().model_dump(),
            "gateway": {"state_dir": str(tmp_path / "gw"), "batch_wait_ms": 20},
            "ingest": {"sinks": [{"kind": "sqlite", "path": str(store)}]},
        }
    )
    gateway = Gateway(settings)
    gateway.start()
    probe = MqttProbe(settings.mqtt, "thermogate/v1/alerts/+")
    try:
        assert gateway.wait_connected(10)
        weather = Weather(building=COLD_BUILDING, outdoor_c=OUTDOOR_C, ts=START, source="test")
        probe.publish(weather_topic(COLD_BUILDING), encode(weather))
        deadline = time.monotonic() + 10
        start_ms = np.array([int(START.timestamp() * 1000)])
        while np.isnan(gateway.outdoor.outdoor_c([COLD_BUILDING], start_ms))[0]:
            assert time.monotonic() < deadline, "the gateway never took the weather message"
            time.sleep(0.05)
        # In time order, some one by one and some batched, as edges send them.
        for index in range(0, len(readings), 3):
            chunk = readings[index : index + 3]
            topic = readings_topic(chunk[0].building, "main", chunk[0].device_id)
            same_device = all(r.device_id == chunk[0].device_id for r in chunk)
            if same_device and len(chunk) > 1:
                probe.publish(topic, encode(ReadingBatch(readings=chunk)))
            else:
                for reading in chunk:
                    probe.publish(
                        readings_topic(reading.building, "main", reading.device_id),
                        encode(reading),
                    )
            time.sleep(0.1)
        deadline = time.monotonic() + 20
        while gateway.stats.stored < len(readings) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gateway.stats.stored == len(readings)
    finally:
        probe.close()
        gateway.stop()
    with sqlite3.connect(store) as db:
        live = dict(db.execute("SELECT reading_id, decision FROM readings").fetchall())

    _csv(readings, tmp_path / "in.csv")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "thermogate.cli",
            "replay",
            str(tmp_path / "in.csv"),
            "--out",
            str(tmp_path / "out.csv"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with (tmp_path / "out.csv").open(encoding="utf-8") as handle:
        replayed = {row["reading_id"]: row["decision"] for row in csv.DictReader(handle)}

    assert replayed == live
    assert sorted(live.values()) == sorted(
        ["recheck"] * 8 + ["fever"] * 3 + ["normal"] * 4 + ["invalid"] * 3
    )
