"""End to end, real at every hop: simulated devices → edge → Mosquitto → gateway → InfluxDB 1.x
and VictoriaMetrics, fever alerts to a local HTTP receiver, refusals on the dead-letter topic."""

from __future__ import annotations

import base64
import datetime as dt
import time
from pathlib import Path

import orjson
import pytest
from mqtt_probe import MqttProbe
from servers import ServerError

from thermogate.alerts import LocalInbox
from thermogate.config import Settings
from thermogate.contract import (
    DeviceKind,
    ErrorCode,
    Placement,
    Reading,
    Site,
    encode,
    utc_now,
)
from thermogate.contract.pseudonym import pseudonymous_id
from thermogate.contract.topics import readings_topic
from thermogate.demo.site import demo_document
from thermogate.edge.agent import EdgeAgent
from thermogate.firmware_sim.card_reader import CardReader
from thermogate.firmware_sim.handheld import Fault, HandheldThermometer
from thermogate.firmware_sim.kiosk import KioskMeasurement, KioskRunner
from thermogate.firmware_sim.pty_port import VirtualSerialPort
from thermogate.gateway.service import Gateway

THRESHOLD = 37.3
KEY = "e2e-pseudonym-key"

# What each building's door handheld shows, in order (None = error code below).
HANDHELD_VALUES: list[float | ErrorCode] = [
    36.4,
    36.8,
    37.3,
    36.1,
    ErrorCode.LO,
    38.4,
    36.9,
    35.2,
    37.2,
    ErrorCode.HI,
    36.6,
    39.1,
]
KIOSK_VALUES = [36.7, 37.6, 36.5, 36.9, 38.0, 36.3]
LINE_FAULTS = [
    Fault.BAD_CHECKSUM,
    Fault.GARBAGE,
    Fault.TRUNCATED,
    Fault.NON_ASCII,
    Fault.UNKNOWN_TYPE,
    Fault.OVERLONG,
]


def _is_fever(value: float | ErrorCode) -> bool:
    return isinstance(value, float) and value >= THRESHOLD


def _settings(tmp_path: Path, mosquitto, influxdb1, victoria_metrics, inbox) -> Settings:
    document = demo_document(tmp_path, tmp_path / "dev")
    document["mqtt"] = mosquitto.mqtt_settings().model_dump()
    document["edge"]["pseudonym_key"] = KEY
    document["gateway"] = {
        "threshold_c": THRESHOLD,
        "batch_wait_ms": 50,
        "state_dir": str(tmp_path / "gateway"),
    }
    document["ingest"] = {
        "sinks": [
            {"kind": "influxdb-v1", "url": influxdb1.url, "database": "screening"},
            {"kind": "influxdb-v2", "url": victoria_metrics.url, "org": "x", "bucket": "b"},
        ],
        "retry_initial_s": 0.2,
        "retry_max_s": 1.0,
    }
    document["alerts"] = {"push_urls": [inbox.apprise_url], "retry_initial_s": 0.1}
    return Settings.model_validate(document)


def _kiosk_reading(seq: int, ts: dt.datetime) -> Reading:
    return Reading(
        device_id="ks-w2-lobby-1",
        seq=seq,
        ts=ts,
        temp_c=36.6,
        site=Site.CANTHUS,
        device_kind=DeviceKind.KIOSK,
        placement=Placement.LOBBY,
        building="wenyuan-2",
        entrance="main",
    )


