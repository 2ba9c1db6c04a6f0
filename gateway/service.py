"""The gateway process: MQTT in (manual acknowledgements), batches through the pipeline.

It subscribes at QoS 1 with a fixed client id and a persistent session, so messages it has
not acknowledged survive its death and come back. The network thread only enqueues
(:mod:`thermogate.gateway.intake`); one worker thread takes batches and runs
:class:`BatchProcessor`. A retained status says whether it is online.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Final

import paho.mqtt.client as paho

from thermogate.alerts import AlertDispatcher
from thermogate.config import Settings
from thermogate.contract import ComponentKind, Status, StatusState, encode, utc_now
from thermogate.contract.topics import (
    READINGS_FILTER,
    ROOT,
    STATUS_FILTER,
    WEATHER_FILTER,
    shared,
    status_topic,
)
from thermogate.gateway.edge_metrics import EdgeMetrics
from thermogate.gateway.engine import DecisionEngine
from thermogate.gateway.engine.state import EngineStore
from thermogate.gateway.intake import Envelope, Intake
from thermogate.gateway.liveness import LivenessDriver, LivenessMonitor
from thermogate.gateway.outdoor import WEATHER_PREFIX, OutdoorFeed
from thermogate.gateway.own_metrics import GatewayFigures, GatewayMetrics
from thermogate.gateway.pipeline import BatchProcessor, GatewayStats, Prepared
from thermogate.gateway.records_sync import RegistrySync
from thermogate.gateway.sharing import StateSharing
from thermogate.gateway.validate import MessageValidator
from thermogate.ingest import IngestAborted, build_ingestor
from thermogate.mqtt import MqttConnection, Publication

log = logging.getLogger(__name__)

STATUS_PREFIX: Final = f"{ROOT}/status/"
EDGE_STATUS_PREFIX: Final = f"{STATUS_PREFIX}edge/"

RECHECK_EXPIRY_CHECK_S: Final = 5.0
"""How often open re-checks are checked for an expired window (alerts are at most this late)."""
IDLE_AFTER_S: Final = 60.0
"""No batch for this long: open re-checks expire by the wall clock instead of event time."""
BATCH_RETRY_S: Final = 1.0
"""Pause before a batch that failed unexpectedly is tried again (never acknowledged before)."""
SESSION_EXPIRY_S: Final = 7 * 24 * 3600
"""How long the broker keeps the gateway's session (and its unacknowledged messages)."""


GC_GENERATION0: Final = 50_000
"""Allocations between young-generation collections (CPython's default is 700)."""


def tune_garbage_collector() -> None:
    """Fewer collections for a process that allocates and frees a batch's objects at a time.

    A batch creates tens of thousands of short-lived objects (structs, strings, floats) that
    reference counting frees at once; CPython's cycle collector would still walk the young
    generation every 700 allocations. What was built at start-up (settings, modules, the
    engine's loaded state) is frozen out of the collector's sight. Only the ``thermogate
    gateway`` process does this, not tests or the demo sharing a process with other parts.
    """
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_GENERATION0, older, oldest)


