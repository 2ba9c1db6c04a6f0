"""The lifecycle worker on a real Mosquitto: alerts in over MQTT, acknowledged only after the
commit (a broker redelivers what a worker stopped before its commit), and the whole
lifecycle (intake, escalation ticker, sender) started as the records service starts it."""

from __future__ import annotations

import datetime as dt
import queue
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from lifecycle_kit import (
    FakeClock,
    MemoryRoster,
    contact,
    engine_for,
    make_alert,
    make_service,
)
from lifecycle_receiver import Receiver
from paho.mqtt.enums import CallbackAPIVersion
from servers import MosquittoServer
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from thermogate.alerts.lifecycle.policy import Actor
from thermogate.alerts.lifecycle.runner import start_lifecycle
from thermogate.alerts.lifecycle.service import Ingested, Outcome
from thermogate.alerts.lifecycle.worker import LifecycleWorker
from thermogate.config import MqttSettings, Settings
from thermogate.contract.messages import Alert, encode
from thermogate.contract.topics import alerts_topic

WAIT_S = 20.0


def publish(broker: MosquittoServer, *alerts: Alert) -> None:
    """Publish at QoS 1 and wait for each PUBACK (as the gateway's dispatcher does)."""
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="test-pub")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        for alert in alerts:
            client.publish(alerts_topic(alert.building), encode(alert), qos=1).wait_for_publish(
                WAIT_S
            )
    finally:
        client.disconnect()
        client.loop_stop()


def mqtt_of(broker: MosquittoServer) -> MqttSettings:
    return MqttSettings(host="127.0.0.1", port=broker.port)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "lifecycle.sqlite3"


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    engine = engine_for(f"sqlite:///{db_path}")
    yield engine
    engine.dispose()


def quick_locking_engine(db_path: Path) -> Engine:
    """The same file, but a locked database fails in 0.1 s instead of waiting 5 s."""
    engine = create_engine(f"sqlite:///{db_path}", connect_args={"timeout": 0.1})

    @event.listens_for(engine, "connect")
    def _autocommit_off(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: object) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]

    return engine


def start_worker(service, broker: MosquittoServer, seen: queue.Queue[str]) -> LifecycleWorker:
    def observe(alert: Alert, result: Ingested) -> None:
        seen.put(f"{alert.alert_id} {result.outcome.value}")

    worker = LifecycleWorker(
        service, mqtt_of(broker), client_id="lifecycle-test", on_ingested=observe
    )
    worker.start()
    assert worker.connection.wait_connected(WAIT_S)
    return worker


def test_an_alert_is_acknowledged_only_after_its_commit(mosquitto, engine, db_path):
    clock = FakeClock()
    seen: queue.Queue[str] = queue.Queue()
    # Subscribe once so the broker keeps a session for the worker's client id.
    start_worker(make_service(engine, MemoryRoster(), clock), mosquitto, seen).stop()

    # The database is locked by another writer: the worker cannot commit the alert.
    locking = quick_locking_engine(db_path)
    blocked = sqlite3.connect(db_path)
    blocked.execute("BEGIN EXCLUSIVE")
    worker = start_worker(make_service(locking, MemoryRoster(), clock), mosquitto, seen)
    first = make_alert(seq=1)
    publish(mosquitto, first)
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=WAIT_S)
    while worker.counts.failed_attempts < 2 and dt.datetime.now(dt.UTC) < deadline:
        seen_nothing = seen.empty()
        assert seen_nothing
        worker.connection.connected.wait(0.05)
    assert worker.counts.failed_attempts >= 2
    worker.stop()  # gone before any commit: nothing was acknowledged
    blocked.rollback()
    blocked.close()
    locking.dispose()

    # A new worker on the same session gets the alert again and commits it.
    service = make_service(engine, MemoryRoster(), clock)
    worker = start_worker(service, mosquitto, seen)
    assert seen.get(timeout=WAIT_S) == f"{first.alert_id} opened"
    worker.stop()

    # Acknowledged after that commit: the next worker gets only what is new.
    worker = start_worker(service, mosquitto, seen)
    second = make_alert(seq=2, person="p-other")
    publish(mosquitto, second)
    assert seen.get(timeout=WAIT_S) == f"{second.alert_id} opened"
    worker.stop()
    assert [a.first_source_id for a in service.alerts()] == [second.alert_id, first.alert_id]