def _bad_payloads(settings: Settings) -> dict[str, tuple[str, bytes, str]]:
    """name -> (topic, payload, expected start of the reason)."""
    topic = readings_topic("wenyuan-2", "main", "ks-w2-lobby-1")
    good = _kiosk_reading(seq=999_000, ts=utc_now())
    document = orjson.loads(encode(good))
    unknown_topic = readings_topic("wenyuan-2", "main", "ks-rogue-9")
    return {
        "malformed JSON": (topic, b'{"v":1,"device_id":', "malformed JSON"),
        "wrong type": (topic, orjson.dumps(dict(document, seq="seven")), "invalid reading: seq"),
        "impossible temperature": (
            topic,
            orjson.dumps(dict(document, temp_c=80.0)),
            "invalid reading: temp_c",
        ),
        "both value and error": (
            topic,
            orjson.dumps(dict(document, error="HI")),
            "invalid reading:",
        ),
        "unknown device": (
            unknown_topic,
            orjson.dumps(dict(document, device_id="ks-rogue-9")),
            "unknown device",
        ),
        "non-UTF-8": (topic, b'{"v":1,"x":"\xff\xfe"}', "payload is not valid UTF-8"),
        "oversized": (topic, b" " * (settings.gateway.max_payload_bytes + 1), "payload of"),
        "future version": (topic, orjson.dumps(dict(document, v=2)), "unsupported wire version"),
        "topic mismatch": (
            readings_topic("wenyuan-3", "main", "ks-w2-lobby-1"),
            encode(good),
            "reading of",
        ),
        "not an object": (topic, b"[1,2,3]", "payload must be a JSON object"),
    }


@pytest.fixture
def inbox():
    with LocalInbox() as receiver:
        yield receiver


