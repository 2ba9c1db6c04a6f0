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
from thermogate.contract.columnar import (
    ReadingTable,
    Row,
    concat,
    decode_columns,
    decode_rows,
    rows_table,
)
from thermogate.contract.topics import ReadingsTopic, parse_readings_topic
from thermogate.gateway.intake import Envelope

TOPIC_CACHE: Final = 100_000
"""Parsed topics and device verdicts remembered (then forgotten all at once)."""
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
        self._topics: dict[str, ReadingsTopic] = {}
        self._devices: dict[str, str | None] = {}

    def set_registry(self, registry: Mapping[str, DeviceSettings]) -> None:
        """Check against a new device registry from now on (the records service's)."""
        self._registry = registry
        self._devices = {}

    def check(self, envelopes: list[Envelope]) -> Checked:
        """Split a batch into good readings (columns) and refusals.

        The rows of every message msgspec accepts are gathered and turned into columns at
        once (one conversion for a batch of single-reading messages, not one per message);
        only if that fails are the messages converted one by one to find the culprit.
        """
        refusals: list[Refusal] = []
        fast: list[tuple[Envelope, list[Row]]] = []
        parts: list[tuple[Envelope, ReadingTable]] = []  # decoded, rows still to check
        for envelope in envelopes:
            try:
                where = self._precheck(envelope)
                rows = decode_rows(envelope.payload)
                if rows is None:
                    parts.append((envelope, decode_columns(envelope.payload)))
                elif self._plain(rows, where):
                    fast.append((envelope, rows))
                else:  # a row off its topic or device: sort it out row by row
                    parts.append((envelope, rows_table(rows) or decode_columns(envelope.payload)))
            except ContractError as exc:
                kept = envelope.payload[:DEADLETTER_PAYLOAD_MAX_BYTES]
                refusals.append(Refusal(envelope.topic, kept, exc.reason))
        tables: list[ReadingTable] = []
        received: list[npt.NDArray[np.int64]] = []
        combined = rows_table([row for _, rows in fast for row in rows]) if fast else None
        if combined is not None:
            tables.append(combined)
            received.append(
                np.repeat(
                    np.fromiter((e.received_ns for e, _ in fast), np.int64, len(fast)),
                    [len(rows) for _, rows in fast],
                )
            )
        else:
            for envelope, rows in fast:
                try:
                    table = rows_table(rows) or decode_columns(envelope.payload)
                except ContractError as exc:
                    kept = envelope.payload[:DEADLETTER_PAYLOAD_MAX_BYTES]
                    refusals.append(Refusal(envelope.topic, kept, exc.reason))
                    continue
                tables.append(table)
                received.append(np.full(len(table), envelope.received_ns, dtype=np.int64))
        for envelope, table in parts:
            kept_table = self._refuse_rows(envelope, table, refusals)
            tables.append(kept_table)
            received.append(np.full(len(kept_table), envelope.received_ns, dtype=np.int64))
        return Checked(
            concat(tables),
            np.concatenate(received) if received else np.empty(0, np.int64),
            refusals,
        )

    def _precheck(self, envelope: Envelope) -> ReadingsTopic:
        """Size, encoding and topic: whole-message refusals before decoding."""
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
        return self._topic(envelope.topic)

    def _topic(self, topic: str) -> ReadingsTopic:
        where = self._topics.get(topic)
        if where is None:
            where = parse_readings_topic(topic)
            if len(self._topics) >= TOPIC_CACHE:
                self._topics.clear()
            self._topics[topic] = where
        return where

    def _plain(self, rows: list[Row], where: ReadingsTopic) -> bool:
        """Every row matches its topic and is a registered (or accepted) thermometer."""
        for row in rows:
            if (
                row.device_id != where.device_id
                or row.building != where.building
                or row.entrance != where.entrance
                or self._device_problem(row.device_id) is not None
            ):
                return False
        return True

    def _refuse_rows(
        self, envelope: Envelope, table: ReadingTable, refusals: list[Refusal]
    ) -> ReadingTable:
        """The rows of one message's table that may be stored; the others refused."""
        problems = self._problems(envelope.topic, table)
        if not problems:
            return table
        for row, reason in problems.items():
            # A single reading keeps its original bytes; one of a batch is re-encoded.
            original = envelope.payload if len(table) == 1 else encode(table.reading(row))
            refusals.append(Refusal(envelope.topic, original, reason))
        return table.take([row for row in range(len(table)) if row not in problems])

    def _problems(self, topic: str, table: ReadingTable) -> dict[int, str]:
        """Rows to refuse, with why: not matching their topic, or not a registered thermometer."""
        where = self._topic(topic)
        problems: dict[int, str] = {}
        for row, (building, entrance, device) in enumerate(
            zip(table.building, table.entrance, table.device_id, strict=True)
        ):
            if (building, entrance, device) != (where.building, where.entrance, where.device_id):
                problems[row] = (
                    f"reading of {device} at {building}/{entrance} does not match its topic {topic}"
                )
            elif (reason := self._device_problem(device)) is not None:
                problems[row] = reason
        return problems

    def _device_problem(self, device_id: str) -> str | None:
        if device_id in self._devices:
            return self._devices[device_id]
        device = self._registry.get(device_id)
        reason = None
        if device is None and not self._settings.accept_unknown_devices:
            reason = f"unknown device {device_id!r}: not in the device registry"
        elif device is not None and device.wire_kind is None:
            reason = f"device {device_id!r} is a {device.kind} in the registry, not a thermometer"
        if len(self._devices) >= TOPIC_CACHE:
            self._devices.clear()
        self._devices[device_id] = reason
        return reason
