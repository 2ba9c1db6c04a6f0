"""Alert delivery end to end: a real Mosquitto, a real MqttConnection, a real HTTP inbox.

What a clinic and a duty desk observe: every raised alert arrives once on
``thermogate/v1/alerts/{building}`` and once in the push inbox (with its id inside the body),
whatever the gateway redelivers, and a push target that is down is retried until it is back
or given up on after ``retries`` attempts, without ever holding up the gateway.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr
from servers import MosquittoServer, free_port

from thermogate.alerts import AlertDispatcher, LocalInbox, RecentIds, backoff_delay
from thermogate.alerts.dispatcher import BACKOFF_MAX_S
from thermogate.config import AlertSettings, ConfigError
from thermogate.contract.messages import Alert, AlertKind, Severity
from thermogate.contract.topics import ALERTS_FILTER
from thermogate.mqtt import MqttConnection

pytestmark = pytest.mark.timeout(20)

WAIT_S = 10.0
T0 = dt.datetime(2026, 3, 2, 7, 41, 5, 123000, tzinfo=dt.UTC)


def make_alert(n: int, building: str = "wenyuan-2", temp_c: float = 38.4) -> Alert:
    """A fever alert as the gateway raises it for reading ``hh-01:n``."""
    ts = T0 + dt.timedelta(seconds=n)
    return Alert(
        alert_id=f"fever:hh-01:{n}",
        kind=AlertKind.FEVER,
        severity=Severity.CRITICAL,
        reading_id=f"hh-01:{n}",
        device_id="hh-01",
        building=building,
        entrance="north",
        person_id=f"p-{n:04d}",
        temp_c=temp_c,
        threshold_c=37.3,
        ts=ts,
        raised_at=ts + dt.timedelta(milliseconds=40),
        message=f"Fever {temp_c:.1f} °C at {building}/north",
    )


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class AlertSubscriber:
    """A plain paho client on ``thermogate/v1/alerts/+``, as a duty-desk consumer would be."""

    def __init__(self, server: MosquittoServer) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id="test-alerts-subscriber",
            protocol=paho.MQTTv5,
        )
        self._client.on_connect = lambda c, *_: c.subscribe(ALERTS_FILTER, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(server.host, server.port)
        self._client.loop_start()
        assert self._subscribed.wait(WAIT_S), "no SUBACK from Mosquitto"

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(
                Received(message.topic, bytes(message.payload), message.qos, bool(message.retain))
            )
            self._cond.notify_all()

    def wait_for_alert(self, alert_id: str, timeout: float = WAIT_S) -> bool:
        """Wait until an alert with this id arrived; earlier ones of one publisher arrived too."""
        with self._cond:
            return self._cond.wait_for(lambda: alert_id in self.alert_ids(), timeout)

    def alert_ids(self) -> list[str]:
        return [orjson.loads(m.payload)["alert_id"] for m in self.messages]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def subscriber(mosquitto: MosquittoServer) -> Iterator[AlertSubscriber]:
    sub = AlertSubscriber(mosquitto)
    yield sub
    sub.close()


@pytest.fixture
def publisher(mosquitto: MosquittoServer) -> Iterator[MqttConnection]:
    """The gateway's connection, publishing the alerts."""
    connection = MqttConnection(mosquitto.mqtt_settings(), "test-alerts-gateway")
    connection.start()
    assert connection.wait_connected(WAIT_S)
    yield connection
    connection.stop()


@pytest.fixture
def inbox() -> Iterator[LocalInbox]:
    with LocalInbox() as started:
        yield started


def settings_for(*urls: str, retries: int = 5, retry_initial_s: float = 0.05) -> AlertSettings:
    return AlertSettings(
        push_urls=[SecretStr(u) for u in urls], retries=retries, retry_initial_s=retry_initial_s
    )


def refused_url() -> str:
    """A push URL where nothing listens: every attempt fails at once (connection refused)."""
    return f"json://127.0.0.1:{free_port()}/inbox"


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def push_warnings(caplog: pytest.LogCaptureFixture, alert_id: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.getMessage() == "alert push failed, retrying"
        and getattr(r, "alert_id", None) == alert_id
    ]


