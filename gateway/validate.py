"""Decide for each received message which readings are good and what is refused, and why.

A message is refused whole when it is not a valid v1 payload (size, encoding, JSON, schema,
topic). Individual readings of a valid message are refused when they contradict their topic
or come from a device missing from the registry. Event times are never a reason to refuse:
readings beyond the skew bounds are stored and flagged (:func:`columns.clock_flags`). Every refusal
becomes a :class:`Refusal` with the original bytes and a reason a person can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from thermogate.config import DeviceSettings, GatewaySettings
from thermogate.contract import ContractError, encode
from thermogate.contract.columnar import ReadingTable, concat, decode_columns
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
    """The outcome of checking one batch of envelopes: the good readings as columns."""

    table: ReadingTable = field(default_factory=ReadingTable.empty)
    received_ns: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    """When the gateway received each good reading's message."""
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Good readings."""
        return len(self.table)


class MessageValidator:
    """Applies the contract and the gateway's own rules to received messages."""

    def __init__(self, settings: GatewaySettings, registry: Mapping[str, DeviceSettings]) -> None:
        self._settings = settings
        self._registry = registry

    def check(self, envelopes: list[Envelope]) -> Checked:
        """Split a batch into good readings (columns, in arrival order) and refusals."""
        tables: list[ReadingTable] = []
        received: list[npt.NDArray[np.int64]] = []
        refusals: list[Refusal] = []
        for envelope in envelopes:
            try:
                table = self._decode(envelope)
            except ContractError as exc:
                kept = envelope.payload[:DEADLETTER_PAYLOAD_MAX_BYTES]
                refusals.append(Refusal(envelope.topic, kept, exc.reason))
                continue
            problems = self._problems(envelope.topic, table)
            if problems:
                for row, reason in problems.items():
                    # A single reading keeps its original bytes; one of a batch is re-encoded.
                    original = envelope.payload if len(table) == 1 else encode(table.reading(row))
                    refusals.append(Refusal(envelope.topic, original, reason))
                table = table.take([row for row in range(len(table)) if row not in problems])
            tables.append(table)
            received.append(np.full(len(table), envelope.received_ns, dtype=np.int64))
        return Checked(
            concat(tables),
            np.concatenate(received) if received else np.empty(0, np.int64),
            refusals,
        )

    def _decode(self, envelope: Envelope) -> ReadingTable:
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
        return decode_columns(envelope.payload)

    def _problems(self, topic: str, table: ReadingTable) -> dict[int, str]:
        """Rows to refuse, with why: not matching their topic, or not a registered thermometer."""
        where = parse_readings_topic(topic)
        problems: dict[int, str] = {}
        if (
            {*table.building} != {where.building}
            or {*table.entrance} != {where.entrance}
            or ({*table.device_id} != {where.device_id})
        ):
            for row, (building, entrance, device) in enumerate(
                zip(table.building, table.entrance, table.device_id, strict=True)
            ):
                if (building, entrance, device) != (
                    where.building,
                    where.entrance,
                    where.device_id,
                ):
                    problems[row] = (
                        f"reading of {device} at {building}/{entrance} "
                        f"does not match its topic {topic}"
                    )
        for device_id in {*table.device_id}:
            reason = self._device_problem(device_id)
            if reason is not None:
                for row, device in enumerate(table.device_id):
                    if device == device_id and row not in problems:
                        problems[row] = reason
        return problems

    def _device_problem(self, device_id: str) -> str | None:
        device = self._registry.get(device_id)
        if device is None and not self._settings.accept_unknown_devices:
            return f"unknown device {device_id!r}: not in the device registry"
        if device is not None and device.wire_kind is None:
            kind = device.kind
            return f"device {device_id!r} is a {kind} in the registry, not a thermometer"
        return None
