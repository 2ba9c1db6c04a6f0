"""Device liveness and edge backlog: what the staff on duty are told, and when.

The monitor is driven with an injected clock (no sleeping): a device that falls silent during
screening hours raises one ``device_offline`` alert per outage and one ``device_back`` when it
is heard again; nothing is raised outside the hours; an edge's will takes its devices offline
at once; an edge buffer at 80 % raises one ``edge_backlog`` alert, re-armed below 70 %; bad
status payloads are ignored. The last test feeds the monitor from a real Mosquitto.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from servers import MosquittoServer

from thermogate.config import Settings
from thermogate.contract import (
    Alert,
    AlertKind,
    ComponentKind,
    Severity,
    Status,
    StatusState,
    encode,
    utc_now,
)
from thermogate.contract.topics import STATUS_FILTER, status_topic
from thermogate.gateway.liveness import (
    LivenessDriver,
    LivenessMonitor,
    ScreeningHours,
    wire_time,
)

pytestmark = pytest.mark.timeout(20)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai has no DST: a fixed offset works
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI).astimezone(dt.UTC)
"""Monday 10:00 in Shanghai: inside the default screening hours 06:00-23:30."""
SILENCE_S = 120.0


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Every log call is rendered (a bad ``extra`` key would raise only when enabled)."""
    caplog.set_level(logging.DEBUG, logger="thermogate.gateway.liveness")


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """A Shanghai wall-clock time in March 2026, as UTC."""
    return dt.datetime(2026, 3, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(dt.UTC)


def make_settings(hours: str = "06:00-23:30", silence_s: float = SILENCE_S) -> Settings:
    """Two entrances: an edge with a handheld and a card reader each, and a lobby kiosk."""
    return Settings.model_validate(
        {
            "buildings": [{"id": "wenyuan-2", "name": "Wenyuan 2", "entrances": ["main", "east"]}],
            "devices": [
                {"id": "hh-1", "kind": "handheld", "building": "wenyuan-2", "entrance": "main"},
                {"id": "cr-1", "kind": "card-reader", "building": "wenyuan-2", "entrance": "main"},
                {"id": "hh-2", "kind": "handheld", "building": "wenyuan-2", "entrance": "east"},
                {"id": "kiosk-1", "kind": "kiosk", "building": "wenyuan-2", "entrance": "main"},
            ],
            "edges": [
                {
                    "id": "edge-main",
                    "building": "wenyuan-2",
                    "entrance": "main",
                    "devices": ["hh-1", "cr-1"],
                },
                {
                    "id": "edge-east",
                    "building": "wenyuan-2",
                    "entrance": "east",
                    "devices": ["hh-2"],
                },
            ],
            "gateway": {
                "screening_hours": hours,
                "timezone": "Asia/Shanghai",
                "device_silence_s": silence_s,
            },
        }
    )


class FakeClock:
    """The monitor's clock, moved by the test."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now

    def set(self, at: dt.datetime) -> dt.datetime:
        self.now = at
        return self.now


def monitor_at(start: dt.datetime, **kwargs: Any) -> tuple[LivenessMonitor, FakeClock]:
    clock = FakeClock(start)
    return LivenessMonitor(make_settings(**kwargs), clock), clock


def status(
    component: ComponentKind,
    component_id: str,
    state: StatusState,
    ts: dt.datetime,
    **fields: Any,
) -> tuple[str, bytes]:
    """A status message as it arrives: (topic, payload)."""
    message = Status(component=component, id=component_id, state=state, ts=ts, **fields)
    return status_topic(component, component_id), encode(message)


def hear_all(monitor: LivenessMonitor, at: dt.datetime) -> None:
    """Every device heard at ``at`` (readings of the thermometers, statuses of the rest)."""
    monitor.readings_seen(["hh-1", "hh-2", "kiosk-1"], at)
    monitor.on_status(*status(ComponentKind.DEVICE, "cr-1", StatusState.ONLINE, at))


def kinds(alerts: list[Alert]) -> list[tuple[AlertKind, str | None]]:
    return sorted((a.kind, a.device_id or a.edge_id) for a in alerts)


# -- screening hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "inside", "outside"),
    [
        ("06:00-23:30", [(6, 0), (12, 0), (23, 29)], [(5, 59), (23, 30), (0, 0), (3, 0)]),
        ("22:00-06:00", [(22, 0), (23, 59), (0, 0), (5, 59)], [(6, 0), (12, 0), (21, 59)]),
        ("00:00-24:00", [(0, 0), (12, 0), (23, 59)], []),
        ("18:00-24:00", [(18, 0), (23, 59)], [(0, 0), (17, 59)]),
    ],
)
def test_screening_hours_in_local_time(
    hours: str, inside: list[tuple[int, int]], outside: list[tuple[int, int]]
) -> None:
    window = ScreeningHours.parse(hours, "Asia/Shanghai")
    for hour, minute in inside:
        assert window.contains(local(2, hour, minute)), f"{hour:02}:{minute:02} in {hours}"
    for hour, minute in outside:
        assert not window.contains(local(2, hour, minute)), f"{hour:02}:{minute:02} in {hours}"


@pytest.mark.parametrize("text", ["06:00", "6:00-7:00", "06:00-25:00", "06:60-07:00", "a-b"])
def test_screening_hours_refuse_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="screening hours"):
        ScreeningHours.parse(text, "Asia/Shanghai")


# -- silence ---------------------------------------------------------------------------------


def test_a_silent_device_raises_one_offline_alert() -> None:
    monitor, clock = monitor_at(T0)
    hear_all(monitor, T0)
    clock.advance(100)
    monitor.readings_seen(["hh-2", "kiosk-1"], clock.now)
    monitor.on_status(*status(ComponentKind.DEVICE, "cr-1", StatusState.ONLINE, clock.now))

    clock.set(T0 + dt.timedelta(seconds=SILENCE_S - 1))
    assert monitor.check() == []
    clock.set(T0 + dt.timedelta(seconds=SILENCE_S))
    (alert,) = monitor.check()

    assert alert.kind is AlertKind.DEVICE_OFFLINE
    assert alert.severity is Severity.WARNING
    assert (
        alert.alert_id
        == f"device_offline:hh-1:{wire_time(T0)}"
        == ("device_offline:hh-1:2026-03-02T02:00:00.000Z")
    )
    assert (alert.building, alert.entrance, alert.device_id, alert.edge_id) == (
        "wenyuan-2",
        "main",
        "hh-1",
        "edge-main",
    )
    assert alert.ts == T0
    assert alert.raised_at == clock.now
    assert "hh-1" in alert.message and "offline" in alert.message
    assert "2026-03-02 10:00:00 CST" in alert.message  # last heard, in local time

    for _ in range(5):  # the outage goes on: no repeat
        clock.advance(30)
        monitor.readings_seen(["hh-2", "kiosk-1"], clock.now)
        monitor.on_status(*status(ComponentKind.DEVICE, "cr-1", StatusState.ONLINE, clock.now))
        assert monitor.check() == []
    assert monitor.offline_devices() == {"hh-1": T0}
    assert monitor.stats.offline_alerts == 1


def test_devices_never_heard_are_alerted_silence_after_gateway_start() -> None:
    monitor, clock = monitor_at(T0)
    clock.advance(SILENCE_S - 1)
    assert monitor.check() == []
    clock.advance(1)
    alerts = monitor.check()
    assert kinds(alerts) == [
        (AlertKind.DEVICE_OFFLINE, "cr-1"),
        (AlertKind.DEVICE_OFFLINE, "hh-1"),
        (AlertKind.DEVICE_OFFLINE, "hh-2"),
        (AlertKind.DEVICE_OFFLINE, "kiosk-1"),
    ]
    kiosk = next(a for a in alerts if a.device_id == "kiosk-1")
    assert kiosk.edge_id is None
    assert kiosk.ts == T0
    assert "since the gateway started" in kiosk.message


def test_no_alert_outside_screening_hours() -> None:
    monitor, clock = monitor_at(local(2, 23, 30))  # the window has just closed
    hear_all(monitor, clock.now)
    for _ in range(6 * 60 // 5):  # every 5 minutes through the night, up to 05:59
        clock.advance(300)
        if clock.now >= local(3, 6):
            break
        assert monitor.check() == [], clock.now
    assert monitor.stats.offline_alerts == 0


def test_a_device_silent_overnight_is_alerted_when_the_window_opens() -> None:
    monitor, clock = monitor_at(local(2, 23, 0))
    hear_all(monitor, clock.set(local(2, 23, 40)))  # heard after closing time, then silent
    clock.set(local(3, 5, 59, 59))
    assert monitor.check() == []
    clock.set(local(3, 6, 0))
    alerts = monitor.check()
    assert len(alerts) == 4
    assert {a.ts for a in alerts} == {local(2, 23, 40)}
    assert {a.alert_id for a in alerts if a.device_id == "hh-2"} == {
        "device_offline:hh-2:2026-03-02T15:40:00.000Z"
    }
    clock.advance(2)
    assert monitor.check() == []


def test_a_device_back_before_the_window_opens_raises_nothing() -> None:
    monitor, clock = monitor_at(local(2, 23, 0))
    hear_all(monitor, clock.set(local(2, 23, 40)))
    hear_all(monitor, clock.set(local(3, 5, 59)))
    clock.set(local(3, 6, 0))
    assert monitor.check() == []


def test_a_window_crossing_midnight() -> None:
    monitor, clock = monitor_at(local(2, 12, 0), hours="22:00-06:00")
    hear_all(monitor, clock.now)
    clock.set(local(2, 21, 59))
    assert monitor.check() == []
    clock.set(local(2, 22, 0))
    assert len(monitor.check()) == 4
    # Silent from 02:00 on the next night, inside the window: alerted straight away.
    hear_all(monitor, clock.set(local(3, 2, 0)))
    assert {a.kind for a in monitor.check()} == {AlertKind.DEVICE_BACK}
    clock.advance(SILENCE_S)
    assert {a.kind for a in monitor.check()} == {AlertKind.DEVICE_OFFLINE}


def test_a_returning_device_raises_one_back_alert_then_a_new_outage_is_new() -> None:
    monitor, clock = monitor_at(T0)
    hear_all(monitor, T0)
    clock.advance(SILENCE_S)
    monitor.readings_seen(["hh-2", "kiosk-1"], clock.now)
    monitor.on_status(*status(ComponentKind.DEVICE, "cr-1", StatusState.ONLINE, clock.now))
    (offline,) = monitor.check()

    back_at = clock.advance(300)
    monitor.readings_seen(["hh-1", "hh-2", "kiosk-1", "not-in-registry"], back_at)
    monitor.on_status(*status(ComponentKind.DEVICE, "cr-1", StatusState.ONLINE, back_at))
    (back,) = monitor.check()
    assert back.kind is AlertKind.DEVICE_BACK
    assert back.severity is Severity.INFO
    assert back.alert_id == f"device_back:hh-1:{wire_time(T0)}"
    assert offline.alert_id == f"device_offline:hh-1:{wire_time(T0)}"
    assert back.ts == back_at
    assert (back.building, back.entrance, back.device_id, back.edge_id) == (
        "wenyuan-2",
        "main",
        "hh-1",
        "edge-main",
    )
    assert "is back" in back.message and "after 7 min silent" in back.message
    clock.advance(1)
    assert monitor.check() == []
    assert monitor.offline_devices() == {}

    clock.advance(SILENCE_S)  # silent again: a new outage with a new id
    alerts = [a for a in monitor.check() if a.device_id == "hh-1"]
    assert [a.alert_id for a in alerts] == [f"device_offline:hh-1:{wire_time(back_at)}"]


def test_a_device_status_last_seen_counts_and_future_times_are_clamped() -> None:
    monitor, clock = monitor_at(T0)
    hear_all(monitor, T0)
    # The edge republishes the card reader's status with when it last sent a frame.
    seen = T0 + dt.timedelta(seconds=60)
    clock.set(seen + dt.timedelta(seconds=5))
    monitor.on_status(
        *status(ComponentKind.DEVICE, "cr-1", StatusState.ONLINE, clock.now, last_seen=seen)
    )
    # A kiosk whose clock runs an hour ahead is heard "now", not an hour from now.
    monitor.on_status(
        *status(ComponentKind.DEVICE, "kiosk-1", StatusState.ONLINE, T0 + dt.timedelta(hours=1))
    )
    clock.set(T0 + dt.timedelta(seconds=SILENCE_S))
    assert kinds(monitor.check()) == [
        (AlertKind.DEVICE_OFFLINE, "hh-1"),
        (AlertKind.DEVICE_OFFLINE, "hh-2"),
    ]
    clock.set(seen + dt.timedelta(seconds=SILENCE_S))
    assert kinds(monitor.check()) == [(AlertKind.DEVICE_OFFLINE, "cr-1")]
    clock.set(T0 + dt.timedelta(seconds=65 + SILENCE_S))
    assert kinds(monitor.check()) == [(AlertKind.DEVICE_OFFLINE, "kiosk-1")]


# -- statuses that cut a device off ----------------------------------------------------------


def test_an_edge_will_takes_its_devices_offline_at_once() -> None:
    monitor, clock = monitor_at(T0)
    hear_all(monitor, T0)
    will_prepared = T0 - dt.timedelta(hours=2)  # the will's ts is when the edge connected
    clock.advance(10)
    monitor.on_status(*status(ComponentKind.EDGE, "edge-main", StatusState.OFFLINE, will_prepared))
    alerts = monitor.check()
    assert kinds(alerts) == [(AlertKind.DEVICE_OFFLINE, "cr-1"), (AlertKind.DEVICE_OFFLINE, "hh-1")]
    assert {a.ts for a in alerts} == {T0}  # the last time they were heard, not the will's ts
    assert all("edge-main went offline" in a.message for a in alerts)
    assert all(a.edge_id == "edge-main" for a in alerts)

    # The edge is back; its devices are not heard yet: still offline.
    clock.advance(30)
    monitor.on_status(*status(ComponentKind.EDGE, "edge-main", StatusState.ONLINE, clock.now))
    monitor.readings_seen(["hh-2", "kiosk-1"], clock.now)
    assert monitor.check() == []
    # The handheld is heard again; the card reader's status still shows an old last_seen.
    monitor.readings_seen(["hh-1"], clock.advance(1))
    monitor.on_status(
        *status(ComponentKind.DEVICE, "cr-1", StatusState.ONLINE, clock.now, last_seen=T0)
    )
    assert kinds(monitor.check()) == [(AlertKind.DEVICE_BACK, "hh-1")]


def test_an_edge_stopped_outside_hours_raises_nothing_until_the_window_opens() -> None:
    monitor, clock = monitor_at(local(2, 23, 0))
    hear_all(monitor, clock.now)
    stopped_at = clock.set(local(2, 23, 45))
    monitor.on_status(*status(ComponentKind.EDGE, "edge-east", StatusState.STOPPED, stopped_at))
    assert monitor.check() == []
    clock.set(local(3, 5, 59))  # the other entrance is busy; edge-east stays stopped
    monitor.readings_seen(["hh-1", "kiosk-1"], clock.now)
    monitor.on_status(*status(ComponentKind.DEVICE, "cr-1", StatusState.ONLINE, clock.now))
    clock.set(local(3, 6, 0))
    (alert,) = monitor.check()
    assert (alert.kind, alert.device_id, alert.ts) == (AlertKind.DEVICE_OFFLINE, "hh-2", stopped_at)


def test_a_device_stopped_status_takes_it_offline_with_the_reason() -> None:
    monitor, clock = monitor_at(T0)
    hear_all(monitor, T0)
    port_gone = clock.advance(5)
    monitor.on_status(
        *status(
            ComponentKind.DEVICE,
            "cr-1",
            StatusState.STOPPED,
            port_gone,
            detail="could not open port /dev/ttyUSB1",
        )
    )
    monitor.on_status(*status(ComponentKind.DEVICE, "kiosk-1", StatusState.OFFLINE, T0))
    alerts = monitor.check()
    assert kinds(alerts) == [
        (AlertKind.DEVICE_OFFLINE, "cr-1"),
        (AlertKind.DEVICE_OFFLINE, "kiosk-1"),
    ]
    reader = next(a for a in alerts if a.device_id == "cr-1")
    assert reader.ts == port_gone
    assert "could not open port /dev/ttyUSB1" in reader.message
    # A reading stored late (queued before the stop) does not undo the stop.
    monitor.readings_seen(["kiosk-1"], clock.advance(1))
    assert monitor.check() == []
    # The port opens again: the edge says so.
    monitor.on_status(*status(ComponentKind.DEVICE, "cr-1", StatusState.ONLINE, clock.advance(1)))
    monitor.on_status(*status(ComponentKind.DEVICE, "kiosk-1", StatusState.ONLINE, clock.now))
    assert kinds(monitor.check()) == [
        (AlertKind.DEVICE_BACK, "cr-1"),
        (AlertKind.DEVICE_BACK, "kiosk-1"),
    ]


# -- edge backlog ----------------------------------------------------------------------------


def test_edge_backlog_alerts_once_at_80_percent_and_rearms_below_70() -> None:
    monitor, clock = monitor_at(T0)
    hear_all(monitor, T0)

    def edge_status(pending: int) -> None:
        monitor.on_status(
            *status(
                ComponentKind.EDGE,
                "edge-east",
                StatusState.ONLINE,
                clock.advance(1),
                buffer_pending=pending,
                buffer_capacity=1000,
                buffer_dropped=0,
            )
        )

    edge_status(799)
    assert monitor.check() == []
    edge_status(800)
    first_seen = clock.now
    (alert,) = monitor.check()
    assert alert.kind is AlertKind.EDGE_BACKLOG
    assert alert.severity is Severity.WARNING
    assert alert.alert_id == f"edge_backlog:edge-east:{wire_time(first_seen)}"
    assert (alert.building, alert.entrance, alert.edge_id, alert.device_id) == (
        "wenyuan-2",
        "east",
        "edge-east",
        None,
    )
    assert "80 %" in alert.message
    for pending in (950, 1000, 750, 700):  # still above the re-arm mark
        edge_status(pending)
        assert monitor.check() == []
    edge_status(699)
    assert monitor.check() == []
    edge_status(820)
    (again,) = monitor.check()
    assert again.alert_id == f"edge_backlog:edge-east:{wire_time(clock.now)}"
    assert monitor.stats.backlog_alerts == 2


def test_edge_backlog_is_alerted_outside_screening_hours_too() -> None:
    monitor, clock = monitor_at(local(2, 3, 0))
    monitor.on_status(
        *status(
            ComponentKind.EDGE,
            "edge-main",
            StatusState.ONLINE,
            clock.now,
            buffer_pending=90,
            buffer_capacity=100,
        )
    )
    assert kinds(monitor.check()) == [(AlertKind.EDGE_BACKLOG, "edge-main")]


# -- bad input -------------------------------------------------------------------------------


def test_bad_status_payloads_are_ignored() -> None:
    monitor, clock = monitor_at(T0)
    hear_all(monitor, T0)
    topic = status_topic(ComponentKind.DEVICE, "hh-1")
    good = orjson.loads(status(ComponentKind.DEVICE, "hh-1", StatusState.STOPPED, T0)[1])
    bad: list[tuple[str, bytes]] = [
        (topic, b"not json"),
        (topic, b"\xff\xfe{}"),
        (topic, b"[1, 2]"),
        (topic, b"null"),
        (topic, orjson.dumps({**good, "v": 2})),
        (topic, orjson.dumps({**good, "state": "asleep"})),
        (topic, orjson.dumps({**good, "ts": "2026-03-02T02:00:00"})),  # no offset
        (topic, orjson.dumps({**good, "ts": 1772416800})),
        (topic, orjson.dumps({**good, "surprise": 1})),
        (topic, orjson.dumps({k: v for k, v in good.items() if k != "id"})),
        (status_topic(ComponentKind.DEVICE, "hh-2"), orjson.dumps(good)),  # topic mismatch
        ("thermogate/v1/status/device", orjson.dumps(good)),
        (status_topic(ComponentKind.DEVICE, "hh-9"), orjson.dumps({**good, "id": "hh-9"})),
        (
            status_topic(ComponentKind.EDGE, "edge-9"),
            orjson.dumps({**good, "component": "edge", "id": "edge-9"}),
        ),
    ]
    for bad_topic, payload in bad:
        monitor.on_status(bad_topic, payload)  # never raises
    monitor.on_status(topic, b"")  # a retained status being cleared
    assert monitor.stats.ignored == len(bad)
    assert monitor.stats.statuses == 1  # the card reader's status in hear_all
    # None of them said hh-1 stopped: it goes offline by silence, like the others.
    clock.advance(SILENCE_S)
    assert {a.ts for a in monitor.check()} == {T0}


def test_gateway_statuses_are_accepted_and_change_nothing() -> None:
    monitor, _ = monitor_at(T0)
    monitor.on_status(*status(ComponentKind.GATEWAY, "gateway-1", StatusState.OFFLINE, T0))
    assert monitor.stats.statuses == 1
    assert monitor.check() == []


def test_naive_times_are_refused() -> None:
    monitor, _ = monitor_at(T0)
    with pytest.raises(ValueError, match="aware"):
        monitor.readings_seen(["hh-1"], dt.datetime(2026, 3, 2, 10, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware"):
        monitor.check(dt.datetime(2026, 3, 2, 10, 0))  # noqa: DTZ001


# -- the driver ------------------------------------------------------------------------------


class ListSink:
    """An AlertSink that keeps what it is given; the first hand-over fails."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.calls = 0
        self.lock = threading.Lock()

    def raise_alert(self, alert: Alert) -> None:
        with self.lock:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("sink hiccup")
            self.alerts.append(alert)


def test_the_driver_hands_alerts_to_the_sink_and_survives_failures() -> None:
    monitor, clock = monitor_at(T0)
    sink = ListSink()
    driver = LivenessDriver(monitor, sink, interval_s=0.02)
    driver.start()
    try:
        clock.advance(SILENCE_S)
        deadline = time.monotonic() + 5
        while sink.calls < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        driver.stop()
    assert sink.calls == 4  # one per device, each once; the first failed and was logged
    assert len(sink.alerts) == 3
    assert driver.run_once() == 0


# -- from a real broker ----------------------------------------------------------------------


class StatusFeeder:
    """A tiny paho subscriber on ``thermogate/v1/status/#`` feeding the monitor."""

    def __init__(self, server: MosquittoServer, monitor: LivenessMonitor) -> None:
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-liveness-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5,
        )
        self.client.on_connect = lambda c, *_: c.subscribe(STATUS_FILTER, qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = lambda _c, _u, m: monitor.on_status(m.topic, bytes(m.payload))
        self.client.connect(server.host, server.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK from Mosquitto"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mosquitto: MosquittoServer) -> Iterator[paho.Client]:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id="test-liveness-publisher", protocol=paho.MQTTv5
    )
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def test_statuses_from_a_real_broker(mosquitto: MosquittoServer, publisher: paho.Client) -> None:
    def publish(topic: str, payload: bytes, retain: bool = True) -> None:
        publisher.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    now = utc_now()
    # Retained before the gateway is there: edge-main died, edge-east is 85 % full, the
    # kiosk and edge-east's handheld are fine, and one retained status is garbage.
    publish(*status(ComponentKind.EDGE, "edge-main", StatusState.OFFLINE, now))
    publish(
        *status(
            ComponentKind.EDGE,
            "edge-east",
            StatusState.ONLINE,
            now,
            buffer_pending=850,
            buffer_capacity=1000,
        )
    )
    publish(*status(ComponentKind.DEVICE, "hh-2", StatusState.ONLINE, now, last_seen=now))
    publish(*status(ComponentKind.DEVICE, "kiosk-1", StatusState.ONLINE, now))
    publish(status_topic(ComponentKind.DEVICE, "hh-1"), b'{"v":1,"state":"online"}')

    monitor = LivenessMonitor(make_settings(hours="00:00-24:00"), utc_now)
    feeder = StatusFeeder(mosquitto, monitor)
    try:
        deadline = time.monotonic() + 10
        while monitor.stats.statuses + monitor.stats.ignored < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (monitor.stats.statuses, monitor.stats.ignored) == (4, 1)
        alerts = monitor.check()
        assert kinds(alerts) == [
            (AlertKind.DEVICE_OFFLINE, "cr-1"),
            (AlertKind.DEVICE_OFFLINE, "hh-1"),
            (AlertKind.EDGE_BACKLOG, "edge-east"),
        ]
        assert all(a.edge_id for a in alerts)

        # edge-main comes back and reports its handheld (live, not retained this time).
        back = utc_now()
        publish(*status(ComponentKind.EDGE, "edge-main", StatusState.ONLINE, back))
        publish(
            *status(ComponentKind.DEVICE, "hh-1", StatusState.ONLINE, back, last_seen=back),
            retain=False,
        )
        deadline = time.monotonic() + 10
        while monitor.stats.statuses < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kinds(monitor.check()) == [(AlertKind.DEVICE_BACK, "hh-1")]
        assert monitor.offline_devices().keys() == {"cr-1"}
    finally:
        feeder.close()