def test_each_alert_arrives_once_on_mqtt_and_once_in_the_inbox(
    publisher: MqttConnection, subscriber: AlertSubscriber, inbox: LocalInbox
) -> None:
    alerts = [make_alert(n, building=("wenyuan-2", "wenyuan-3")[n % 2]) for n in range(6)]
    dispatcher = AlertDispatcher(publisher.publish, settings_for(inbox.apprise_url))

    for alert in alerts:
        dispatcher.raise_alert(alert)

    assert inbox.wait_for(len(alerts), WAIT_S)
    assert subscriber.wait_for_alert(alerts[-1].alert_id)
    dispatcher.close()

    # On MQTT: each alert once, on its building's topic, QoS 1, not retained, wire-identical.
    by_id = {m.alert_id: m for m in alerts}
    assert sorted(subscriber.alert_ids()) == sorted(by_id)
    for received in subscriber.messages:
        alert = Alert.model_validate_json(received.payload)
        assert alert == by_id[alert.alert_id]
        assert received.topic == f"thermogate/v1/alerts/{alert.building}"
        assert (received.qos, received.retain) == (1, False)

    # In the inbox: each alert once, its id (the idempotency key) inside the body.
    assert len(inbox.messages()) == len(alerts)
    assert sorted(a["alert_id"] for a in inbox.alerts()) == sorted(by_id)
    for notification in inbox.messages():
        alert = Alert.model_validate_json(notification["message"])
        assert alert == by_id[alert.alert_id]
        assert notification["type"] == "failure"
        assert "38.4 °C" in notification["title"]
        assert f"{alert.building}/north" in notification["title"]

    counters = dispatcher.counters
    assert (counters.raised, counters.published, counters.pushed) == (6, 6, 6)
    assert (counters.push_failed, counters.pending, counters.duplicates_dropped) == (0, 0, 0)


def test_an_alert_raised_twice_is_delivered_once(
    publisher: MqttConnection, subscriber: AlertSubscriber, inbox: LocalInbox
) -> None:
    dispatcher = AlertDispatcher(publisher.publish, settings_for(inbox.apprise_url))
    alert = make_alert(1)

    dispatcher.raise_alert(alert)
    assert inbox.wait_for(1, WAIT_S)
    dispatcher.raise_alert(alert)  # the gateway redelivered the reading after a restart of a sink
    dispatcher.raise_alert(make_alert(1, temp_c=39.0))  # same reading id, so the same alert id
    last = make_alert(2)
    dispatcher.raise_alert(last)  # a later alert: once it arrived, any duplicate would have too

    assert subscriber.wait_for_alert(last.alert_id)
    dispatcher.close()
    assert subscriber.alert_ids() == [alert.alert_id, last.alert_id]
    assert [a["alert_id"] for a in inbox.alerts()] == [alert.alert_id, last.alert_id]
    assert inbox.alerts()[0]["temp_c"] == 38.4
    counters = dispatcher.counters
    assert (counters.raised, counters.duplicates_dropped, counters.pushed) == (2, 2, 2)


def test_a_push_target_that_is_down_at_first_is_retried_until_it_is_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()
    late = LocalInbox(port)
    published: list[tuple[str, bytes]] = []
    dispatcher = AlertDispatcher(
        lambda topic, payload: published.append((topic, payload)),
        settings_for(late.apprise_url, retries=10, retry_initial_s=0.1),
    )
    alert = make_alert(7)
    try:
        dispatcher.raise_alert(alert)
        assert wait_until(lambda: len(push_warnings(caplog, alert.alert_id)) >= 2)
        assert dispatcher.counters.pending == 1

        late.start()  # the clinic's endpoint comes back on the same port
        assert late.wait_for(1, WAIT_S)
        assert dispatcher.wait_idle(WAIT_S)
    finally:
        dispatcher.close()
        late.stop()

    assert [a["alert_id"] for a in late.alerts()] == [alert.alert_id]
    assert [topic for topic, _ in published] == ["thermogate/v1/alerts/wenyuan-2"]
    warnings = push_warnings(caplog, alert.alert_id)
    assert [getattr(w, "attempt", None) for w in warnings] == list(range(1, len(warnings) + 1))
    assert all(w.levelno == logging.WARNING for w in warnings)
    counters = dispatcher.counters
    assert (counters.pushed, counters.push_failed, counters.pending) == (1, 0, 0)