def test_a_redelivered_alert_is_acknowledged_without_a_second_alert(mosquitto, engine):
    seen: queue.Queue[str] = queue.Queue()
    service = make_service(engine, MemoryRoster(), FakeClock())
    worker = start_worker(service, mosquitto, seen)
    alert = make_alert()
    publish(mosquitto, alert, alert)  # the gateway sent it twice (a crash between PUBACK and mark)
    assert seen.get(timeout=WAIT_S) == f"{alert.alert_id} opened"
    assert seen.get(timeout=WAIT_S) == f"{alert.alert_id} duplicate"
    worker.stop()
    [row] = service.alerts()
    assert row.count == 1


def test_a_payload_that_is_not_an_alert_is_dropped_and_the_next_one_goes_through(mosquitto, engine):
    seen: queue.Queue[str] = queue.Queue()
    service = make_service(engine, MemoryRoster(), FakeClock())
    worker = start_worker(service, mosquitto, seen)
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="test-bad")
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    client.publish(alerts_topic("wenyuan-2"), b'{"v":1,"kind":"fever"}', qos=1).wait_for_publish(
        WAIT_S
    )
    client.disconnect()
    client.loop_stop()
    alert = make_alert()
    publish(mosquitto, alert)
    assert seen.get(timeout=WAIT_S) == f"{alert.alert_id} opened"
    worker.stop()
    assert worker.counts.refused == 1


def test_start_lifecycle_takes_a_fever_from_mqtt_to_a_notification(mosquitto, engine):
    receiver = Receiver()
    try:
        roster = MemoryRoster(
            first=(contact("c-liaison", "clinic_liaison", f"json://127.0.0.1:{receiver.port}/h"),)
        )
        settings = Settings.model_validate(
            {
                "mqtt": {"host": "127.0.0.1", "port": mosquitto.port},
                "alerts": {"retry_initial_s": 0.05},
            }
        )
        handle = start_lifecycle(settings, engine, roster)
        try:
            assert handle.worker is not None
            assert handle.worker.connection.wait_connected(WAIT_S)
            alert = make_alert(ts=dt.datetime.now(dt.UTC))
            publish(mosquitto, alert)
            [got] = receiver.wait_for(1, WAIT_S)
            assert got.headers["idempotency-key"].startswith("tg-")
            [row] = handle.service.alerts()
            assert (row.state, row.first_source_id) == ("raised", alert.alert_id)
            assert "/ack-link?token=" in got.json()["message"]
            assert got.json()["message"].startswith(alert.message)
        finally:
            handle.stop()
    finally:
        receiver.stop()


def test_start_lifecycle_refuses_the_development_link_secret_in_production(engine):
    from thermogate.config import ConfigError  # noqa: PLC0415

    settings = Settings.model_validate(
        {
            "environment": "production",
            "edge": {"pseudonym_key": "k"},
            "records": {"jwt_secret": "r"},
        }
    )
    with pytest.raises(ConfigError, match=r"alerts\.link_secret"):
        start_lifecycle(settings, engine, MemoryRoster(), mqtt=False)


def test_outcome_values_are_stable():
    assert [o.value for o in Outcome] == ["opened", "updated", "duplicate", "closed", "ignored"]


def test_start_lifecycle_escalates_on_its_own_until_acknowledged(engine):
    receiver = Receiver()
    try:
        hook = f"json://127.0.0.1:{receiver.port}"
        roster = MemoryRoster(
            first=(contact("c-duty", "duty", f"{hook}/duty"),),
            escalation=(contact("c-deputy", "group_deputy", f"{hook}/deputy"),),
        )
        settings = Settings.model_validate(
            {"alerts": {"escalation_minutes": 0.01, "retry_initial_s": 0.05}}
        )
        handle = start_lifecycle(settings, engine, roster, mqtt=False)
        try:
            opened = handle.service.ingest(make_alert(ts=dt.datetime.now(dt.UTC)))
            assert opened.alert_id is not None
            got = receiver.wait_for(2, WAIT_S)
            assert [g.path for g in got[:2]] == ["/duty", "/deputy"]
            assert got[1].json()["title"].startswith("[ESCALATION 1] ")
            acked = handle.service.acknowledge(opened.alert_id, Actor("u-1", "duty"))
            assert acked.next_escalation_at is None
        finally:
            handle.stop()
    finally:
        receiver.stop()
