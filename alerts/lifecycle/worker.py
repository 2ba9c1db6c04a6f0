"""MQTT in: every alert on ``thermogate/v1/alerts/+`` ingested, then acknowledged.

The worker subscribes at QoS 1 with a persistent session (fixed client id, session expiry)
and manual acknowledgements. The paho network thread only enqueues into a bounded queue
(with MQTT 5 the broker's Receive Maximum matches it); one worker thread ingests each alert
through :meth:`LifecycleService.ingest`, which commits, and acknowledges the message only
then. When the database is down the ingest is retried with backoff and nothing is
acknowledged, so the broker keeps the alert (and redelivers it after a restart). A payload
that is not a valid alert is logged and acknowledged: it can never become valid.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import paho.mqtt.client as paho
from pydantic import ValidationError

from thermogate.alerts.dispatcher import backoff_delay
from thermogate.alerts.lifecycle.service import Ingested, LifecycleService
from thermogate.config import MqttSettings
from thermogate.contract.messages import Alert, describe_validation_error
from thermogate.contract.topics import ALERTS_FILTER
from thermogate.mqtt import MqttConnection

log = logging.getLogger(__name__)

CLIENT_ID: Final = "thermogate-alert-lifecycle"
SESSION_EXPIRY_S: Final = 7 * 86_400
"""The broker keeps the session (and unacknowledged alerts) this long while we are away."""
QUEUE_MAX: Final = 100
POLL_S: Final = 0.2
RETRY_INITIAL_S: Final = 0.5
STOP_TIMEOUT_S: Final = 10.0

Observer = Callable[[Alert, Ingested], None]


@dataclass(frozen=True, slots=True)
class _Envelope:
    payload: bytes
    topic: str
    mid: int
    qos: int
    epoch: int


@dataclass(slots=True)
class WorkerCounts:
    """What the worker has done since it started."""

    received: int = 0
    ingested: int = 0
    refused: int = 0
    """Payloads that are not valid alerts (logged and acknowledged)."""
    failed_attempts: int = 0
    """Ingests that raised (each retried; the message stays unacknowledged meanwhile)."""
    handled: list[str] = field(default_factory=list)
    """Wire alert ids, in the order they were committed (bounded to the last 1000)."""


class LifecycleWorker:
    """Subscribes to the alerts and feeds them to the lifecycle store."""

    def __init__(
        self,
        service: LifecycleService,
        mqtt: MqttSettings,
        *,
        client_id: str = CLIENT_ID,
        on_ingested: Observer | None = None,
    ) -> None:
        self._service = service
        self._queue: queue.Queue[_Envelope] = queue.Queue(maxsize=QUEUE_MAX)
        self._stop = threading.Event()
        self._on_ingested = on_ingested
        self._rng = random.Random()
        self.counts = WorkerCounts()
        self._mqtt = MqttConnection(
            mqtt,
            client_id,
            subscriptions=[(ALERTS_FILTER, 1)],
            on_message=self._on_message,
            manual_ack=True,
            session_expiry_s=SESSION_EXPIRY_S,
            receive_maximum=QUEUE_MAX,
        )
        self._thread = threading.Thread(target=self._run, name="lifecycle-intake", daemon=True)

    @property
    def connection(self) -> MqttConnection:
        """The MQTT connection (to wait for it, in tests and at start-up)."""
        return self._mqtt

    def start(self) -> None:
        """Connect (in the background) and start ingesting."""
        self._thread.start()
        self._mqtt.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop ingesting and disconnect; what was not acknowledged stays with the broker."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("lifecycle intake still busy at stop; left to finish alone")
        self._mqtt.stop()

    def _on_message(self, message: paho.MQTTMessage) -> None:
        """paho's network thread: enqueue only (bounded: a full queue holds the socket)."""
        self._queue.put(
            _Envelope(
                bytes(message.payload), message.topic, message.mid, message.qos, self._mqtt.epoch
            )
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                envelope = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                continue
            self.counts.received += 1
            if self._handle(envelope):
                self._ack(envelope)

    def _handle(self, envelope: _Envelope) -> bool:
        """Ingest one message; True when it may be acknowledged (False only when stopping)."""
        try:
            alert = Alert.model_validate_json(envelope.payload)
        except ValidationError as exc:
            self.counts.refused += 1
            reason = describe_validation_error(exc)
        else:
            return self._ingest(alert)
        log.error(
            "not a valid alert; acknowledged and dropped",
            extra={"topic": envelope.topic, "reason": reason},
        )
        return True

    def _ingest(self, alert: Alert) -> bool:
        """Ingest until committed; False when stopped first (leave it unacknowledged)."""
        attempt = 0
        while not self._stop.is_set():
            try:
                result = self._service.ingest(alert)
                if self._on_ingested is not None:
                    # Inside the retry: a hook that fails (its database is down) runs again,
                    # and the alert stays unacknowledged until both are done (ingest is
                    # idempotent, so the retry finds it a duplicate).
                    self._on_ingested(alert, result)
            except Exception:
                attempt += 1
                self.counts.failed_attempts += 1
                delay = backoff_delay(attempt, RETRY_INITIAL_S, self._rng)
                log.exception(
                    "alert not stored; not acknowledged, retrying",
                    extra={
                        "alert_id": alert.alert_id,
                        "attempt": attempt,
                        "retry_in_s": round(delay, 3),
                    },
                )
                self._stop.wait(delay)
                continue
            self.counts.ingested += 1
            self.counts.handled = [*self.counts.handled[-999:], alert.alert_id]
            return True
        return False

    def _ack(self, envelope: _Envelope) -> None:
        """Acknowledge, but only on the connection the message came on (ids are per session)."""
        if envelope.qos == 0:
            return
        if envelope.epoch != self._mqtt.epoch or not self._mqtt.connected.is_set():
            log.info(
                "connection changed; the broker redelivers this alert", extra={"mid": envelope.mid}
            )
            return
        self._mqtt.ack(envelope.mid, envelope.qos)
