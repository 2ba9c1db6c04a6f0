"""The gateway takes its device registry from the records service: a device registered there
(and nowhere in the gateway's file) has its readings stored; a gateway restarted while the
records service is down still knows it from the cache."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from mqtt_probe import MqttProbe
from pydantic import SecretStr
from records_rig import running_records

from thermogate.config import GatewaySettings, IngestSettings, RecordsSettings, Settings
from thermogate.gateway.service import Gateway

pytestmark = pytest.mark.timeout(120)

DEVICE = {
    "device_id": "hh-w3-side-1",
    "kind": "handheld",
    "site": "forehead",
    "placement": "door",
    "building": "wenyuan-3",
    "entrance": "side",
}
TOPIC = "thermogate/v1/readings/wenyuan-3/side/hh-w3-side-1"


def reading(seq: int) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "device_id": "hh-w3-side-1",
            "seq": seq,
            "ts": "2026-12-01T10:00:00.000Z",
            "temp_c": 36.4 + seq / 10,
            "site": "forehead",
            "device_kind": "handheld",
            "placement": "door",
            "building": "wenyuan-3",
            "entrance": "side",
        }
    )


def gateway_settings(tmp_path: Path, mosquitto, records_url: str) -> Settings:
    return Settings(
        mqtt=mosquitto.mqtt_settings(),
        gateway=GatewaySettings(state_dir=tmp_path / "gw", batch_wait_ms=20),
        ingest=IngestSettings.model_validate(
            {"sinks": [{"kind": "sqlite", "path": str(tmp_path / "screening.sqlite3")}]}
        ),
        records=RecordsSettings(
            url=records_url,
            client_username="gw",
            client_password=SecretStr("gw-password"),
            cache_dir=tmp_path / "records-cache",
        ),
    )


def stored_and_refused(settings: Settings, mosquitto, seq: int) -> tuple[int, list[str]]:
    gateway = Gateway(settings)
    probe = MqttProbe(mosquitto.mqtt_settings(), "thermogate/v1/deadletter/+")
    gateway.start()
    try:
        assert gateway.wait_connected(30)
        probe.publish(TOPIC, reading(seq))
        deadline = time.monotonic() + 45
        while not (gateway.stats.stored or probe.messages()) and time.monotonic() < deadline:
            time.sleep(0.05)
        reasons = [orjson.loads(m.payload)["reason"] for m in probe.messages()]
        return gateway.stats.stored, reasons
    finally:
        probe.close()
        gateway.stop()


def test_devices_come_from_the_records_service_and_its_cache(tmp_path, mosquitto):
    with running_records(f"sqlite:///{tmp_path / 'records.sqlite3'}", tmp_path) as rig:
        with rig.client() as admin:
            admin.post("/buildings", json={"slug": "wenyuan-3", "name": "Wenyuan Building 3"})
            admin.post("/entrances", json={"building": "wenyuan-3", "slug": "side"})
            admin.put(f"/devices/{DEVICE['device_id']}", json=DEVICE).raise_for_status()
        rig.add_user("gw", "gateway").close()
        settings = gateway_settings(tmp_path, mosquitto, rig.url)
        assert stored_and_refused(settings, mosquitto, 1) == (1, [])
    # The records service is gone: the restarted gateway answers from its cache.
    assert stored_and_refused(settings, mosquitto, 2) == (1, [])


def test_without_records_the_unknown_device_is_refused(tmp_path, mosquitto):
    settings = gateway_settings(tmp_path, mosquitto, "http://127.0.0.1:9")
    stored, reasons = stored_and_refused(settings, mosquitto, 1)
    assert stored == 0
    assert reasons == ["unknown device 'hh-w3-side-1': not in the device registry"]
