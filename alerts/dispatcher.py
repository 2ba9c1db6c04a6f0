"""Deliver each alert once: on MQTT at once, to the push channels from a worker thread.

The gateway calls :meth:`AlertDispatcher.raise_alert` from its batch worker, so the call only
deduplicates, hands the alert to the MQTT client (which queues it) and appends it to a
bounded push queue; it never waits for the network. One worker thread sends the pushes and
retries failed targets with exponential backoff and jitter, without holding up other alerts
while a retry waits. A later issue adds a persisted outbox in front of that queue.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

from paho.mqtt.enums import MQTTErrorCode

from thermogate.alerts.dedupe import DEFAULT_CAPACITY, RecentIds
from thermogate.alerts.push import Channel, PushNotification, apprise_channels
from thermogate.config import AlertSettings
from thermogate.contract.messages import Alert, encode
from thermogate.contract.topics import alerts_topic

log = logging.getLogger(__name__)

DEFAULT_QUEUE_MAX: Final = 10_000
"""Alerts waiting for push (queued or between retries) before new ones are refused."""
BACKOFF_MAX_S: Final = 60.0
"""No retry waits longer than this, however many attempts came before."""
CLOSE_TIMEOUT_S: Final = 10.0

_JITTER: Final = random.Random()

Publish = Callable[[str, bytes], object]
"""Publishes a payload on a topic at QoS 1, not retained (``MqttConnection.publish``)."""


def backoff_delay(attempt: int, initial_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): doubling, equal jitter.

    The base doubles from ``initial_s`` up to :data:`BACKOFF_MAX_S`; the delay is drawn in
    ``[base / 2, base]`` so that retries of many alerts do not hit a recovering target together.
    """
    base = min(BACKOFF_MAX_S, initial_s * 2.0 ** (attempt - 1))
    return base / 2 + (rng or _JITTER).uniform(0.0, base / 2)


@dataclass(frozen=True, slots=True)
class AlertCounters:
    """What the dispatcher has done since it started."""

    raised: int
    """Alerts accepted (first sight of their id)."""
    duplicates_dropped: int
    """Alerts refused because their id was seen before."""
    published: int
    """Alerts handed to the MQTT client (queued there while it reconnects)."""
    publish_failed: int
    """Alerts the MQTT client refused."""
    pushed: int
    """Alerts every push channel accepted."""
    push_failed: int
    """Alerts given up on after the last retry (some channel never accepted them)."""
    push_dropped: int
    """Alerts not queued for push: the queue was full or the dispatcher closed."""
    pending: int
    """Alerts queued or waiting for a retry."""


@dataclass(slots=True)
class _Delivery:
    """One alert on its way to the channels that have not accepted it yet."""

    notification: PushNotification
    channels: list[Channel]
    attempts: int = 0


@dataclass(slots=True)
class _Counts:
    raised: int = 0
    duplicates_dropped: int = 0
    published: int = 0
    publish_failed: int = 0
    pushed: int = 0
    push_failed: int = 0
    push_dropped: int = 0
    pending: int = 0


@dataclass(order=True, slots=True)
class _Retry:
    due: float
    order: int
    delivery: _Delivery = field(compare=False)


