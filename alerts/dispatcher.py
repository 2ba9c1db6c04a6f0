"""Deliver each alert once per id: on disk first, then on MQTT and to the push channels.

The gateway calls :meth:`AlertDispatcher.raise_alert` from its batch worker and acknowledges
the batch's MQTT messages right after, so the call stores the alert in the outbox
(:mod:`thermogate.alerts.outbox`) and returns only once that commit is durable; an id the
outbox already holds is dropped there (the persistent deduplication of redelivered readings).
It never waits for the network.

Two worker threads then deliver from the outbox, so a hung webhook never delays MQTT:

- ``alerts-mqtt`` hands due alerts to the publish callable, waits for each PUBACK through the
  returned :class:`paho.mqtt.client.MQTTMessageInfo` and marks the alert published. A failed
  publication is retried with backoff for as long as it takes: it is never given up.
- ``alerts-push`` sends due alerts through every channel that has not accepted them yet,
  records each acceptance, retries with exponential backoff and jitter, and gives a push up
  after ``settings.retries`` retries.

At start-up every unfinished alert in the outbox is resumed, so a gateway killed between
storing an alert and sending it delivers it when it comes back. A kill between a delivery and
its mark sends that one alert again: receivers drop it by its ``alert_id``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from thermogate.alerts.dedupe import DEFAULT_CAPACITY, RecentIds
from thermogate.alerts.outbox import FILE_NAME, AlertOutbox, OutboxClosedError, OutboxEntry
from thermogate.alerts.push import Channel, PushNotification, apprise_channels
from thermogate.config import AlertSettings
from thermogate.contract.messages import Alert
from thermogate.contract.topics import alerts_topic

log = logging.getLogger(__name__)

DEFAULT_QUEUE_MAX: Final = 10_000
"""Alerts a worker holds in memory at once (awaiting a PUBACK); the rest wait in the outbox."""
BACKOFF_MAX_S: Final = 60.0
"""No retry waits longer than this, however many attempts came before."""
CLOSE_TIMEOUT_S: Final = 10.0
DEFAULT_RETENTION_DAYS: Final = 30.0
"""Finished alerts stay this long (and deduplicate); longer than the broker keeps a session."""
PUBACK_POLL_S: Final = 0.1
"""How long the MQTT worker waits on one PUBACK before it looks for new alerts again."""
PUBACK_WARN_S: Final = 10.0
"""An alert still without PUBACK after this long is logged (once; it keeps waiting)."""
IDLE_MAX_S: Final = 5.0
"""A worker with nothing due looks at the outbox again after at most this long."""
PRUNE_INTERVAL_S: Final = 3600.0
ERROR_PAUSE_S: Final = 1.0
"""A worker pauses this long after an unexpected error before it tries again."""
LOGGED_IDS_MAX: Final = 20

_JITTER: Final = random.Random()
_MQTT: Final = "mqtt"
_PUSH: Final = "push"

Publish = Callable[[str, bytes], object]
"""Publishes a payload on a topic at QoS 1, not retained (``MqttConnection.publish``).

When it returns a :class:`paho.mqtt.client.MQTTMessageInfo` the alert counts as published
once the broker acknowledged it; any other return value counts as published at once.
"""


def backoff_delay(attempt: int, initial_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): doubling, equal jitter.

    The base doubles from ``initial_s`` up to :data:`BACKOFF_MAX_S`; the delay is drawn in
    ``[base / 2, base]`` so that retries of many alerts do not hit a recovering target together.
    """
    base = min(BACKOFF_MAX_S, initial_s * 2.0 ** min(attempt - 1, 64))
    return base / 2 + (rng or _JITTER).uniform(0.0, base / 2)


@dataclass(frozen=True, slots=True)
class AlertCounters:
    """What the dispatcher has done since it started."""

    raised: int
    """Alerts accepted (first sight of their id), each stored in the outbox."""
    duplicates_dropped: int
    """Alerts refused because their id was seen before (in this process or in the outbox)."""
    published: int
    """Alerts the broker acknowledged (or the publish callable took, if it gives no handle)."""
    publish_failed: int
    """Failed publish attempts (each one is retried until the broker takes the alert)."""
    pushed: int
    """Alerts every push channel accepted."""
    push_failed: int
    """Alerts given up on after the last retry (some channel never accepted them)."""
    push_dropped: int
    """Always 0: nothing is dropped since pushes wait in the outbox (kept for readers)."""
    pending: int
    """Alerts in the outbox with a delivery still to do (MQTT or push)."""
    resumed: int = 0
    """Unfinished alerts found in the outbox at start-up (a previous process left them)."""


