"""The test servers themselves: they start on their own ports, restart with their data, and
their read-back helpers see what was written."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
import urllib3
from paho.mqtt.enums import CallbackAPIVersion
from servers import (
    InfluxDB1Server,
    MosquittoServer,
    ServerError,
    VictoriaMetricsServer,
)

pytestmark = [pytest.mark.servers, pytest.mark.timeout(90)]  # all start servers


def _connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _client(server: MosquittoServer, client_id: str, clean: bool) -> paho.Client:
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv311,
        clean_session=clean,
    )
    client.connect(server.host, server.port, keepalive=10)
    return client


def test_mosquitto_persists_queued_messages_across_restart(mosquitto: MosquittoServer) -> None:
    assert mosquitto.port != 1883
    settings = mosquitto.mqtt_settings()
    assert (settings.host, settings.port, settings.protocol) == (
        mosquitto.host,
        mosquitto.port,
        "5",
    )

    # A persistent subscriber registers, goes away; a message is queued for it.
    sub = _client(mosquitto, "persistent-sub", clean=False)
    sub.loop_start()
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.subscribe("t/#", qos=1)
    assert subscribed.wait(5)
    sub.disconnect()
    sub.loop_stop()

    pub = _client(mosquitto, "pub", clean=True)
    pub.loop_start()
    pub.publish("t/1", b"kept", qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()

    port = mosquitto.port
    mosquitto.restart()
    assert mosquitto.port == port

    got: list[bytes] = []
    arrived = threading.Event()
    sub = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="persistent-sub",
        protocol=paho.MQTTv311,
        clean_session=False,
    )

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        got.append(bytes(message.payload))
        arrived.set()

    sub.on_message = on_message
    sub.connect(mosquitto.host, mosquitto.port, keepalive=10)
    sub.loop_start()
    try:
        assert arrived.wait(10), "queued message lost across a clean broker restart"
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert got == [b"kept"]


def test_stop_and_kill_free_the_port(tmp_path: Path) -> None:
    server = MosquittoServer(tmp_path / "m").start()
    try:
        assert _connects(server.host, server.port)
        server.kill()
        assert not server.running
        assert not _connects(server.host, server.port)
        server.start()
        assert _connects(server.host, server.port)
        server.stop()
        assert not _connects(server.host, server.port)
    finally:
        server.stop()


def test_failed_start_reports_the_log(tmp_path: Path) -> None:
    server = MosquittoServer(tmp_path / "bad", extra_config=("no_such_option 1",))
    with pytest.raises(ServerError, match=r"no_such_option|Unknown configuration"):
        server.start(timeout_s=10)
    assert not server.running


def test_influxdb1_query_helpers_and_restart(influxdb1: InfluxDB1Server) -> None:
    influxdb1.create_database("probe")
    influxdb1.create_database("probe")  # idempotent
    assert "probe" in influxdb1.databases()
    status = influxdb1.write(
        "probe", b'm,host=a value=1.5 1000000000\nm,host=b value=2,s="x" 2000000000\n'
    )
    assert status == 204
    assert influxdb1.count("probe", "m", "value") == 2
    assert influxdb1.count("probe", "nothing", "value") == 0
    rows = influxdb1.select_all("probe", "m")
    assert [(r["time"], r["host"], r["s"]) for r in rows] == [
        (1_000_000_000, "a", None),
        (2_000_000_000, "b", "x"),
    ]
    influxdb1.restart()
    assert influxdb1.count("probe", "m", "value") == 2
    with pytest.raises(ServerError):
        influxdb1.query("SELEC nonsense", "probe")


def test_victoria_metrics_export_helpers_and_restart(
    victoria_metrics: VictoriaMetricsServer,
) -> None:
    now_ms = int(time.time() * 1000)
    lines = (
        f'm,host=a value=1.5,s="dropped" {now_ms * 1_000_000}\n'
        f"m,host=b value=2 {(now_ms + 1) * 1_000_000}\n"
        # same series and millisecond as the first line: deduplicated
        f"m,host=a value=1.5 {now_ms * 1_000_000}\n"
    ).encode()
    response = urllib3.request("POST", f"{victoria_metrics.url}/write", body=lines)
    assert response.status == 204
    assert victoria_metrics.wait_for_count("m_value", 2) == 2
    assert victoria_metrics.count_samples("m_value", host="a") == 1
    assert victoria_metrics.label_values("m_value", "host") == {"a", "b"}
    # a string field keeps no text: it is a sample of 0
    assert [v for _, _, v in victoria_metrics.samples("m_s")] == [0.0]
    victoria_metrics.restart()
    assert victoria_metrics.wait_for_count("m_value", 2, settle_s=0) == 2
