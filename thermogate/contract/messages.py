"""Pydantic models of every MQTT payload in wire contract v1, and their codec.

Payloads are JSON objects with a ``v`` field (the wire version). A v2 payload will carry
``"v": 2`` on ``thermogate/v2/...`` topics, so v1 and v2 producers can share a broker while
consumers migrate. Times are RFC 3339 in UTC with millisecond precision.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from thermogate.contract.errors import ContractError

WIRE_VERSION: Final = 1
MAX_BATCH_READINGS: Final = 5000
"""Upper bound of readings in one batched message (keeps a message under ~2 MB)."""

BODY_MODE_MIN_C: Final = 20.0
BODY_MODE_MAX_C: Final = 45.0
"""Displayed body-mode values outside this range are physically impossible for any
thermometer we know of (they show ``LO``/``HI`` instead), so such a payload is refused."""

SLUG_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,47}$"
"""Buildings, entrances and component ids: safe as single MQTT topic levels and tag values."""
DEVICE_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
PERSON_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class Site(StrEnum):
    """Where on the body the reading was taken."""

    FOREHEAD = "forehead"
    WRIST = "wrist"
    CANTHUS = "canthus"


class DeviceKind(StrEnum):
    """What kind of thermometer took a reading."""

    HANDHELD = "handheld"
    KIOSK = "kiosk"


class Placement(StrEnum):
    """Where the device stands: it tells how long the person has been indoors."""

    DOOR = "door"
    LOBBY = "lobby"
    ROOM = "room"


class ErrorCode(StrEnum):
    """What a thermometer shows instead of a value: below range, above range, fault."""

    LO = "LO"
    HI = "HI"
    ERR = "ERR"


class StatusState(StrEnum):
    """Retained availability of a component: ``offline`` is only ever sent by the will."""

    ONLINE = "online"
    OFFLINE = "offline"
    STOPPED = "stopped"


class ComponentKind(StrEnum):
    """The kinds of component that publish a status."""

    EDGE = "edge"
    DEVICE = "device"
    GATEWAY = "gateway"


class AlertKind(StrEnum):
    """Why an alert was raised."""

    FEVER = "fever"
    """A confirmed fever: a re-check confirmed it, or it was very high (to the clinic)."""
    FEVER_UNCONFIRMED = "fever_unconfirmed"
    """Suspicious, not confirmable: nobody identified, or no re-check within the window."""
    RECHECK = "recheck"
    """A suspicious reading: measure this person again (to the entrance and unit staff)."""
    DEVICE_OFFLINE = "device_offline"
    """A device fell silent, or its edge went offline, during screening hours (to duty staff)."""
    DEVICE_BACK = "device_back"
    """A device that was reported offline is heard from again."""
    EDGE_BACKLOG = "edge_backlog"
    """An edge's disk buffer is 80 % full: readings are at risk."""
    DEVICE_FAULT = "device_fault"
    """A device is stuck on one value or drifted away from its peers (to duty staff)."""
    DEVICE_RECOVERED = "device_recovered"
    """A device reported faulty reads like its peers again."""
    GATEWAY_LAGGING = "gateway_lagging"
    """The gateway is behind on the readings: fevers reach the clinic late (to duty staff)."""
    LEAVE_OVERDUE = "leave_overdue"
    """A student on leave is past the time to return (raised by the records service)."""


class Severity(StrEnum):
    """How urgently a human must look."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def _from_rfc3339(value: Any) -> Any:
    """Parse RFC 3339 text; refuse what pydantic would also read as a time (epoch numbers)."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "rfc3339",
            "Input should be an RFC 3339 date-time with an offset, e.g. 2024-03-01T08:00:00.000Z",
        )
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise PydanticCustomError(
            "rfc3339", "Input is not a valid date-time: {problem}", {"problem": str(exc)}
        ) from None


def _to_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_from_rfc3339), AfterValidator(_to_utc)]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]
PersonId = Annotated[str, Field(pattern=PERSON_ID_PATTERN)]


def utc_now() -> dt.datetime:
    """The current time in UTC, truncated to the millisecond precision of the wire."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class WireModel(BaseModel):
    """Base of all payloads: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class Reading(WireModel):
    """One temperature reading as the device displayed it, stamped at the edge."""

    v: Literal[1] = 1
    device_id: DeviceId
    seq: Annotated[int, Field(ge=0, lt=2**63)]
    """Per-device sequence, strictly increasing, never reused (survives restarts)."""
    ts: UtcDatetime
    """Event time, stamped by the edge (or the kiosk) when the reading was taken."""
    temp_c: Annotated[float, Field(ge=BODY_MODE_MIN_C, le=BODY_MODE_MAX_C)] | None = None
    error: ErrorCode | None = None
    site: Site
    device_kind: DeviceKind
    placement: Placement
    building: Slug
    entrance: Slug
    ambient_c: Annotated[float, Field(ge=-60.0, le=70.0)] | None = None
    person_id: PersonId | None = None
    """Pseudonymous id (never a name or a card number)."""
    battery_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    edge_id: Slug | None = None

    @model_validator(mode="after")
    def _value_or_error(self) -> Reading:
        if (self.temp_c is None) == (self.error is None):
            raise ValueError("exactly one of temp_c and error must be set")
        return self

    @property
    def reading_id(self) -> str:
        """Globally unique and stable across redeliveries: ``device_id:seq``."""
        return f"{self.device_id}:{self.seq}"