def test_every_valid_reading_stored_once_every_fever_alerted_every_bad_input_dead_lettered(
    tmp_path, mosquitto, influxdb1, victoria_metrics, inbox
):
    settings = _settings(tmp_path, mosquitto, influxdb1, victoria_metrics, inbox)
    probe = MqttProbe(settings.mqtt, "thermogate/v1/deadletter/+", "thermogate/v1/alerts/+")
    gateway = Gateway(settings)
    ports = {d.id: VirtualSerialPort(Path(d.port)) for d in settings.devices if d.port}
    edges = [EdgeAgent(settings, e.id) for e in settings.edges]
    kiosks = [
        KioskRunner.from_settings(settings, d.id, tmp_path / "kiosk")
        for d in settings.devices
        if d.kind == "kiosk"
    ]
    try:
        components: list[EdgeAgent | Gateway] = [*edges, gateway]
        for component in components:
            component.start()
            assert component.wait_connected(10)
        for kiosk in kiosks:
            assert kiosk.start(wait_connected_s=10)
        time.sleep(1.0)  # the edges open their ports

        sent = fevers = malformed = 0
        persons: set[str] = set()
        for short in ("w2", "w3"):
            handheld = HandheldThermometer(
                ports[f"hh-{short}-main-1"], device_id=f"hh-{short}-main-1"
            )
            reader = CardReader(ports[f"cr-{short}-main-1"])
            for index, value in enumerate(HANDHELD_VALUES):
                if index % 3 != 2:  # every third entrant forgets the card
                    card = f"{short.upper()}CARD{index:03d}"
                    reader.swipe(card)
                    persons.add(pseudonymous_id(card, KEY.encode()))
                    time.sleep(0.05)
                if isinstance(value, ErrorCode):
                    handheld.measure(None, value)
                else:
                    handheld.measure(value)
                sent += 1
                fevers += _is_fever(value)
                if index < len(LINE_FAULTS):
                    malformed += handheld.inject(LINE_FAULTS[index])
                time.sleep(0.05)
        for number, kiosk in enumerate(kiosks):
            for index, value in enumerate(KIOSK_VALUES):
                kiosk.submit(
                    KioskMeasurement(temp_c=value, card_id=f"K{number}{index:03d}", ambient_c=21.5)
                )
                sent += 1
                fevers += _is_fever(value)
        bad = _bad_payloads(settings)
        for topic, payload, _reason in bad.values():
            probe.publish(topic, payload)
        # Clocks gone wrong: kept and flagged, never refused.
        for index, shift in enumerate((dt.timedelta(hours=2), -dt.timedelta(days=3))):
            reading = _kiosk_reading(seq=990_000 + index, ts=utc_now() + shift)
            probe.publish(readings_topic("wenyuan-2", "main", reading.device_id), encode(reading))
            sent += 1

        def dead_letters() -> list[dict]:
            return [m.json() for m in probe.messages("thermogate/v1/deadletter/")]

        def influx_count() -> int:
            try:
                return influxdb1.count("screening", "screening", "seq")
            except ServerError:  # the database appears with the first write
                return 0

        def settled() -> bool:
            return (
                influx_count() >= sent
                and victoria_metrics.count_samples("screening_seq") >= sent
                and len(inbox.alerts()) >= fevers
                and len(dead_letters()) >= malformed + len(bad)
            )

        assert probe.wait_until(settled, 60), (
            f"influx {influx_count()}/{sent}, "
            f"vm {victoria_metrics.count_samples('screening_seq')}/{sent}, "
            f"alerts {len(inbox.alerts())}/{fevers}, dead {len(dead_letters())}"
        )
        time.sleep(1.5)  # anything extra would arrive now
        victoria_metrics.force_flush()

        # Stored exactly once, in both databases.
        assert influxdb1.count("screening", "screening", "seq") == sent
        assert victoria_metrics.count_samples("screening_seq") == sent
        rows = influxdb1.select_all("screening", "screening")
        ids = [row["reading_id"] for row in rows]
        assert len(set(ids)) == sent
        assert {row["person_id"] for row in rows if row.get("person_id")} == persons | {
            pseudonymous_id(f"K{k}{i:03d}", KEY.encode())
            for k in range(len(kiosks))
            for i in range(len(KIOSK_VALUES))
        }
        # Each reading at or above the threshold is a fever (very high) or waits for a re-check.
        assert sum(row["decision"] in ("fever", "recheck") for row in rows) == fevers
        assert sum(row["decision"] == "fever" for row in rows) == 2  # 39.1 °C: very high
        assert sum(row["decision"] == "invalid" for row in rows) == 4  # LO and HI, twice
        flags = {row["reading_id"]: row.get("clock") for row in rows if row.get("clock")}
        assert flags == {"ks-w2-lobby-1:990000": "ahead", "ks-w2-lobby-1:990001": "behind"}

        # Exactly one push per suspicious reading, each with its own idempotency key: a
        # re-check prompt for the identified, "unconfirmed" for the unidentified, a fever
        # alert for the very high one.
        alerts = inbox.alerts()
        assert len(alerts) == fevers
        assert len({a["alert_id"] for a in alerts}) == fevers
        assert all(a["temp_c"] >= THRESHOLD for a in alerts)
        assert probe.wait_until(lambda: len(probe.messages("thermogate/v1/alerts/")) >= fevers, 10)
        assert len(probe.messages("thermogate/v1/alerts/")) == fevers
        kinds = sorted(a["kind"] for a in alerts)
        assert kinds == sorted(["fever"] * 2 + ["fever_unconfirmed"] * 4 + ["recheck"] * 4)

        # Every bad input is on the dead-letter topic with its reason.
        letters = dead_letters()
        edge_letters = [d for d in letters if d["source"].startswith("edge-")]
        assert len(edge_letters) == malformed
        gateway_letters = [d for d in letters if d["source"] == settings.gateway.id]
        assert len(gateway_letters) == len(bad)
        for name, (_topic, payload, reason) in bad.items():
            matching = [
                d
                for d in gateway_letters
                if d["reason"].startswith(reason) and _payload(d) == payload[: 64 * 1024]
            ]
            assert len(matching) == 1, f"{name}: {[d['reason'] for d in gateway_letters]}"
        assert gateway.stats.stored == sent
    finally:
        for kiosk in kiosks:
            kiosk.stop()
        for edge in edges:
            edge.stop()
        gateway.stop()
        probe.close()
        for port in ports.values():
            port.close()


def _payload(letter: dict) -> bytes:
    return base64.b64decode(letter["payload_b64"])
