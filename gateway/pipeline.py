"""One batch through the gateway: check, decide, store, alert, then acknowledge.

The order is the guarantee: a message is acknowledged to the broker only after every reading
in it is stored in every sink and every refusal is on the dead-letter topic. A gateway killed
before that gets the message again from its persistent session; the redelivered readings map
to the same points (same series and timestamp) and the same alert ids, so nothing doubles.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import paho.mqtt.client as paho

from thermogate.config import DeviceSettings, GatewaySettings
from thermogate.contract import Alert, encode
from thermogate.contract.columnar import ReadingTable
from thermogate.contract.deadletters import dead_letter
from thermogate.contract.topics import deadletter_topic, readings_topic
from thermogate.gateway.columns import (
    clock_flags,
    lag_ms,
    to_engine_input,
    to_points,
)
from thermogate.gateway.engine import DecisionEngine
from thermogate.gateway.engine.factorize import factorize
from thermogate.gateway.engine_alerts import alert_for
from thermogate.gateway.intake import Envelope
from thermogate.gateway.outdoor import OutdoorFeed
from thermogate.gateway.validate import Checked, MessageValidator, Refusal
from thermogate.ingest import Ingestor, WriteRejected
from thermogate.ingest.points import ScreeningPoints

log = logging.getLogger(__name__)


DEADLETTER_ACK_TIMEOUT_S: Final = 10.0
_ONE_MS: Final = dt.timedelta(milliseconds=1)
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def latest_per_device(table: ReadingTable) -> dict[str, dt.datetime]:
    """The newest event time of each device in the batch (for the liveness monitor)."""
    devices, codes = factorize(table.device_id)
    newest = np.full(len(devices), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(newest, codes, table.event_ms)
    return {
        device: _EPOCH + int(ms) * _ONE_MS
        for device, ms in zip(devices, newest.tolist(), strict=True)
    }


Publish = Callable[[str, bytes], paho.MQTTMessageInfo]


class AlertSink(Protocol):
    """Where fever alerts go (the alerts component)."""

    def raise_alert(self, alert: Alert) -> None:
        """Deliver one alert without blocking for long."""


class BatchAlertSink(AlertSink, Protocol):
    """An alert sink that also takes a batch's alerts at once (stored together)."""

    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        """Deliver a batch's alerts without blocking for long."""


@dataclass(slots=True)
class GatewayStats:
    """Counters for logs, the demo's view and (later) /metrics."""

    messages: int = 0
    readings_in: int = 0
    stored: int = 0
    dead_letters: int = 0
    alerts: int = 0
    batches: int = 0
    last_batch_ms: float = 0.0
    last_batch_readings: int = 0
    last_lag_ms_max: float = 0.0
    """Age of the oldest reading of the latest batch on arrival."""
    in_process: int = 0
    """Messages of the batch being processed: received, not yet acknowledged."""


@dataclass(slots=True)
class Prepared:
    """A batch checked and decided, waiting to be stored and acknowledged."""

    envelopes: list[Envelope]
    checked: Checked
    points: ScreeningPoints | None
    """None when nothing in the batch is to be stored."""
    alerts: list[Alert]
    """Raised once the batch is stored."""
    started: float
    token: int = 0
    """The engine's changes of this batch, committed just before it is acknowledged."""


