"""An edge whose disk buffer fills: its figures become a metric in the time-series database
and, past 80 %, an alert to the duty staff, through the real gateway."""

from __future__ import annotations

import pytest
from mqtt_probe import MqttProbe
from servers import ServerError

from thermogate.alerts import LocalInbox
from thermogate.config import Settings
from thermogate.contract import ComponentKind, Status, StatusState, encode, utc_now
from thermogate.contract.topics import status_topic
from thermogate.gateway.service import Gateway


@pytest.mark.timeout(60)
def test_edge_backlog_is_a_metric_and_an_alert(tmp_path, mosquitto, influxdb1):
    with LocalInbox() as inbox:
        settings = Settings.model_validate(
            {
                "buildings": [{"id": "wenyuan-2", "name": "Wenyuan 2", "entrances": ["main"]}],
                "devices": [
                    {"id": "hh-1", "kind": "handheld", "building": "wenyuan-2", "entrance": "main"}
                ],
                "edges": [
                    {
                        "id": "edge-w2",
                        "building": "wenyuan-2",
                        "entrance": "main",
                        "devices": ["hh-1"],
                    }
                ],
                "mqtt": mosquitto.mqtt_settings().model_dump(),
                "gateway": {
                    "state_dir": str(tmp_path / "gw"),
                    "metrics_interval_s": 0.3,
                    "screening_hours": "00:00-24:00",
                    "device_silence_s": 3600,
                },
                "ingest": {"sinks": [{"kind": "influxdb-v1", "url": influxdb1.url}]},
                "alerts": {"push_urls": [inbox.apprise_url]},
            }
        )
        gateway = Gateway(settings)
        gateway.start()
        probe = MqttProbe(settings.mqtt, "thermogate/v1/alerts/+")
        try:
            assert gateway.wait_connected(10)
            for pending in (400, 850):
                status = Status(
                    component=ComponentKind.EDGE,
                    id="edge-w2",
                    state=StatusState.ONLINE,
                    ts=utc_now(),
                    buffer_pending=pending,
                    buffer_capacity=1000,
                    buffer_dropped=0,
                    clock_jumps=0,
                )
                probe.publish(status_topic(ComponentKind.EDGE, "edge-w2"), encode(status))
                probe.wait_until(lambda: False, 0.8)  # a metrics round in between

            def fills() -> list[float]:
                try:
                    rows = influxdb1.select_all("screening", "thermogate_edge")
                except ServerError:
                    return []
                return sorted(float(r["buffer_fill"]) for r in rows)

            assert probe.wait_until(lambda: fills() == [0.4, 0.85], 45), fills()
            assert inbox.wait_for(1, 45)
            [alert] = inbox.alerts()
            assert alert["kind"] == "edge_backlog"
            assert alert["edge_id"] == "edge-w2" and alert["building"] == "wenyuan-2"
            # MQTT and the push are separate workers: wait for the broker's copy too.
            assert probe.wait_until(lambda: len(probe.messages()) >= 1, 10)
            assert [m.json()["kind"] for m in probe.messages()] == ["edge_backlog"]
        finally:
            probe.close()
            gateway.stop()
