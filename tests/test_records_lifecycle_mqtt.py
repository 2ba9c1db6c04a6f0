"""``records.alert_lifecycle = "mqtt"``: an alert the gateway publishes becomes a lifecycle
alert and, about a person, opens that person's fever case (audited), once per alert id."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from records_rig import database_url, make_site, running_records

from thermogate.config import MqttSettings
from thermogate.contract.messages import Alert, AlertKind, Severity, encode
from thermogate.contract.topics import alerts_topic

pytestmark = [pytest.mark.timeout(120), pytest.mark.servers]

WAIT_S = 15.0


def publish(port: int, payload: bytes, *, retain: bool) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-gateway")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(alerts_topic("wenyuan-2"), payload, qos=1, retain=retain).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def test_an_alert_off_the_broker_opens_the_persons_case_once(mosquitto, tmp_path: Path) -> None:
    mqtt = MqttSettings(host="127.0.0.1", port=mosquitto.port)
    with (
        database_url("sqlite", tmp_path) as url,
        running_records(url, tmp_path, mqtt=mqtt, alert_lifecycle="mqtt") as rig,
        rig.client() as admin,
    ):
        make_site(admin)
        person = admin.get("/students/S001").json()["person_id"]
        now = dt.datetime.now(dt.UTC)
        payload = encode(
            Alert(
                alert_id="fever:hh-w2-main-1:7",
                kind=AlertKind.FEVER,
                severity=Severity.CRITICAL,
                building="wenyuan-2",
                entrance="main",
                device_id="hh-w2-main-1",
                reading_id="hh-w2-main-1:7",
                person_id=person,
                temp_c=38.7,
                threshold_c=37.3,
                ts=now,
                raised_at=now,
                message="fever 38.7 °C",
            )
        )
        # Retained, so it reaches the intake whether or not it has subscribed yet.
        publish(mosquitto.port, payload, retain=True)
        deadline = time.monotonic() + WAIT_S
        cases: list[dict] = []
        while not cases and time.monotonic() < deadline:
            cases = admin.get("/cases").json()
            time.sleep(0.1)
        assert [(c["person_id"], c["student_no"], c["status"]) for c in cases] == [
            (person, "S001", "open")
        ]
        alerts = admin.get("/alerts").json()
        assert [(a["kind"], a["person_id"]) for a in alerts] == [("fever", person)]

        publish(mosquitto.port, payload, retain=False)  # a redelivery changes nothing
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            entries = admin.get(f"/cases/{cases[0]['id']}").json()["follow_ups"]
            assert [e["alert_id"] for e in entries] == ["fever:hh-w2-main-1:7"]
            time.sleep(0.2)
        audit = admin.get("/audit", params={"username": "lifecycle-intake"}).json()
        assert [(a["action"], a["resource"]) for a in audit][-1] == ("create", "fever_case")
