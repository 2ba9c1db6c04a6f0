"""The alert outbox: nothing lost, nothing alerted twice, across restarts and kill -9.

The unit tests drive :class:`AlertOutbox` with explicit times. The dispatcher tests use a real
Mosquitto, a real ``MqttConnection``, a real HTTP inbox and, for the crashes, a real child
process killed with SIGKILL right after ``raise_alert`` returned: whatever the gateway
acknowledged after that call must still reach the clinic, once.
"""

from __future__ import annotations

import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from servers import MosquittoServer, free_port
from test_alerts import (
    WAIT_S,
    AlertSubscriber,
    make_alert,
    settings_for,
    wait_until,
)

from thermogate.alerts import (
    AlertDispatcher,
    AlertOutbox,
    LocalInbox,
    OutboxClosedError,
    PushNotification,
)
from thermogate.alerts.outbox import FILE_NAME
from thermogate.contract.messages import encode
from thermogate.mqtt import MqttConnection

pytestmark = pytest.mark.timeout(20)

T = 1_772_000_000.0
"""A fixed wall-clock time for the unit tests (early 2026)."""


# -- the outbox alone --------------------------------------------------------------------
@pytest.fixture
def outbox() -> Iterator[AlertOutbox]:
    box = AlertOutbox(None)
    yield box
    box.close()


def test_a_batch_of_alerts_is_stored_together_each_id_once(outbox: AlertOutbox) -> None:
    first, second = make_alert(1), make_alert(2)
    assert outbox.add(first, now=T)
    assert outbox.add_many([first, second, second], now=T) == [False, True, False]
    assert outbox.add_many([], now=T) == []
    assert outbox.unfinished() == 2


def test_add_stores_an_alert_once_and_refuses_its_id_after(outbox: AlertOutbox) -> None:
    alert = make_alert(1)
    assert outbox.add(alert, now=T)
    assert not outbox.add(alert, now=T + 1)
    assert not outbox.add(make_alert(1, temp_c=39.0), now=T + 2)  # same id: the first stays

    entry = outbox.get(alert.alert_id)
    assert entry is not None
    assert entry.payload == encode(alert)
    assert entry.alert() == alert
    assert entry.created_at == T
    assert (entry.published, entry.pushed, entry.gave_up, entry.finished) == (False,) * 4
    assert (entry.publish_attempts, entry.push_attempts, entry.push_done) == (0, 0, frozenset())
    assert len(outbox) == 1
    assert outbox.get("fever:hh-01:404") is None


