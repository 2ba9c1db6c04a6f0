"""One paho-mqtt connection per process, set up the same way everywhere.

What every component needs from the broker: MQTT 5 (or 3.1.1 for amqtt), a will that marks
the component ``offline``, a retained birth (``online``) re-sent on every reconnect,
resubscription on every reconnect, automatic reconnection with backoff, and a clean
``stopped`` on the way out. The network thread only hands messages on: callers must never
block in ``on_message``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from thermogate.config import MqttSettings

log = logging.getLogger(__name__)

RECONNECT_MIN_DELAY_S: Final = 1
RECONNECT_MAX_DELAY_S: Final = 10
PUBLISH_ACK_TIMEOUT_S: Final = 10.0

MessageHandler = Callable[[paho.MQTTMessage], None]
PublishedHandler = Callable[[int, bool], None]
"""Called on the network thread with (mid, accepted) when the broker acknowledges a publish."""


@dataclass(frozen=True, slots=True)
class Publication:
    """A message to publish (birth, will, final status)."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


class MqttConnection:
    """A long-lived, self-healing connection for one component."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        will: Publication | None = None,
        births: Sequence[Publication] = (),
        subscriptions: Sequence[tuple[str, int]] = (),
        on_message: MessageHandler | None = None,
        manual_ack: bool = False,
        session_expiry_s: int | None = None,
        receive_maximum: int | None = None,
        on_published: PublishedHandler | None = None,
    ) -> None:
        self._settings = settings
        self._births = list(births)
        self._subscriptions = list(subscriptions)
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self.connected = threading.Event()
        self._subscribed = threading.Event()
        self._subscribe_mid: int | None = None
        self.epoch = 0
        """Counts successful connections: work tied to a connection compares it."""
        self._v5 = settings.protocol == "5"
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            clean_session=None if self._v5 else session_expiry_s is None,
        )
        if settings.username:
            password = settings.password.get_secret_value() if settings.password else None
            self._client.username_pw_set(settings.username, password)
        if settings.tls_ca_file is not None:
            self._client.tls_set(ca_certs=str(settings.tls_ca_file))
        if will is not None:
            self._client.will_set(will.topic, will.payload, will.qos, will.retain)
        self._client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        self._client.max_queued_messages_set(0)
        self._client.manual_ack_set(manual_ack)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        if on_message is not None:
            self._client.on_message = lambda _c, _u, message: on_message(message)
        if on_published is not None:
            self._client.on_publish = lambda _c, _u, mid, reason, _p: on_published(
                mid, not reason.is_failure
            )

    @property
    def client(self) -> paho.Client:
        """The underlying paho client (for acknowledgements and publish handles)."""
        return self._client

    def start(self) -> None:
        """Connect in the background; reconnects forever until :meth:`stop`."""
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            if self._session_expiry_s is not None:
                properties.SessionExpiryInterval = self._session_expiry_s
            if self._receive_maximum is not None:
                # The broker never has more unacknowledged messages out to us than this,
                # which bounds the gateway's intake queue (see docs/architecture.md).
                properties.ReceiveMaximum = self._receive_maximum
        self._client.connect_async(
            self._settings.host,
            self._settings.port,
            keepalive=self._settings.keepalive_s,
            clean_start=(
                self._session_expiry_s is None if self._v5 else paho.MQTT_CLEAN_START_FIRST_ONLY
            ),
            properties=properties,
        )
        self._client.loop_start()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until connected and subscribed (the broker's SUBACK), or the timeout; True
        when ready: a message published after this reaches the subscriptions."""
        wait = self._settings.connect_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + wait
        if not self.connected.wait(wait) or not self._subscribed.wait(
            max(0.0, deadline - time.monotonic())
        ):
            log.warning(
                "No CONNACK or SUBACK from MQTT broker",
                extra={"host": self._settings.host, "port": self._settings.port, "s": wait},
            )
            return False
        return True

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        """Queue a publication; the returned handle tells when the broker acknowledged it."""
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a message received with manual acknowledgements."""
        self._client.ack(mid, qos)

    def stop(self, finals: Sequence[Publication] = (), timeout: float = 5.0) -> None:
        """Publish the final statuses (waiting for their acks), then disconnect."""
        if self.connected.is_set():
            for final in finals:
                info = self._client.publish(final.topic, final.payload, final.qos, final.retain)
                try:
                    info.wait_for_publish(timeout)
                except (RuntimeError, ValueError):
                    log.warning("final status not acknowledged", extra={"topic": final.topic})
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused", extra={"reason": str(reason)})
            return
        # Subscribe on every connection, even with a session present: subscribing again is
        # harmless, and a subscription added since the session began is then made.
        self._subscribed.clear()
        if self._subscriptions:
            result, self._subscribe_mid = client.subscribe(self._subscriptions)
            if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
                log.error("subscribe failed", extra={"code": int(result)})
        else:
            self._subscribed.set()
        for birth in self._births:
            client.publish(birth.topic, birth.payload, birth.qos, birth.retain)
        self.epoch += 1
        self.connected.set()
        log.info(
            "MQTT connected",
            extra={
                "host": self._settings.host,
                "port": self._settings.port,
                "session_present": flags.session_present,
            },
        )

    def _on_subscribe(
        self,
        _client: paho.Client,
        _userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("subscriptions refused by the broker", extra={"reasons": refused})
        self._subscribed.set()

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: paho.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self.connected.clear()
        if reason.is_failure:
            log.warning("MQTT connection lost, reconnecting", extra={"reason": str(reason)})
        else:
            log.info("MQTT disconnected", extra={"reason": str(reason)})
