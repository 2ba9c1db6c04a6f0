"""Decide for each received message which readings are good and what is refused, and why.

A message is refused whole when it is not a valid v1 payload (size, encoding, JSON, schema,
topic). Individual readings of a valid message are refused when they contradict their topic
or come from a device missing from the registry. Event times are never a reason to refuse:
readings beyond the skew bounds are stored and flagged (:func:`columns.clock_flags`). Every refusal
becomes a :class:`Refusal` with the original bytes and a reason a person can act on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from thermogate.config import DeviceSettings, GatewaySettings
from thermogate.contract import ContractError, Reading, decode_readings, encode
from thermogate.contract.topics import parse_readings_topic
from thermogate.gateway.intake import Envelope

DEADLETTER_PAYLOAD_MAX_BYTES: Final = 64 * 1024
"""A refused payload is kept whole up to this size, so a dead letter never outgrows the
broker's message limit."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Something to dead-letter: the bytes, the topic and the reason."""

    topic: str
    payload: bytes
    reason: str


@dataclass(slots=True)
class Checked:
    """The outcome of checking one batch of envelopes."""

    readings: list[Reading] = field(default_factory=list)
    received_ns: list[int] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


class MessageValidator:
    """Applies the contract and the gateway's own rules to received messages."""

    def __init__(self, settings: GatewaySettings, registry: Mapping[str, DeviceSettings]) -> None:
        self._settings = settings
        self._registry = registry

    def check(self, envelopes: list[Envelope]) -> Checked:
        """Split a batch into good readings and refusals."""
        result = Checked()
        for envelope in envelopes:
            try:
                readings = self._decode(envelope)
            except ContractError as exc:
                kept = envelope.payload[:DEADLETTER_PAYLOAD_MAX_BYTES]
                result.refusals.append(Refusal(envelope.topic, kept, exc.reason))
                continue
            received = dt.datetime.fromtimestamp(envelope.received_ns / 1e9, dt.UTC)
            for reading in readings:
                reason = self._reading_problem(envelope.topic, reading, received)
                if reason is None:
                    result.readings.append(reading)
                    result.received_ns.append(envelope.received_ns)
                else:
                    # A single reading keeps its original bytes; one of a batch is re-encoded.
                    original = envelope.payload if len(readings) == 1 else encode(reading)
                    result.refusals.append(Refusal(envelope.topic, original, reason))
        return result

    def _decode(self, envelope: Envelope) -> list[Reading]:
        size = len(envelope.payload)
        if size > self._settings.max_payload_bytes:
            raise ContractError(
                f"payload of {size} bytes exceeds the limit of {self._settings.max_payload_bytes}"
                f" (the dead letter keeps its first {DEADLETTER_PAYLOAD_MAX_BYTES} bytes)"
            )
        try:
            envelope.payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContractError(f"payload is not valid UTF-8 (byte {exc.start})") from None
        parse_readings_topic(envelope.topic)
        return decode_readings(envelope.payload)

    def _reading_problem(self, topic: str, reading: Reading, received: dt.datetime) -> str | None:
        where = parse_readings_topic(topic)
        if (reading.building, reading.entrance, reading.device_id) != (
            where.building,
            where.entrance,
            where.device_id,
        ):
            return (
                f"reading of {reading.device_id} at {reading.building}/{reading.entrance} "
                f"does not match its topic {topic}"
            )
        device = self._registry.get(reading.device_id)
        if device is None and not self._settings.accept_unknown_devices:
            return f"unknown device {reading.device_id!r}: not in the device registry"
        if device is not None and device.wire_kind is None:
            kind = device.kind
            return f"device {reading.device_id!r} is a {kind} in the registry, not a thermometer"
        return None