def test_due_work_follows_the_marks_and_the_retry_times(outbox: AlertOutbox) -> None:
    for n in range(3):
        outbox.add(make_alert(n), now=T + n)
    ids = [make_alert(n).alert_id for n in range(3)]

    assert [e.alert_id for e in outbox.due_publications(10, now=T + 5)] == ids
    assert [e.alert_id for e in outbox.due_publications(10, now=T + 1)] == ids[:2]
    assert [e.alert_id for e in outbox.due_publications(1, now=T + 5)] == ids[:1]
    assert [e.alert_id for e in outbox.due_publications(10, exclude=ids[:1], now=T + 5)] == ids[1:]

    # MQTT: the first is acknowledged, the second failed and waits for its retry.
    assert outbox.mark_published([ids[0]], now=T + 6) == 1
    assert outbox.mark_published([ids[0]], now=T + 7) == 0  # already published: unchanged
    assert outbox.record_publish_failure(ids[1], retry_at=T + 20, error="no route") == 1
    assert [e.alert_id for e in outbox.due_publications(10, now=T + 10)] == [ids[2]]
    assert [e.alert_id for e in outbox.due_publications(10, now=T + 20)] == ids[1:]
    assert outbox.next_publication_at() == T + 2
    assert outbox.unpublished() == 2
    assert outbox.unpublished_ids(10) == ids[1:]

    # Push: one channel of two took the first; the second is given up; the third is pushed.
    assert outbox.record_push_failure(ids[0], ["inbox-a"], retry_at=T + 30, error="503") == 1
    assert outbox.give_up_push(ids[1], [], error="refused", now=T + 8) == 1
    outbox.mark_pushed(ids[2], ["inbox-a", "inbox-b"], now=T + 9)
    assert outbox.due_pushes(10, now=T + 29) == []
    assert [e.alert_id for e in outbox.due_pushes(10, now=T + 30)] == [ids[0]]
    assert outbox.next_push_at() == T + 30
    assert outbox.unpushed_ids(10) == [ids[0]]

    first, second, third = (outbox.get(i) for i in ids)
    assert first is not None and second is not None and third is not None
    assert (first.published_at, first.push_done, first.last_error) == (T + 6, {"inbox-a"}, "503")
    assert (first.publish_attempts, first.push_attempts, first.finished) == (1, 1, False)
    assert (second.gave_up_at, second.last_error, second.publish_attempts) == (T + 8, "refused", 1)
    assert (third.pushed_at, third.push_done) == (T + 9, {"inbox-a", "inbox-b"})
    assert not second.finished and not third.finished  # neither is published yet
    assert outbox.unfinished() == 3
    outbox.mark_published(ids[1:], now=T + 31)
    assert outbox.unfinished() == 1  # only the first: its push is still to do
    with pytest.raises(KeyError):
        outbox.record_push_failure("fever:hh-01:404", [], retry_at=T, error="x")


def test_an_alert_that_needs_no_push_is_finished_once_published(outbox: AlertOutbox) -> None:
    alert = make_alert(1)
    outbox.add(alert, push=False, now=T)
    assert outbox.due_pushes(10, now=T + 1) == []
    assert (outbox.unpushed(), outbox.unfinished()) == (0, 1)
    outbox.mark_published([alert.alert_id], now=T + 1)
    entry = outbox.get(alert.alert_id)
    assert entry is not None and entry.finished


def test_a_retry_scheduled_before_the_clock_went_back_is_due_at_once(
    outbox: AlertOutbox,
) -> None:
    alert = make_alert(1)
    outbox.add(alert, now=T)
    outbox.record_publish_failure(alert.alert_id, retry_at=T + 30, error="x")
    assert outbox.due_publications(10, now=T + 29) == []
    # The wall clock was set back two hours: a retry "due in 2 h" is not a backoff.
    assert [e.alert_id for e in outbox.due_publications(10, now=T - 7200)] == [alert.alert_id]


def test_resume_makes_every_unfinished_delivery_due_now(outbox: AlertOutbox) -> None:
    for n in range(3):
        outbox.add(make_alert(n), now=T)
    ids = [make_alert(n).alert_id for n in range(3)]
    outbox.mark_published(ids[:1], now=T)
    outbox.mark_pushed(ids[0], [], now=T)  # finished
    outbox.record_publish_failure(ids[1], retry_at=T + 50, error="x")
    outbox.record_push_failure(ids[2], [], retry_at=T + 50, error="x")

    assert outbox.resume(now=T + 1) == 2
    assert [e.alert_id for e in outbox.due_publications(10, now=T + 1)] == ids[1:]
    assert [e.alert_id for e in outbox.due_pushes(10, now=T + 1)] == ids[1:]