class AlertDispatcher:
    """Publishes alerts on MQTT and pushes them through the configured channels."""

    def __init__(
        self,
        publish: Publish,
        settings: AlertSettings,
        *,
        channels: Sequence[Channel] | None = None,
        queue_max: int = DEFAULT_QUEUE_MAX,
        dedupe_capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        """Build the channels (``settings.push_urls`` unless given) and start the worker.

        Raises :class:`thermogate.config.ConfigError` when apprise cannot use a URL.
        """
        self._publish = publish
        self._retries = settings.retries
        self._retry_initial_s = settings.retry_initial_s
        self._channels = (
            list(channels) if channels is not None else apprise_channels(settings.push_urls)
        )
        self._queue_max = queue_max
        self._seen = RecentIds(dedupe_capacity)
        self._counts = _Counts()
        self._cond = threading.Condition()
        self._ready: deque[_Delivery] = deque()
        self._retrying: list[_Retry] = []
        self._in_flight: _Delivery | None = None
        self._order = itertools.count()
        self._closing = False
        self._deadline = 0.0
        self._rng = random.Random()
        self._worker: threading.Thread | None = None
        if self._channels:
            self._worker = threading.Thread(target=self._run, name="alerts-push", daemon=True)
            self._worker.start()

    @property
    def channels(self) -> list[str]:
        """The names of the push channels (secrets masked)."""
        return [channel.name for channel in self._channels]

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
                push_dropped=c.push_dropped,
                pending=c.pending,
            )

    def raise_alert(self, alert: Alert) -> None:
        """Publish the alert and queue its push, once per ``alert_id``; never waits on I/O."""
        if not self._seen.add(alert.alert_id):
            with self._cond:
                self._counts.duplicates_dropped += 1
            log.info("duplicate alert dropped", extra={"alert_id": alert.alert_id})
            return
        with self._cond:
            self._counts.raised += 1
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
        self._publish_mqtt(alert)
        if self._channels:
            self._enqueue(alert)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no push is pending (or the timeout); True when none is."""
        with self._cond:
            return self._cond.wait_for(lambda: self._counts.pending == 0, timeout)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Stop taking pushes, deliver what is pending for up to ``timeout`` s, stop the worker.

        Pushes still pending at the deadline are logged as lost (the outbox will keep them).
        """
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout + 1.0)
            if self._worker.is_alive():
                log.warning("alert push worker still sending at close; left to finish alone")
        with self._cond:
            count = self._counts.pending
            waiting = [self._in_flight] if self._in_flight is not None else []
            waiting += [*self._ready, *(r.delivery for r in sorted(self._retrying))]
        if count:
            log.error(
                "alerts not pushed before close",
                extra={"count": count, "alert_ids": [d.notification.key for d in waiting[:20]]},
            )

    def __enter__(self) -> AlertDispatcher:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()

    def _publish_mqtt(self, alert: Alert) -> None:
        topic = alerts_topic(alert.building)
        try:
            result = self._publish(topic, encode(alert))
        except Exception:
            with self._cond:
                self._counts.publish_failed += 1
            log.error(
                "alert publish failed",
                extra={"alert_id": alert.alert_id, "topic": topic},
                exc_info=True,
            )
            return
        rc = getattr(result, "rc", MQTTErrorCode.MQTT_ERR_SUCCESS)
        accepted = rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)
        with self._cond:
            if accepted:
                self._counts.published += 1
            else:
                self._counts.publish_failed += 1
        if rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            log.warning(
                "MQTT disconnected; alert queued until reconnect",
                extra={"alert_id": alert.alert_id, "topic": topic},
            )
        elif not accepted:
            log.error(
                "alert publish refused by MQTT client",
                extra={"alert_id": alert.alert_id, "topic": topic, "rc": int(rc)},
            )

    def _enqueue(self, alert: Alert) -> None:
        delivery = _Delivery(PushNotification.from_alert(alert), list(self._channels))
        with self._cond:
            reason = (
                "dispatcher closed"
                if self._closing
                else "push queue full"
                if self._counts.pending >= self._queue_max
                else None
            )
            if reason is None:
                self._ready.append(delivery)
                self._counts.pending += 1
                self._cond.notify_all()
                return
            self._counts.push_dropped += 1
        log.error(
            "alert push dropped",
            extra={"alert_id": alert.alert_id, "reason": reason, "queue_max": self._queue_max},
        )

    def _next(self) -> _Delivery | None:
        """The next delivery to attempt, waiting for one; None when the worker must stop."""
        with self._cond:
            while True:
                now = time.monotonic()
                if self._closing and (now >= self._deadline or self._counts.pending == 0):
                    return None
                if self._ready:
                    self._in_flight = self._ready.popleft()
                    return self._in_flight
                if self._retrying and self._retrying[0].due <= now:
                    self._in_flight = heapq.heappop(self._retrying).delivery
                    return self._in_flight
                waits = [r.due - now for r in self._retrying[:1]]
                if self._closing:
                    waits.append(self._deadline - now)
                self._cond.wait(min(waits) if waits else None)

    def _run(self) -> None:
        while (delivery := self._next()) is not None:
            self._attempt(delivery)

    def _attempt(self, delivery: _Delivery) -> None:
        delivery.attempts += 1
        key = delivery.notification.key
        delivery.channels = [c for c in delivery.channels if not self._send(c, delivery)]
        if not delivery.channels:
            self._finish(pushed=True)
            log.info("alert pushed", extra={"alert_id": key, "attempts": delivery.attempts})
            return
        names = [c.name for c in delivery.channels]
        if delivery.attempts > self._retries:
            self._finish(pushed=False)
            log.error(
                "alert push failed, giving up",
                extra={"alert_id": key, "attempts": delivery.attempts, "channels": names},
            )
            return
        delay = backoff_delay(delivery.attempts, self._retry_initial_s, self._rng)
        log.warning(
            "alert push failed, retrying",
            extra={
                "alert_id": key,
                "attempt": delivery.attempts,
                "retries": self._retries,
                "retry_in_s": round(delay, 3),
                "channels": names,
            },
        )
        with self._cond:
            retry = _Retry(time.monotonic() + delay, next(self._order), delivery)
            heapq.heappush(self._retrying, retry)
            self._in_flight = None

    def _send(self, channel: Channel, delivery: _Delivery) -> bool:
        try:
            return channel.send(delivery.notification)
        except Exception:
            log.warning(
                "alert push channel raised",
                extra={"alert_id": delivery.notification.key, "channel": channel.name},
                exc_info=True,
            )
            return False

    def _finish(self, *, pushed: bool) -> None:
        with self._cond:
            self._in_flight = None
            self._counts.pending -= 1
            if pushed:
                self._counts.pushed += 1
            else:
                self._counts.push_failed += 1
            self._cond.notify_all()