class ReadingBatch(WireModel):
    """Many readings in one message (backlog replay, busy doors)."""

    v: Literal[1] = 1
    readings: Annotated[list[Reading], Field(min_length=1, max_length=MAX_BATCH_READINGS)]


class Status(WireModel):
    """Retained availability of an edge, a device or a gateway."""

    v: Literal[1] = 1
    component: ComponentKind
    id: DeviceId
    state: StatusState
    ts: UtcDatetime
    battery_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    detail: str | None = None
    last_seen: UtcDatetime | None = None
    """When a device behind an edge last sent a frame (heartbeats included)."""
    buffer_pending: Annotated[int, Field(ge=0)] | None = None
    """Readings in an edge's disk buffer not yet acknowledged by the broker."""
    buffer_capacity: Annotated[int, Field(gt=0)] | None = None
    """How many readings the edge's disk buffer holds at most."""
    buffer_dropped: Annotated[int, Field(ge=0)] | None = None
    """Readings the edge dropped because its buffer was full (since it started)."""
    clock_jumps: Annotated[int, Field(ge=0)] | None = None
    """Times the edge saw its wall clock jump against its monotonic clock (since it started)."""


class Weather(WireModel):
    """The outdoor temperature at a building (a weather station or a feed), retained.

    The engine adds back the skin's cooling of people just in from the cold at the placements
    where they arrive (docs/detection.md, "Cold arrivals").
    """

    v: Literal[1] = 1
    building: Slug
    outdoor_c: Annotated[float, Field(ge=-60.0, le=60.0)]
    ts: UtcDatetime
    """When it was measured."""
    source: Annotated[str, Field(max_length=200)] | None = None
    """Who measured it (a station id, a feed's name)."""


class Alert(WireModel):
    """An alert raised by the gateway; ``alert_id`` is stable so receivers can deduplicate."""

    v: Literal[1] = 1
    alert_id: str
    """Stable per cause: ``fever:<reading id>``, ``device_offline:<device>:<since>``, ..."""
    kind: AlertKind
    severity: Severity
    building: Slug
    entrance: Slug | None = None
    device_id: DeviceId | None = None
    edge_id: Slug | None = None
    reading_id: str | None = None
    person_id: PersonId | None = None
    temp_c: float | None = None
    """The displayed value of the reading that raised it."""
    adjusted_c: float | None = None
    """The core-equivalent value the rule compared."""
    threshold_c: float | None = None
    ts: UtcDatetime
    """When the cause happened: the reading's event time, or when the device fell silent."""
    raised_at: UtcDatetime
    message: str


class DeadLetter(WireModel):
    """A refused input: the original bytes (base64) and the reason, never silently dropped."""

    v: Literal[1] = 1
    source: Slug
    """The component that refused it (an edge id or a gateway id)."""
    reason: str
    topic: str | None = None
    """The MQTT topic it arrived on, or ``serial:<device_id>`` for a refused frame."""
    payload_b64: str
    payload_text: str | None = None
    """The payload as text when it is valid UTF-8 (for humans), else absent."""
    received_at: UtcDatetime


def encode(message: WireModel) -> bytes:
    """Serialise a payload as compact JSON (times in RFC 3339 UTC with ``Z``)."""
    return orjson.dumps(
        message.model_dump(mode="python", exclude_none=True),
        default=_default,
        option=orjson.OPT_PASSTHROUGH_DATETIME,
    )


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    raise TypeError(f"cannot encode {type(value).__name__}")


def decode_readings(payload: bytes) -> list[Reading]:
    """Decode a single or batched readings payload; raise :class:`ContractError` with a reason."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"malformed JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ContractError(f"payload must be a JSON object, got {type(document).__name__}")
    if "v" not in document:
        raise ContractError("missing wire version field 'v' (this gateway speaks v1)")
    version = document["v"]
    if type(version) is not int or version != WIRE_VERSION:  # not True, not 1.0
        raise ContractError(f"unsupported wire version {version!r} (this gateway speaks v1)")
    model: type[Reading] | type[ReadingBatch] = ReadingBatch if "readings" in document else Reading
    try:
        # Strict: JSON types as documented, no "36.8" for a number or true for an integer.
        parsed = model.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        raise ContractError(describe_validation_error(exc)) from None
    return parsed.readings if isinstance(parsed, ReadingBatch) else [parsed]


def describe_validation_error(exc: ValidationError, limit: int = 3) -> str:
    """Turn pydantic's errors into one line a person can act on."""
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(part) for part in error["loc"]) or "payload"
        value = error.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r:.40})"
        parts.append(f"{where}: {error['msg']}{shown}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "invalid reading: " + "; ".join(parts)