def test_prune_deletes_only_finished_rows_older_than_the_retention(outbox: AlertOutbox) -> None:
    day = 86_400.0
    old_done, old_open, new_done, old_given_up = (make_alert(n) for n in range(4))
    for alert, created in ((old_done, T), (old_open, T), (new_done, T + 9 * day)):
        outbox.add(alert, now=created)
    outbox.add(old_given_up, now=T)
    outbox.mark_published([old_done.alert_id, new_done.alert_id, old_given_up.alert_id], now=T)
    outbox.mark_pushed(old_done.alert_id, [], now=T)
    outbox.mark_pushed(new_done.alert_id, [], now=T + 9 * day)
    outbox.give_up_push(old_given_up.alert_id, [], error="x", now=T)
    outbox.mark_published([old_open.alert_id], now=T)  # published, its push still to do

    assert outbox.prune(7 * day, now=T + 10 * day) == 2
    assert outbox.get(old_done.alert_id) is None
    assert outbox.get(old_given_up.alert_id) is None
    assert outbox.get(old_open.alert_id) is not None  # unfinished: never pruned
    assert outbox.get(new_done.alert_id) is not None
    assert outbox.prune(7 * day, now=T + 10 * day) == 0
    assert outbox.add(old_done, now=T + 10 * day)  # past the retention an id is new again


def test_a_reopened_outbox_has_every_row_and_mark(tmp_path: Path) -> None:
    path = tmp_path / "state" / FILE_NAME
    first = AlertOutbox(path)
    alert, other = make_alert(1), make_alert(2)
    assert first.add(alert, now=T) and first.add(other, now=T)
    first.mark_published([alert.alert_id], now=T + 1)
    first.record_push_failure(alert.alert_id, ["inbox"], retry_at=T + 5, error="503")
    first.close()
    with pytest.raises(OutboxClosedError):
        first.add(make_alert(3))

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = AlertOutbox(path)
    try:
        assert not again.add(alert)  # the persistent deduplication
        entry = again.get(alert.alert_id)
        assert entry is not None
        assert (entry.published_at, entry.push_done, entry.push_attempts) == (T + 1, {"inbox"}, 1)
        assert (entry.next_push_at, entry.last_error) == (T + 5, "503")
        assert again.unfinished() == 2
        assert [e.alert_id for e in again.due_publications(10, now=T)] == [other.alert_id]
    finally:
        again.close()


# -- the dispatcher on the outbox --------------------------------------------------------
@pytest.fixture
def subscriber(mosquitto: MosquittoServer) -> Iterator[AlertSubscriber]:
    sub = AlertSubscriber(mosquitto)
    yield sub
    sub.close()


@pytest.fixture
def publisher(mosquitto: MosquittoServer) -> Iterator[MqttConnection]:
    connection = MqttConnection(mosquitto.mqtt_settings(), "test-outbox-gateway")
    connection.start()
    assert connection.wait_connected(WAIT_S)
    yield connection
    connection.stop()


def test_an_alert_raised_again_after_a_restart_is_not_delivered_again(
    tmp_path: Path, publisher: MqttConnection, subscriber: AlertSubscriber
) -> None:
    state_dir = tmp_path / "gateway"
    first, second, last = make_alert(1), make_alert(2), make_alert(3)
    with LocalInbox() as inbox:
        settings = settings_for(inbox.apprise_url)
        with AlertDispatcher(publisher.publish, settings, state_dir=state_dir) as before:
            before.raise_alert(first)
            before.raise_alert(second)
            assert before.wait_idle(WAIT_S)
        assert (state_dir / FILE_NAME).is_file()

        # The gateway restarts and its broker redelivers the readings it had not acknowledged.
        with AlertDispatcher(publisher.publish, settings, state_dir=state_dir) as after:
            assert after.counters.resumed == 0
            after.raise_alert(first)
            after.raise_alert(second)
            after.raise_alert(last)  # once it arrived, any duplicate sent before it had too
            assert subscriber.wait_for_alert(last.alert_id)
            assert inbox.wait_for(3, WAIT_S)
            assert after.wait_idle(WAIT_S)
        counters = after.counters

    assert subscriber.alert_ids() == [first.alert_id, second.alert_id, last.alert_id]
    assert [a["alert_id"] for a in inbox.alerts()] == subscriber.alert_ids()
    assert (counters.raised, counters.duplicates_dropped) == (1, 2)
    assert (counters.published, counters.pushed, counters.pending) == (1, 1, 0)