@dataclass(slots=True)
class _Counts:
    raised: int = 0
    duplicates_dropped: int = 0
    published: int = 0
    publish_failed: int = 0
    pushed: int = 0
    push_failed: int = 0
    pending: int = 0
    resumed: int = 0


@dataclass(slots=True)
class _Handoff:
    """An alert handed to the MQTT client, waiting for its PUBACK."""

    entry: OutboxEntry
    topic: str
    info: paho.MQTTMessageInfo | None
    """None: the publish callable gave no handle, so it counts as published."""
    since: float
    warned: bool = False


class AlertDispatcher:
    """Stores alerts durably, then publishes them on MQTT and pushes them through channels."""

    def __init__(
        self,
        publish: Publish,
        settings: AlertSettings,
        *,
        channels: Sequence[Channel] | None = None,
        queue_max: int = DEFAULT_QUEUE_MAX,
        dedupe_capacity: int = DEFAULT_CAPACITY,
        state_dir: Path | None = None,
        retention_days: float = DEFAULT_RETENTION_DAYS,
    ) -> None:
        """Build the channels, open the outbox, resume what it holds and start the workers.

        ``state_dir`` holds the outbox (``alerts.sqlite3``); None keeps it in memory, for
        callers that need no durability. Raises :class:`thermogate.config.ConfigError` when
        apprise cannot use a URL.
        """
        if queue_max < 1:
            raise ValueError(f"queue_max must be at least 1, got {queue_max}")
        self._publish = publish
        self._retries = settings.retries
        self._retry_initial_s = settings.retry_initial_s
        self._channels = (
            list(channels) if channels is not None else apprise_channels(settings.push_urls)
        )
        self._channel_keys = _channel_keys(self._channels)
        self._queue_max = queue_max
        self._retention_s = retention_days * 86_400.0
        self._seen = RecentIds(dedupe_capacity)
        self._outbox = AlertOutbox(None if state_dir is None else state_dir / FILE_NAME)
        self._durable = state_dir is not None
        self._counts = _Counts()
        self._cond = threading.Condition()
        self._wake = {_MQTT: False, _PUSH: False}
        self._closing = False
        self._deadline = 0.0
        self._rng = random.Random()
        self._in_flight: dict[str, _Handoff] = {}  # the MQTT worker's alone
        try:
            self._resume()
        except BaseException:
            self._outbox.close()
            raise
        self._workers = [threading.Thread(target=self._run_mqtt, name="alerts-mqtt", daemon=True)]
        if self._channels:
            self._workers.append(
                threading.Thread(target=self._run_push, name="alerts-push", daemon=True)
            )
        for worker in self._workers:
            worker.start()

    @property
    def channels(self) -> list[str]:
        """The names of the push channels (secrets masked)."""
        return [channel.name for channel in self._channels]

    @property
    def outbox(self) -> AlertOutbox:
        """The outbox behind the dispatcher (to inspect; the dispatcher owns its rows)."""
        return self._outbox

    @property
    def counters(self) -> AlertCounters:
        """A consistent snapshot of the counters."""
        with self._cond:
            c = self._counts
            return AlertCounters(
                raised=c.raised,
                duplicates_dropped=c.duplicates_dropped,
                published=c.published,
                publish_failed=c.publish_failed,
                pushed=c.pushed,
                push_failed=c.push_failed,
                push_dropped=0,
                pending=c.pending,
                resumed=c.resumed,
            )

    def raise_alert(self, alert: Alert) -> None:
        """Store the alert durably (once per ``alert_id``) for the workers to deliver.

        When this returns the alert survives a crash, so the gateway may acknowledge the
        reading. Raises (and keeps nothing) when it cannot be stored, e.g. after :meth:`close`
        or on a disk error: the gateway then leaves the reading unacknowledged.
        """
        key = alert.alert_id
        if key in self._seen or not self._outbox.add(alert, push=bool(self._channels)):
            self._seen.add(key)
            with self._cond:
                self._counts.duplicates_dropped += 1
            log.info("duplicate alert dropped", extra={"alert_id": key})
            return
        self._seen.add(key)
        with self._cond:
            self._counts.raised += 1
            self._wake[_MQTT] = self._wake[_PUSH] = True
            self._refresh_pending()
        log.info(
            "alert raised",
            extra={
                "alert_id": key,
                "building": alert.building,
                "entrance": alert.entrance,
                "severity": alert.severity.value,
                "temp_c": alert.temp_c,
            },
        )

    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        """:meth:`raise_alert` for a batch's alerts, stored in one durable transaction."""
        fresh = [alert for alert in alerts if alert.alert_id not in self._seen]
        added = self._outbox.add_many(fresh, push=bool(self._channels))
        raised = [alert for alert, new in zip(fresh, added, strict=True) if new]
        for alert in alerts:
            self._seen.add(alert.alert_id)
        with self._cond:
            self._counts.duplicates_dropped += len(alerts) - len(raised)
            if raised:
                self._counts.raised += len(raised)
                self._wake[_MQTT] = self._wake[_PUSH] = True
                self._refresh_pending()
        for alert in raised:
            log.info(
                "alert raised",
                extra={
                    "alert_id": alert.alert_id,
                    "building": alert.building,
                    "entrance": alert.entrance,
                    "severity": alert.severity.value,
                    "temp_c": alert.temp_c,
                },
            )

    def wait_idle(self, timeout: float) -> bool:
        """Block until no alert has a delivery to do (or the timeout); True when none has."""
        with self._cond:
            return self._cond.wait_for(lambda: self._counts.pending == 0, timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Deliver what is pending for up to ``timeout`` s, stop the workers, close the outbox.

        Alerts still pending at the deadline stay in the outbox and are resumed by the next
        dispatcher on the same ``state_dir`` (lost only with an in-memory outbox).
        """
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._wake[_MQTT] = self._wake[_PUSH] = True
            self._cond.notify_all()
        for worker in self._workers:
            worker.join(max(0.0, self._deadline - time.monotonic()) + 1.0)
            if worker.is_alive():
                log.warning(
                    "alert worker still sending at close; left to finish alone",
                    extra={"worker": worker.name},
                )
        try:
            self._log_left_over()
            with self._cond:
                self._refresh_pending()
        finally:
            self._outbox.close()

    def __enter__(self) -> AlertDispatcher:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- start and stop -------------------------------------------------------------------
    def _resume(self) -> None:
        """Prune old finished rows and make every unfinished one due now."""
        self._prune()
        if not self._channels:
            dropped = self._outbox.give_up_all_pushes("no push channel configured")
            if dropped:
                log.warning(
                    "pending pushes given up: no push channel configured", extra={"count": dropped}
                )
        resumed = self._outbox.resume()
        with self._cond:
            self._counts.resumed = resumed
            self._refresh_pending()
        if resumed:
            log.info(
                "resuming unfinished alerts from the outbox",
                extra={
                    "count": resumed,
                    "unpublished": self._outbox.unpublished(),
                    "unpushed": self._outbox.unpushed(),
                    "path": str(self._outbox.path),
                },
            )

    def _prune(self) -> None:
        pruned = self._outbox.prune(self._retention_s)
        if pruned:
            log.info(
                "finished alerts pruned from the outbox",
                extra={"count": pruned, "retention_days": self._retention_s / 86_400.0},
            )

    def _log_left_over(self) -> None:
        """Name the alerts the workers did not finish before close."""
        kept = "kept in the outbox" if self._durable else "lost (in-memory outbox)"
        level = logging.WARNING if self._durable else logging.ERROR
        for what, count, ids in (
            ("published", self._outbox.unpublished(), self._outbox.unpublished_ids),
            ("pushed", self._outbox.unpushed(), self._outbox.unpushed_ids),
        ):
            if count:
                log.log(
                    level,
                    f"alerts not {what} before close",
                    extra={"count": count, "alert_ids": ids(LOGGED_IDS_MAX), "outcome": kept},
                )

    def _refresh_pending(self) -> None:
        """Recount the unfinished alerts (call with ``self._cond`` held) and wake waiters."""
        self._counts.pending = self._outbox.unfinished()
        self._cond.notify_all()

    def _stopping(self, remaining: Callable[[], int]) -> bool:
        """True when a worker must stop: closing, and past the deadline or out of work."""
        with self._cond:
            if not self._closing:
                return False
            if time.monotonic() >= self._deadline:
                return True
        return remaining() == 0

    def _idle(self, lane: str, due_at: float | None) -> None:
        """Sleep until new work, ``due_at`` (wall clock), the close deadline or IDLE_MAX_S."""
        with self._cond:
            if not self._wake[lane]:
                timeout = IDLE_MAX_S
                if due_at is not None:
                    timeout = min(timeout, max(0.0, due_at - time.time()))
                if self._closing:
                    timeout = min(timeout, max(0.0, self._deadline - time.monotonic()))
                self._cond.wait(timeout)
            self._wake[lane] = False

    def _guarded(self, lane: str, step: Callable[[], bool]) -> None:
        """Run a worker's steps until it must stop; survive unexpected errors."""
        while True:
            try:
                if not step():
                    return
            except OutboxClosedError:
                return
            except Exception:
                log.exception("alert worker error; retrying", extra={"worker": lane})
                with self._cond:
                    self._cond.wait(ERROR_PAUSE_S)

    # -- MQTT -----------------------------------------------------------------------------
    def _run_mqtt(self) -> None:
        next_prune = time.monotonic() + PRUNE_INTERVAL_S

        def step() -> bool:
            nonlocal next_prune
            self._hand_over_due()
            self._collect_pubacks()
            # Checked after the work and before the wait: a close that came during the work
            # must not be slept through.
            if self._stopping(lambda: len(self._in_flight) + self._outbox.unpublished()):
                return False
            self._await_mqtt()
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_INTERVAL_S
                self._prune()
            return True

        self._guarded(_MQTT, step)

    def _hand_over_due(self) -> None:
        """Hand the due alerts to MQTT, as many as fit beside those awaiting a PUBACK."""
        room = self._queue_max - len(self._in_flight)
        if room > 0:
            for entry in self._outbox.due_publications(room, exclude=self._in_flight):
                self._hand_over(entry)

    def _await_mqtt(self) -> None:
        """Wait a little for the oldest PUBACK, or for new work when none is awaited."""
        if not self._in_flight:
            self._idle(_MQTT, self._outbox.next_publication_at())
            return
        oldest = next(iter(self._in_flight.values()))
        if oldest.info is not None:
            with contextlib.suppress(RuntimeError, ValueError):  # collected on the next step
                oldest.info.wait_for_publish(PUBACK_POLL_S)

    def _hand_over(self, entry: OutboxEntry) -> None:
        topic = alerts_topic(entry.alert().building)
        try:
            result = self._publish(topic, entry.payload)
        except Exception as exc:  # noqa: BLE001 - a failed attempt, logged with its traceback
            self._publish_failed(entry, f"publish raised {exc!r}", exc_info=True)
            return
        info = result if isinstance(result, paho.MQTTMessageInfo) else None
        if info is not None and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            # paho queued the message and sends it on reconnect, but leaves rc at NO_CONN,
            # which would make wait_for_publish raise even after the PUBACK: it is queued.
            info.rc = MQTTErrorCode.MQTT_ERR_SUCCESS
            log.warning(
                "MQTT disconnected; alert queued until reconnect",
                extra={"alert_id": entry.alert_id, "topic": topic},
            )
        elif info is not None and info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._publish_failed(entry, f"MQTT client refused: {paho.error_string(info.rc)}")
            return
        self._in_flight[entry.alert_id] = _Handoff(entry, topic, info, time.monotonic())

    def _collect_pubacks(self) -> None:
        """Mark every acknowledged alert published (one transaction)."""
        done: list[_Handoff] = []
        for key, handoff in list(self._in_flight.items()):
            try:
                published = handoff.info is None or handoff.info.is_published()
            except (RuntimeError, ValueError) as exc:
                del self._in_flight[key]
                self._publish_failed(handoff.entry, f"MQTT publish failed: {exc}")
                continue
            if published:
                done.append(handoff)
            elif not handoff.warned and time.monotonic() - handoff.since > PUBACK_WARN_S:
                handoff.warned = True
                log.warning(
                    "alert still waiting for its PUBACK",
                    extra={"alert_id": key, "topic": handoff.topic, "waited_s": PUBACK_WARN_S},
                )
        if not done:
            return
        self._outbox.mark_published(h.entry.alert_id for h in done)
        for handoff in done:
            del self._in_flight[handoff.entry.alert_id]
            log.info(
                "alert published",
                extra={
                    "alert_id": handoff.entry.alert_id,
                    "topic": handoff.topic,
                    "attempts": handoff.entry.publish_attempts + 1,
                },
            )
        with self._cond:
            self._counts.published += len(done)
            self._refresh_pending()

    def _publish_failed(self, entry: OutboxEntry, error: str, *, exc_info: bool = False) -> None:
        """Schedule another attempt: MQTT publication is never given up."""
        attempt = entry.publish_attempts + 1
        delay = backoff_delay(attempt, self._retry_initial_s, self._rng)
        self._outbox.record_publish_failure(
            entry.alert_id, retry_at=time.time() + delay, error=error
        )
        with self._cond:
            self._counts.publish_failed += 1
        log.warning(
            "alert publish failed, retrying",
            extra={
                "alert_id": entry.alert_id,
                "attempt": attempt,
                "retry_in_s": round(delay, 3),
                "error": error,
            },
            exc_info=exc_info,
        )

    # -- push -----------------------------------------------------------------------------
    def _run_push(self) -> None:
        def step() -> bool:
            if self._stopping(self._outbox.unpushed):
                return False
            due = self._outbox.due_pushes(1)
            if not due:
                self._idle(_PUSH, self._outbox.next_push_at())
                return True
            self._attempt(due[0])
            return True

        self._guarded(_PUSH, step)

    def _attempt(self, entry: OutboxEntry) -> None:
        """Push one alert to every channel that has not accepted it yet; record the outcome."""
        key = entry.alert_id
        notification = PushNotification.from_alert(entry.alert())
        done = set(entry.push_done)
        failed: list[str] = []
        for name, channel in zip(self._channel_keys, self._channels, strict=True):
            if name in done:
                continue
            if self._send(channel, notification):
                done.add(name)
            else:
                failed.append(channel.name)
        attempts = entry.push_attempts + 1
        if not failed:
            self._outbox.mark_pushed(key, done)
            with self._cond:
                self._counts.pushed += 1
                self._refresh_pending()
            log.info("alert pushed", extra={"alert_id": key, "attempts": attempts})
            return
        error = f"not accepted by {', '.join(failed)}"
        if attempts > self._retries:
            self._outbox.give_up_push(key, done, error=error)
            with self._cond:
                self._counts.push_failed += 1
                self._refresh_pending()
            log.error(
                "alert push failed, giving up",
                extra={"alert_id": key, "attempts": attempts, "channels": failed},
            )
            return
        delay = backoff_delay(attempts, self._retry_initial_s, self._rng)
        self._outbox.record_push_failure(key, done, retry_at=time.time() + delay, error=error)
        log.warning(
            "alert push failed, retrying",
            extra={
                "alert_id": key,
                "attempt": attempts,
                "retries": self._retries,
                "retry_in_s": round(delay, 3),
                "channels": failed,
            },
        )

    def _send(self, channel: Channel, notification: PushNotification) -> bool:
        """One channel, one attempt; a channel that raises has failed this attempt."""
        try:
            return channel.send(notification)
        except Exception:
            log.warning(
                "alert push channel raised",
                extra={"alert_id": notification.key, "channel": channel.name},
                exc_info=True,
            )
            return False


def _channel_keys(channels: Sequence[Channel]) -> list[str]:
    """A stable key per channel for the outbox: its name, numbered when names repeat."""
    counts: dict[str, itertools.count[int]] = {}
    keys = []
    for channel in channels:
        n = next(counts.setdefault(channel.name, itertools.count(1)))
        keys.append(channel.name if n == 1 else f"{channel.name}#{n}")
    return keys