class BatchProcessor:
    """Processes batches of envelopes in two stages (:meth:`prepare`, then :meth:`finish`),
    which the gateway runs on two threads so one batch is stored while the next is decided;
    acknowledges through ``ack`` when all is safe."""

    def __init__(
        self,
        *,
        settings: GatewaySettings,
        validator: MessageValidator,
        ingestor: Ingestor,
        alerts: BatchAlertSink,
        publish: Publish,
        ack: Callable[[Envelope], None],
        engine: DecisionEngine,
        registry: Mapping[str, DeviceSettings],
        heard: Callable[[Mapping[str, dt.datetime]], None] | None = None,
        outdoor: OutdoorFeed | None = None,
        before_ack: Callable[[], None] | None = None,
    ) -> None:
        """``before_ack`` runs once a batch is stored and alerted, before it is acknowledged
        (a shared-subscription gateway publishes its engine's changes there)."""
        self._settings = settings
        self._outdoor = outdoor
        self._before_ack = before_ack
        self._validator = validator
        self._ingestor = ingestor
        self._alerts = alerts
        self._publish = publish
        self._ack = ack
        self._heard = heard
        self._engine = engine
        self._registry = registry
        self._lock = threading.Lock()
        self.stats = GatewayStats()

    def set_registry(self, registry: Mapping[str, DeviceSettings]) -> None:
        """Use a new device registry (for checks and for the places in alerts)."""
        self._validator.set_registry(registry)
        self._registry = registry

    def process(self, envelopes: list[Envelope]) -> None:
        """Run one batch end to end; raises if storage was aborted (nothing acknowledged)."""
        self.finish(self.prepare(envelopes))

    def prepare(self, envelopes: list[Envelope]) -> Prepared:
        """First stage: check, decide, build the storage batch (CPU only, no waiting)."""
        started = time.perf_counter()
        with self._lock:
            self.stats.in_process += len(envelopes)
        checked = self._validator.check(envelopes)
        table = checked.table
        if not len(table):
            return Prepared(envelopes, checked, None, [], started)
        reading_id = table.reading_id
        decisions = self._engine.decide(to_engine_input(table, reading_id, self._outdoor))
        lags = lag_ms(table, checked.received_ns)
        with self._lock:
            self.stats.last_lag_ms_max = float(lags.max())
        clock = clock_flags(lags, self._settings.max_future_skew_s, self._settings.max_past_skew_s)
        flagged = sum(flag is not None for flag in clock)
        if flagged:
            log.warning(
                "readings with event times beyond the skew bounds, stored flagged",
                extra={"readings": flagged},
            )
        alerts = [
            alert
            for e in decisions.events
            if (
                alert := alert_for(
                    e, None if e.row is None else table.reading(e.row), self._registry
                )
            )
            is not None
        ]
        points = to_points(table, reading_id, lags, decisions, clock)
        return Prepared(envelopes, checked, points, alerts, started, decisions.token)

    def finish(self, prepared: Prepared) -> None:
        """Second stage: store, alert, dead-letter, then acknowledge; raises if storage was
        aborted (nothing acknowledged)."""
        checked, envelopes = prepared.checked, prepared.envelopes
        fevers = self._store(prepared)
        self._alerts.raise_alerts(fevers)
        self._dead_letter_all(checked.refusals)
        self._engine.commit(prepared.token)
        if self._before_ack is not None:
            self._before_ack()
        for envelope in envelopes:
            if envelope.qos > 0:
                self._ack(envelope)
        with self._lock:
            self.stats.messages += len(envelopes)
            self.stats.readings_in += checked.count + len(checked.refusals)
            self.stats.stored += checked.count
            self.stats.dead_letters += len(checked.refusals)
            self.stats.alerts += len(fevers)
            self.stats.batches += 1
            self.stats.last_batch_ms = (time.perf_counter() - prepared.started) * 1000
            self.stats.last_batch_readings = checked.count + len(checked.refusals)
            self.stats.in_process = max(0, self.stats.in_process - len(envelopes))

    def _store(self, prepared: Prepared) -> list[Alert]:
        """Store the batch; the alerts to raise once it is stored."""
        checked, table = prepared.checked, prepared.checked.table
        if prepared.points is None:
            return []
        try:
            self._ingestor.store(prepared.points)
        except WriteRejected as exc:
            # The database will never take these points: keep them as dead letters rather
            # than hold up the flow behind them.
            reason = f"time-series database refused the batch: {exc}"
            log.error("batch refused by storage", extra={"reason": reason})  # noqa: TRY400
            for row in range(len(table)):
                reading = table.reading(row)
                topic = readings_topic(reading.building, reading.entrance, reading.device_id)
                checked.refusals.append(Refusal(topic, encode(reading), reason))
            checked.table = ReadingTable.empty()
            prepared.points = None
            return []
        if self._heard is not None:
            self._heard(latest_per_device(table))
        return prepared.alerts

    def expire(self, now: dt.datetime) -> int:
        """Escalate re-checks whose window ran out; the number of alerts raised."""
        alerts = [
            alert
            for event in self._engine.expire(int(now.timestamp() * 1000))
            if (alert := alert_for(event, None, self._registry)) is not None
        ]
        for alert in alerts:
            self._alerts.raise_alert(alert)
        self._engine.commit(self._engine.expiry_token)
        with self._lock:
            self.stats.alerts += len(alerts)
        return len(alerts)

    def _dead_letter_all(self, refusals: list[Refusal]) -> None:
        """Publish every refusal and wait for the broker to have them before acknowledging."""
        pending = [self._dead_letter(refusal) for refusal in refusals]
        for info in pending:
            try:
                info.wait_for_publish(DEADLETTER_ACK_TIMEOUT_S)
            except (RuntimeError, ValueError):
                log.warning("dead letter not acknowledged by the broker in time")

    def _dead_letter(self, refusal: Refusal) -> paho.MQTTMessageInfo:
        log.warning("message refused", extra={"topic": refusal.topic, "reason": refusal.reason})
        letter = dead_letter(self._settings.id, refusal.reason, refusal.topic, refusal.payload)
        return self._publish(deadletter_topic(self._settings.id), encode(letter))