def test_mqtt_is_retried_until_the_broker_takes_the_alert_while_a_push_is_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    published: list[str] = []
    refusals = iter(range(3))

    def flaky_publish(topic: str, _payload: bytes) -> None:
        if next(refusals, None) is not None:
            raise ConnectionError("MQTT client not ready")
        published.append(topic)

    alert = make_alert(1)
    with LocalInbox() as inbox:
        inbox.fail_next(1)
        settings = settings_for(inbox.apprise_url, retries=0, retry_initial_s=0.05)
        with AlertDispatcher(flaky_publish, settings) as dispatcher:
            dispatcher.raise_alert(alert)
            assert dispatcher.wait_idle(WAIT_S)
            entry = dispatcher.outbox.get(alert.alert_id)
        assert inbox.alerts() == []

    assert published == ["thermogate/v1/alerts/wenyuan-2"]
    assert entry is not None and entry.published and entry.gave_up
    assert (entry.publish_attempts, entry.push_attempts) == (4, 1)
    counters = dispatcher.counters
    assert (counters.published, counters.publish_failed) == (1, 3)
    assert (counters.pushed, counters.push_failed, counters.pending) == (0, 1, 0)
    retried = [r for r in caplog.records if r.getMessage() == "alert publish failed, retrying"]
    assert [getattr(r, "attempt", None) for r in retried] == [1, 2, 3]


def test_an_alert_published_while_disconnected_counts_once_the_broker_acknowledged_it(
    mosquitto: MosquittoServer, subscriber: AlertSubscriber
) -> None:
    connection = MqttConnection(mosquitto.mqtt_settings(), "test-outbox-late")
    alert = make_alert(1)
    with AlertDispatcher(connection.publish, settings_for()) as dispatcher:
        dispatcher.raise_alert(alert)  # the client is not connected yet: paho queues it
        time.sleep(0.5)
        assert (dispatcher.counters.published, dispatcher.counters.pending) == (0, 1)
        entry = dispatcher.outbox.get(alert.alert_id)
        assert entry is not None and not entry.published

        connection.start()
        try:
            assert subscriber.wait_for_alert(alert.alert_id)
            assert dispatcher.wait_idle(WAIT_S)
        finally:
            connection.stop()
    assert subscriber.alert_ids() == [alert.alert_id]
    assert dispatcher.counters.published == 1


def test_close_right_after_raise_delivers_and_returns_at_once() -> None:
    published: list[str] = []
    channel = CountingChannel("inbox")
    for n in range(20):  # a close that races the workers must not be slept through
        dispatcher = AlertDispatcher(
            lambda topic, _p: published.append(topic), settings_for(), channels=[channel]
        )
        dispatcher.raise_alert(make_alert(n))
        started = time.monotonic()
        dispatcher.close()
        assert time.monotonic() - started < 1.0
        assert (len(published), len(channel.sent), dispatcher.counters.pending) == (n + 1,) * 2 + (
            0,
        )


class CountingChannel:
    """A push channel that refuses its first ``refusals`` notifications."""

    def __init__(self, name: str, refusals: int = 0) -> None:
        self.name = name
        self.refusals = refusals
        self.sent: list[str] = []

    def send(self, notification: PushNotification) -> bool:
        self.sent.append(notification.key)
        if self.refusals > 0:
            self.refusals -= 1
            return False
        return True


def test_a_channel_that_accepted_is_not_pushed_again_while_another_is_retried(
    tmp_path: Path,
) -> None:
    steady, flaky = CountingChannel("steady"), CountingChannel("flaky", refusals=2)
    twin = CountingChannel("steady")  # same name as another channel: kept apart
    alert = make_alert(1)
    settings = settings_for(retries=5, retry_initial_s=0.05)
    channels = [steady, flaky, twin]
    with AlertDispatcher(
        lambda _t, _p: None, settings, channels=channels, state_dir=tmp_path
    ) as dispatcher:
        dispatcher.raise_alert(alert)
        assert dispatcher.wait_idle(WAIT_S)
        entry = dispatcher.outbox.get(alert.alert_id)

    assert steady.sent == twin.sent == [alert.alert_id]
    assert flaky.sent == [alert.alert_id] * 3
    assert entry is not None and entry.pushed
    assert (entry.push_done, entry.push_attempts) == ({"steady", "flaky", "steady#2"}, 3)


