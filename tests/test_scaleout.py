"""Two gateway instances share the readings through an MQTT v5 shared subscription: both take
part, one is killed (SIGKILL) mid-run and restarted, nothing is lost or stored twice, and every
re-check opened on one instance is confirmed wherever its confirming reading lands."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import orjson
import pytest
from fault_rig import Process
from mqtt_probe import MqttProbe

from thermogate.contract.topics import readings_topic

GROUP = "campus"
DEVICES = [f"hh-scale-{i}" for i in range(8)]
PEOPLE = [f"p-scale{i:04d}" for i in range(24)]
"""People whose suspicious reading is confirmed twelve minutes later (event time)."""
NORMAL = 3000
START = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=20)
"""Recent enough that no re-check window (30 min) runs out by the wall clock during the test."""


def _config(tmp_path: Path, name: str, mqtt_port: int, influx_url: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f"""
[mqtt]
port = {mqtt_port}
protocol = "5"
[gateway]
id = "{name}"
shared_group = "{GROUP}"
state_dir = "{tmp_path / name}"
accept_unknown_devices = true
batch_wait_ms = 20
batch_max = 200
[[ingest.sinks]]
kind = "influxdb-v1"
url = "{influx_url}"
database = "screening"
[log]
level = "WARNING"
""",
        encoding="utf-8",
    )
    return path


def _reading(device: str, seq: int, at: dt.datetime, temp: float, person: str) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "device_id": device,
            "seq": seq,
            "ts": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "temp_c": temp,
            "site": "forehead",
            "device_kind": "handheld",
            "placement": "room",
            "building": "wenyuan-2",
            "entrance": "main",
            "person_id": person,
        }
    )


def _messages() -> list[tuple[str, bytes]]:
    """Suspicious readings first, then normal traffic with the confirmations spread through it."""
    seqs = dict.fromkeys(DEVICES, 0)
    out: list[tuple[str, bytes]] = []

    def add(index: int, at: dt.datetime, temp: float, person: str) -> None:
        device = DEVICES[index % len(DEVICES)]
        seqs[device] += 1
        out.append(
            (
                readings_topic("wenyuan-2", "main", device),
                _reading(device, seqs[device], at, temp, person),
            )
        )

    for i, person in enumerate(PEOPLE):
        add(i, START + dt.timedelta(seconds=i), 37.6, person)
    confirm_every = NORMAL // len(PEOPLE)
    for i in range(NORMAL):
        at = START + dt.timedelta(minutes=5, milliseconds=100 * i)
        add(i, at, 36.0 + (i % 9) / 10, f"p-normal{i % 400:04d}")
        if i % confirm_every == confirm_every - 1 and i // confirm_every < len(PEOPLE):
            k = i // confirm_every
            add(k + 1, START + dt.timedelta(seconds=k, minutes=12), 37.9, PEOPLE[k])
    return out


@pytest.mark.timeout(240)
def test_two_gateways_share_the_load_survive_a_kill_and_keep_one_protocol(
    tmp_path, mosquitto, influxdb1
):
    influxdb1.query("CREATE DATABASE screening")
    configs = {
        name: _config(tmp_path, name, mosquitto.port, influxdb1.url) for name in ("gw-a", "gw-b")
    }
    gateways = {
        name: Process(tmp_path / f"{name}.log", "gateway", "--config", str(config))
        for name, config in configs.items()
    }
    probe = MqttProbe(
        mosquitto.mqtt_settings(),
        f"thermogate/v1/engine/{GROUP}/+",
        "thermogate/v1/alerts/+",
        "thermogate/v1/status/gateway/+",
    )
    publisher = MqttProbe(mosquitto.mqtt_settings(), "thermogate/v1/nothing")
    try:
        for process in gateways.values():
            process.start()
        assert probe.wait_until(
            lambda: (
                {
                    orjson.loads(m.payload)["id"]
                    for m in probe.messages("thermogate/v1/status/gateway/")
                    if orjson.loads(m.payload)["state"] == "online"
                }
                >= {"gw-a", "gw-b"}
            ),
            20,
        )
        messages = _messages()
        killed = threading.Event()

        def kill_and_restart() -> None:
            time.sleep(1.0)
            gateways["gw-b"].kill()
            killed.set()
            time.sleep(2.0)
            gateways["gw-b"].start()

        chaos = threading.Thread(target=kill_and_restart)
        chaos.start()
        for topic, payload in messages:
            publisher.publish(topic, payload)
            time.sleep(0.0005)
        chaos.join()
        assert killed.is_set()

        expected = len(messages)

        def stored() -> int:
            return influxdb1.count("screening", "screening", "seq")

        deadline = time.monotonic() + 90
        while stored() < expected and time.monotonic() < deadline:
            time.sleep(0.5)
        assert stored() == expected, (
            f"stored {stored()} of {expected}\n{gateways['gw-a'].log_tail()}\n"
            f"{gateways['gw-b'].log_tail()}"
        )

        # Both instances took part: each published engine changes for the other.
        senders = {m.topic.rsplit("/", 1)[1] for m in probe.messages("thermogate/v1/engine/")}
        assert senders == {"gw-a", "gw-b"}

        # One protocol: every suspicious reading confirmed once, none left unconfirmed, and
        # some confirmations were made on the other instance than the one that opened them.
        def alerts(kind: str) -> set[str]:
            return {
                orjson.loads(m.payload)["person_id"]
                for m in probe.messages("thermogate/v1/alerts/")
                if orjson.loads(m.payload)["kind"] == kind
            }

        assert probe.wait_until(lambda: alerts("fever") >= set(PEOPLE), 60), (
            f"no fever for {sorted(set(PEOPLE) - alerts('fever'))}; unconfirmed "
            f"{sorted(alerts('fever_unconfirmed'))}\n{gateways['gw-a'].log_tail()}\n"
            f"{gateways['gw-b'].log_tail()}"
        )
        assert alerts("fever_unconfirmed") & set(PEOPLE) == set()
        opened_by: dict[str, str] = {}
        closed_by: dict[str, str] = {}
        for message in probe.messages("thermogate/v1/engine/"):
            sender = message.topic.rsplit("/", 1)[1]
            delta = orjson.loads(message.payload)
            for person in delta["opened"]:
                opened_by.setdefault(person, sender)
            for person in delta["closed"]:
                closed_by.setdefault(person, sender)
        crossed = [p for p in PEOPLE if opened_by.get(p) and opened_by[p] != closed_by.get(p)]
        assert crossed, f"no confirmation crossed instances: {opened_by} {closed_by}"
    finally:
        for process in gateways.values():
            process.stop()
        probe.close()
        publisher.close()
