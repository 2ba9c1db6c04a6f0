"""Several gateway instances sharing the readings: MQTT v5 shared subscriptions, plus the
engine state each instance publishes for the others (:mod:`...engine.replication`).

With ``gateway.shared_group`` set, the gateway subscribes to the readings as
``$share/<group>/thermogate/v1/readings/+/+/+``, so the broker gives each message to one
member of the group. After every batch (and every expiry of re-checks) the instance
publishes its engine's changes on ``thermogate/v1/engine/<group>/<gateway id>`` at QoS 1 and
waits for the broker to have them before acknowledging the batch; it subscribes to the
group's changes with its own, persistent subscription, applies the others' changes between
batches and acknowledges each once applied and stored. docs/scaling.md explains the design.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import Final

import paho.mqtt.client as paho

from thermogate.contract.topics import engine_filter, engine_topic
from thermogate.gateway.engine import DecisionEngine
from thermogate.gateway.engine.replication import EngineDelta

log = logging.getLogger(__name__)

PUBACK_WAIT_S: Final = 10.0
"""How long a batch waits for the broker to take its engine changes before it is acknowledged."""

Publish = Callable[[str, bytes], paho.MQTTMessageInfo]
Ack = Callable[[int, int, int], None]
"""Acknowledges ``(mid, qos, epoch)``: only if it came on the current connection."""


class StateSharing:
    """Publishes this engine's changes and applies the group's; the worker thread drives it."""

    def __init__(
        self,
        engine: DecisionEngine,
        group: str,
        gateway_id: str,
        *,
        publish: Publish,
        ack: Ack,
        epoch: Callable[[], int],
    ) -> None:
        self._engine = engine
        self._topic = engine_topic(group, gateway_id)
        self.topic_filter = engine_filter(group)
        self._prefix = self.topic_filter.removesuffix("+")
        self._publish = publish
        self._ack = ack
        self._epoch = epoch
        self._received: queue.SimpleQueue[tuple[paho.MQTTMessage, int]] = queue.SimpleQueue()
        self.applied = 0
        """Changes of other instances applied so far."""
        self.published = 0

    def owns(self, topic: str) -> bool:
        """Whether a message is the group's engine changes (not readings)."""
        return topic.startswith(self._prefix)

    def on_message(self, message: paho.MQTTMessage) -> None:
        """Network thread: keep it for the worker."""
        self._received.put((message, self._epoch()))

    def apply_received(self) -> None:
        """Worker thread: apply every change received from the others, then acknowledge it."""
        while True:
            try:
                message, epoch = self._received.get_nowait()
            except queue.Empty:
                return
            if message.topic != self._topic:
                try:
                    self._engine.apply_delta(EngineDelta.from_bytes(bytes(message.payload)))
                    self.applied += 1
                except ValueError as exc:
                    log.error(  # noqa: TRY400 - the reason is the message, not a traceback
                        "engine changes refused", extra={"topic": message.topic, "reason": str(exc)}
                    )
            if message.qos > 0:
                self._ack(message.mid, message.qos, epoch)

    def publish_changes(self) -> None:
        """Worker thread: publish this engine's unsent changes, oldest first, and wait until
        the broker has them; each is forgotten only then (a crash sends it after restart)."""
        while True:
            pending = self._engine.pending_changes()
            if not pending:
                return
            for change_id, payload in pending:
                info = self._publish(self._topic, payload)
                try:
                    info.wait_for_publish(PUBACK_WAIT_S)
                except (RuntimeError, ValueError):
                    log.warning("engine changes not acknowledged by the broker; resent later")
                    return
                if not info.is_published():
                    log.warning("engine changes not acknowledged by the broker; resent later")
                    return
                self._engine.changes_published([change_id])
                self.published += 1