class Gateway:
    """One gateway instance; start, then stop."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        config = settings.gateway
        self._stop = threading.Event()
        self._intake = Intake(
            config.queue_max, epoch=lambda: self._mqtt.epoch, max_bytes=config.queue_max_bytes
        )
        registry = {d.id: d for d in settings.devices}
        self._engine_store = EngineStore(config.state_dir / "engine.sqlite3")
        group = config.shared_group
        # Changes become durable when their batch is stored and alerted (the storer commits).
        self.engine = DecisionEngine(
            settings.engine,
            config.threshold_c,
            self._engine_store,
            replicate=group is not None,
            auto_commit=False,
        )
        self.sharing = (
            None
            if group is None
            else StateSharing(
                self.engine,
                group,
                config.id,
                publish=self._publish,
                ack=self._ack_mid,
                epoch=lambda: self._mqtt.epoch,
            )
        )
        subscriptions = [
            (READINGS_FILTER if group is None else shared(group, READINGS_FILTER), 1),
            # Statuses at QoS 0: they are retained, so a missed one is replaced by the next.
            (STATUS_FILTER, 0),
            (WEATHER_FILTER, 0),
        ]
        if self.sharing is not None:
            subscriptions.append((self.sharing.topic_filter, 1))
        self._mqtt = MqttConnection(
            settings.mqtt,
            client_id=f"thermogate-{config.id}",
            will=self._status(StatusState.OFFLINE),
            births=[self._status(StatusState.ONLINE)],
            subscriptions=subscriptions,
            on_message=self._on_message,
            manual_ack=True,
            session_expiry_s=SESSION_EXPIRY_S,
            receive_maximum=min(config.queue_max, 65_535),
        )
        self.ingestor = build_ingestor(settings.ingest, self._stop)
        self.alerts = AlertDispatcher(self._publish, settings.alerts, state_dir=config.state_dir)
        self.liveness = LivenessMonitor(settings, now=lambda: dt.datetime.now(dt.UTC))
        self._liveness_driver = LivenessDriver(self.liveness, self.alerts)
        self.edge_metrics = EdgeMetrics(
            self.ingestor.writers,
            {edge.id: edge.building for edge in settings.edges},
            interval_s=config.metrics_interval_s,
        )
        self.outdoor = OutdoorFeed(settings.engine.outdoor_max_age_s)
        self._processor = BatchProcessor(
            settings=config,
            validator=MessageValidator(config, registry),
            engine=self.engine,
            registry=registry,
            ingestor=self.ingestor,
            alerts=self.alerts,
            publish=self._publish,
            ack=self._ack,
            heard=self._heard,
            outdoor=self.outdoor,
            before_ack=None if self.sharing is None else self.sharing.publish_changes,
        )
        self.metrics = GatewayMetrics(
            config.id, self._figures, self.ingestor.writers, interval_s=config.metrics_interval_s
        )
        self.metrics_port: int | None = None
        """The port /metrics is served on (None: off)."""
        self.records = (
            RegistrySync(settings, self._processor.set_registry, self._stop)
            if RegistrySync.wanted(settings)
            else None
        )
        self._worker = threading.Thread(target=self._run, name="gateway-batches", daemon=True)
        # One decided batch waits while another is stored: the next is decided meanwhile.
        self._stage: queue.Queue[Prepared | None] = queue.Queue(maxsize=1)
        self._storer = threading.Thread(
            target=self._store_batches, name="gateway-store", daemon=True
        )

    @property
    def stats(self) -> GatewayStats:
        """Live counters."""
        return self._processor.stats

    def start(self) -> None:
        """Connect and start processing."""
        if self.records is not None:
            self.records.start()
        self._storer.start()
        self._worker.start()
        self._liveness_driver.start()
        self.edge_metrics.start()
        self.metrics.start()
        config = self._settings.gateway
        if config.metrics_port is not None:
            self.metrics_port = self.metrics.serve(config.metrics_host, config.metrics_port)
        self._mqtt.start()
        log.info(
            "gateway started",
            extra={
                "gateway_id": self._settings.gateway.id,
                "threshold_c": self._settings.gateway.threshold_c,
            },
        )

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until the broker connection is up."""
        return self._mqtt.wait_connected(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, publish ``stopped``, disconnect, close the sinks."""
        self._stop.set()
        self._worker.join(timeout)
        self._storer.join(timeout)
        if self.records is not None:
            self.records.stop(timeout)
        self._liveness_driver.stop(timeout)
        self.edge_metrics.stop(timeout)
        self.metrics.stop(timeout)
        self._engine_store.close()
        self.alerts.close(timeout)
        self._mqtt.stop([self._status(StatusState.STOPPED)], timeout)
        self.ingestor.close()
        log.info(
            "gateway stopped",
            extra={"stored": self.stats.stored, "dead_letters": self.stats.dead_letters},
        )

    def _figures(self) -> GatewayFigures:
        """Every figure of /metrics and ``thermogate_gateway``, read now."""
        stats = self.stats
        queued = self._intake.queue.qsize()
        return GatewayFigures(
            counters={
                "messages": stats.messages,
                "readings_in": stats.readings_in,
                "stored": stats.stored,
                "dead_letters": stats.dead_letters,
                "alerts": stats.alerts,
                "batches": stats.batches,
            },
            gauges={
                "batch_readings": stats.last_batch_readings,
                "lag_ms_max": stats.last_lag_ms_max,
                "in_flight": queued + stats.in_process,
                "queue_depth": queued,
                "devices_offline": len(self.liveness.offline_devices()),
            },
            edges=self.edge_metrics.backlogs(),
        )

    def _engine_now(self, last_batch: float) -> dt.datetime:
        """Event time while readings flow (a replayed backlog is decided by its own clock, as
        ``thermogate replay`` would); the wall clock once the entrance has been idle."""
        if time.monotonic() - last_batch < IDLE_AFTER_S and self.engine.watermark_ms:
            return dt.datetime.fromtimestamp(self.engine.watermark_ms / 1000, dt.UTC)
        return dt.datetime.now(dt.UTC)

    def _on_message(self, message: paho.MQTTMessage) -> None:
        """Network thread: statuses to the liveness monitor, everything else to the intake."""
        if self.sharing is not None and self.sharing.owns(message.topic):
            self.sharing.on_message(message)
        elif message.topic.startswith(WEATHER_PREFIX):
            self.outdoor.on_message(message.topic, bytes(message.payload))
        elif message.topic.startswith(STATUS_PREFIX):
            self.liveness.on_status(message.topic, bytes(message.payload))
            if message.topic.startswith(EDGE_STATUS_PREFIX):
                self.edge_metrics.on_edge_status(bytes(message.payload))
        else:
            self._intake.on_message(message)

    def _heard(self, latest: Mapping[str, dt.datetime]) -> None:
        for device_id, at in latest.items():
            self.liveness.readings_seen((device_id,), at)

    def _ack(self, envelope: Envelope) -> None:
        """PUBACK a stored message, if it came on the current connection.

        After a reconnect the broker redelivers what was not acknowledged, under new packet
        ids; acknowledging an old id could acknowledge a different, unstored message.
        """
        self._ack_mid(envelope.mid, envelope.qos, envelope.epoch)

    def _ack_mid(self, mid: int, qos: int, epoch: int) -> None:
        if epoch == self._mqtt.epoch:
            self._mqtt.ack(mid, qos)

    def _publish(self, topic: str, payload: bytes) -> paho.MQTTMessageInfo:
        return self._mqtt.publish(topic, payload, qos=1)

    def _run(self) -> None:
        """The first stage: take a batch, check and decide it, hand it to the storer."""
        try:
            self._prepare_batches()
        finally:
            self._hand_over(None)  # tells the storer that nothing more comes

    def _prepare_batches(self) -> None:
        config = self._settings.gateway
        next_expiry = time.monotonic()
        last_batch = -IDLE_AFTER_S
        while not self._stop.is_set():
            if time.monotonic() >= next_expiry:
                next_expiry = time.monotonic() + RECHECK_EXPIRY_CHECK_S
                self._processor.expire(self._engine_now(last_batch))
                if self.sharing is not None:
                    self.sharing.publish_changes()
            batch = self._intake.take_batch(
                config.batch_max, config.batch_wait_ms / 1000, max_bytes=config.batch_max_bytes
            )
            if self.sharing is not None:
                # After taking the batch: every change the broker delivered before these
                # readings is applied before they are decided.
                self.sharing.apply_received()
            if not batch:
                continue
            last_batch = time.monotonic()
            while True:
                try:
                    prepared = self._processor.prepare(batch)
                    break
                except Exception:  # keep the gateway alive; nothing of it is acknowledged
                    log.exception("batch failed, retrying it", extra={"messages": len(batch)})
                    if self._stop.wait(BATCH_RETRY_S):
                        return
            if not self._hand_over(prepared):
                return

    def _hand_over(self, prepared: Prepared | None) -> bool:
        """Queue a decided batch for the storer (waits while it is busy); False if stopping."""
        while self._storer.is_alive():
            try:
                self._stage.put(prepared, timeout=0.2)
            except queue.Full:
                if self._stop.is_set() and prepared is not None:
                    return False
                continue
            return True
        return False

    def _store_batches(self) -> None:
        """The second stage: store, alert and acknowledge each decided batch, in order."""
        while True:
            prepared = self._stage.get()
            if prepared is None:
                return
            while True:
                try:
                    self._processor.finish(prepared)
                    break
                except IngestAborted:
                    log.info("stopping with a batch not stored; the broker will redeliver it")
                    return
                except Exception:  # keep the gateway alive; nothing of it is acknowledged
                    log.exception(
                        "storing a batch failed, retrying it",
                        extra={"messages": len(prepared.envelopes)},
                    )
                    if self._stop.wait(BATCH_RETRY_S):
                        return

    def _status(self, state: StatusState) -> Publication:
        status = Status(
            component=ComponentKind.GATEWAY, id=self._settings.gateway.id, state=state, ts=utc_now()
        )
        return Publication(
            status_topic(ComponentKind.GATEWAY, self._settings.gateway.id), encode(status), 1, True
        )


def run_gateway(settings: Settings, stop: threading.Event) -> GatewayStats:
    """Run a gateway until ``stop`` is set (the ``thermogate gateway`` command)."""
    gateway = Gateway(settings)
    tune_garbage_collector()
    gateway.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        gateway.stop()
    return gateway.stats