def push_attempts(dispatcher: AlertDispatcher, alert_id: str) -> int:
    entry = dispatcher.outbox.get(alert_id)
    return -1 if entry is None else entry.push_attempts


def test_pushes_left_at_close_are_resumed_by_the_next_dispatcher(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    late = LocalInbox(port)
    settings = settings_for(late.apprise_url, retries=20, retry_initial_s=30.0)
    alert = make_alert(1)
    with AlertDispatcher(lambda _t, _p: None, settings, state_dir=tmp_path) as first:
        first.raise_alert(alert)
        assert wait_until(lambda: push_attempts(first, alert.alert_id) == 1)
        first.close(timeout=0.2)  # the next retry is seconds away: left in the outbox
    left = [r for r in caplog.records if r.getMessage() == "alerts not pushed before close"]
    assert [getattr(r, "alert_ids", None) for r in left] == [[alert.alert_id]]

    with late, AlertDispatcher(lambda _t, _p: None, settings, state_dir=tmp_path) as second:
        assert second.counters.resumed == 1
        assert late.wait_for(1, 5.0)  # at once, not after the 15 to 30 s backoff
        assert second.wait_idle(WAIT_S)
    assert [a["alert_id"] for a in late.alerts()] == [alert.alert_id]


# -- kill -9 -----------------------------------------------------------------------------
CHILD = """
import sys, threading, time
from pathlib import Path
from pydantic import SecretStr
from thermogate.alerts import AlertDispatcher
from thermogate.config import AlertSettings, MqttSettings
from thermogate.contract.messages import Alert
from thermogate.mqtt import MqttConnection

state_dir, push_url, mqtt_port, wait_published = sys.argv[1:5]
connection = MqttConnection(MqttSettings(port=int(mqtt_port)), "test-outbox-child")
connection.start()
settings = AlertSettings(push_urls=[SecretStr(push_url)], retries=20, retry_initial_s=30.0)
dispatcher = AlertDispatcher(connection.publish, settings, state_dir=Path(state_dir))
alerts = [Alert.model_validate_json(line) for line in sys.stdin]
for alert in alerts:
    dispatcher.raise_alert(alert)
    print("raised", alert.alert_id, flush=True)
while wait_published == "yes" and dispatcher.counters.published < len(alerts):
    time.sleep(0.01)
print("ready", flush=True)
threading.Event().wait()
"""


class Child:
    """The gateway's alert side in a process of its own, to be killed with SIGKILL."""

    def __init__(
        self, tmp_path: Path, state_dir: Path, push_url: str, mqtt_port: int, wait_published: bool
    ) -> None:
        self._stderr_path = tmp_path / "child.stderr"
        self._stderr = self._stderr_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(state_dir),
                push_url,
                str(mqtt_port),
                "yes" if wait_published else "no",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=tmp_path,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.strip())
        self._lines.put(None)

    def raise_alerts(self, payloads: list[bytes]) -> list[str]:
        """Send the alerts; return what the child said up to ``ready``."""
        assert self.process.stdin is not None
        self.process.stdin.write("".join(p.decode() + "\n" for p in payloads))
        self.process.stdin.close()
        said: list[str] = []
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.kill()
                pytest.fail(f"child said {said}; stderr: {self._stderr_path.read_text()[-2000:]}")
            if line == "ready":
                return said
            said.append(line)

    def kill(self) -> None:
        """SIGKILL: nothing is flushed, no close() runs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)
        self._stderr.close()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "gateway"


def test_alerts_stored_before_a_kill_9_are_delivered_once_after_the_restart(
    tmp_path: Path, state_dir: Path, publisher: MqttConnection, subscriber: AlertSubscriber
) -> None:
    alerts = [make_alert(n, building=("wenyuan-2", "wenyuan-3")[n % 2]) for n in range(8)]
    ids = [a.alert_id for a in alerts]
    push_port, dead_broker_port = free_port(), free_port()
    inbox = LocalInbox(push_port)  # the clinic's endpoint: down while the child runs

    # The child's broker and push target are both unreachable; it is killed right after
    # raise_alert returned for every alert (the moment the gateway acknowledges).
    child = Child(tmp_path, state_dir, inbox.apprise_url, dead_broker_port, wait_published=False)
    said = child.raise_alerts([encode(a) for a in alerts])
    child.kill()
    assert said == [f"raised {i}" for i in ids]
    assert child.process.returncode == -signal.SIGKILL
    assert subscriber.alert_ids() == []

    sentinel = make_alert(99)
    with (
        inbox,
        AlertDispatcher(
            publisher.publish, settings_for(inbox.apprise_url), state_dir=state_dir
        ) as restarted,
    ):
        assert restarted.counters.resumed == len(alerts)
        for alert in alerts:  # the broker redelivers what the killed gateway had in hand
            restarted.raise_alert(alert)
        restarted.raise_alert(sentinel)  # delivered after the others: duplicates would be first
        assert subscriber.wait_for_alert(sentinel.alert_id)
        assert inbox.wait_for(len(alerts) + 1, WAIT_S)
        assert restarted.wait_idle(WAIT_S)
        counters = restarted.counters

    assert sorted(subscriber.alert_ids()) == sorted([*ids, sentinel.alert_id])
    assert sorted(a["alert_id"] for a in inbox.alerts()) == sorted([*ids, sentinel.alert_id])
    assert len(inbox.messages()) == len(alerts) + 1
    for received in subscriber.messages:
        assert received.topic.startswith("thermogate/v1/alerts/wenyuan-")
    assert (counters.duplicates_dropped, counters.raised) == (len(alerts), 1)
    assert (counters.published, counters.pushed, counters.pending) == (len(alerts) + 1,) * 2 + (0,)


def test_a_kill_9_after_the_pubacks_resumes_only_the_pushes(
    tmp_path: Path,
    state_dir: Path,
    mosquitto: MosquittoServer,
    publisher: MqttConnection,
    subscriber: AlertSubscriber,
) -> None:
    alerts = [make_alert(n) for n in range(5)]
    ids = [a.alert_id for a in alerts]
    inbox = LocalInbox(free_port())

    # The child reaches the broker (every PUBACK marked) but not the push target.
    child = Child(tmp_path, state_dir, inbox.apprise_url, mosquitto.port, wait_published=True)
    said = child.raise_alerts([encode(a) for a in alerts])
    child.kill()
    assert said == [f"raised {i}" for i in ids]
    assert subscriber.wait_for_alert(ids[-1])

    sentinel = make_alert(99)
    with (
        inbox,
        AlertDispatcher(
            publisher.publish, settings_for(inbox.apprise_url), state_dir=state_dir
        ) as restarted,
    ):
        assert restarted.counters.resumed == len(alerts)
        restarted.raise_alert(sentinel)
        assert subscriber.wait_for_alert(sentinel.alert_id)
        assert inbox.wait_for(len(alerts) + 1, WAIT_S)
        assert restarted.wait_idle(WAIT_S)
        counters = restarted.counters
        entries = [restarted.outbox.get(i) for i in ids]

    assert subscriber.alert_ids() == [*ids, sentinel.alert_id]  # none published twice
    assert sorted(a["alert_id"] for a in inbox.alerts()) == sorted([*ids, sentinel.alert_id])
    assert len(inbox.messages()) == len(alerts) + 1
    assert (counters.published, counters.pushed) == (1, len(alerts) + 1)
    assert all(e is not None and e.finished and e.publish_attempts == 1 for e in entries)