def test_a_receiver_answering_errors_is_retried_and_gets_the_alert_once(
    inbox: LocalInbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    inbox.fail_next(3, status=500)
    dispatcher = AlertDispatcher(lambda _t, _p: None, settings_for(inbox.apprise_url))
    alert = make_alert(3)

    dispatcher.raise_alert(alert)
    assert inbox.wait_for(1, WAIT_S)
    dispatcher.close()

    assert [a["alert_id"] for a in inbox.alerts()] == [alert.alert_id]
    assert [getattr(w, "attempt", None) for w in push_warnings(caplog, alert.alert_id)] == [1, 2, 3]
    assert dispatcher.counters.pushed == 1


def test_an_unreachable_target_is_given_up_after_retries_without_blocking_the_gateway(
    publisher: MqttConnection, subscriber: AlertSubscriber, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    dispatcher = AlertDispatcher(
        publisher.publish, settings_for(refused_url(), retries=2, retry_initial_s=0.05)
    )
    alerts = [make_alert(n) for n in range(20)]

    started = time.monotonic()
    for alert in alerts:
        dispatcher.raise_alert(alert)
    raising_s = time.monotonic() - started

    assert raising_s < 0.5, f"raise_alert blocked the gateway for {raising_s:.2f} s"
    assert subscriber.wait_for_alert(alerts[-1].alert_id)  # MQTT delivery is unaffected
    assert dispatcher.wait_idle(WAIT_S)
    dispatcher.close()

    counters = dispatcher.counters
    assert (counters.raised, counters.published) == (20, 20)
    assert (counters.pushed, counters.push_failed, counters.pending) == (0, 20, 0)
    for alert in alerts:  # retries=2: a first attempt and two retries, then it gives up
        assert [getattr(w, "attempt", None) for w in push_warnings(caplog, alert.alert_id)] == [
            1,
            2,
        ]
    gave_up = [r for r in caplog.records if r.getMessage() == "alert push failed, giving up"]
    assert len(gave_up) == 20
    assert all(r.levelno == logging.ERROR and getattr(r, "attempts", 0) == 3 for r in gave_up)


@pytest.fixture
def silent_target() -> Iterator[str]:
    """A push URL that accepts TCP connections and never answers (a hung webhook)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"json://127.0.0.1:{sock.getsockname()[1]}/inbox?cto=5&rto=5"


def test_a_hung_target_neither_blocks_raise_alert_nor_close_beyond_its_timeout(
    silent_target: str, caplog: pytest.LogCaptureFixture
) -> None:
    published: list[str] = []
    dispatcher = AlertDispatcher(
        lambda topic, _p: published.append(topic), settings_for(silent_target), queue_max=3
    )

    started = time.monotonic()
    for n in range(6):
        dispatcher.raise_alert(make_alert(n))
    assert time.monotonic() - started < 0.5
    # MQTT has a worker of its own: the hung push holds up none of the alerts there.
    assert wait_until(lambda: len(published) == 6)

    # Since the outbox, nothing is dropped: the pushes wait on disk, however many.
    counters = dispatcher.counters
    assert (counters.pending, counters.push_dropped, counters.published) == (6, 0, 6)

    started = time.monotonic()
    dispatcher.close(timeout=0.5)
    assert time.monotonic() - started < 2.0
    lost = [r for r in caplog.records if r.getMessage() == "alerts not pushed before close"]
    assert len(lost) == 1
    assert getattr(lost[0], "count", None) == 6


def test_configured_urls_apprise_cannot_use_are_refused_at_start() -> None:
    with pytest.raises(ConfigError) as caught:
        AlertDispatcher(
            lambda _t, _p: None,
            settings_for("json://127.0.0.1:9/inbox", "nosuchscheme://x/y", "not a url"),
        )
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "alerts.push_urls[1]",
        "alerts.push_urls[2]",
    ]


def test_without_push_urls_alerts_still_go_to_mqtt() -> None:
    published: list[str] = []
    with AlertDispatcher(lambda topic, _p: published.append(topic), settings_for()) as dispatcher:
        dispatcher.raise_alert(make_alert(1, building="wenyuan-3"))
        assert dispatcher.channels == []
    assert published == ["thermogate/v1/alerts/wenyuan-3"]
    assert (dispatcher.counters.published, dispatcher.counters.pending) == (1, 0)


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        base = min(BACKOFF_MAX_S, 0.5 * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, 0.5, rng) for _ in range(50)]
        assert all(base / 2 <= d <= base for d in delays)
        assert len(set(delays)) > 1


def test_recent_ids_forget_the_least_recently_seen_beyond_capacity() -> None:
    ids = RecentIds(capacity=2)
    assert ids.add("a") and ids.add("b")
    assert not ids.add("a")  # seen again: now the most recent
    assert ids.add("c")  # evicts "b"
    assert "a" in ids and "c" in ids and "b" not in ids
    assert len(ids) == 2
