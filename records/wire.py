"""What the records service and the gateway exchange: the device registry, the places of
pseudonymous people, decided readings. Plain pydantic, so a client imports no web framework."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from thermogate.contract.messages import DeviceKind, Placement, Site
from thermogate.records.fields import Instant, TempC

DeviceIdText = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
SlugText = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]


class Calibration(BaseModel):
    """Overrides of the engine's calibration for one device (docs/detection.md)."""

    offset_c: Annotated[float, Field(ge=-40, le=40)] | None = None
    slope: Annotated[float, Field(gt=0, le=3)] | None = None
    ambient_coef: Annotated[float, Field(ge=-1, le=1)] | None = None
    ambient_ref_c: Annotated[float, Field(ge=-20, le=50)] | None = None


class DeviceIn(BaseModel):
    """A thermometer in the registry."""

    device_id: DeviceIdText
    kind: DeviceKind
    site: Site
    placement: Placement
    building: SlugText
    entrance: SlugText
    credentials_ref: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] | None = None
    """Where the device's broker credentials are kept (a name, never the secret)."""
    calibration: Calibration | None = None


class Registry(BaseModel):
    """The device registry as of ``generated_at``."""

    generated_at: dt.datetime
    devices: list[DeviceIn]


class PersonPlace(BaseModel):
    """Where a pseudonymous person belongs: no name, no card."""

    person_id: str
    building: str | None
    unit: str | None
    grid_unit: str | None


class People(BaseModel):
    """Every registered person's place, keyed by the id on their readings."""

    generated_at: dt.datetime
    people: list[PersonPlace]


PersonId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
ReadingId = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:-]+$")]
MAX_READINGS = 5000


class DecidedReading(BaseModel):
    """A reading after the gateway's decision."""

    reading_id: ReadingId
    person_id: PersonId
    ts: Instant
    building: SlugText
    placement: Placement
    temp_c: TempC | None = None
    adjusted_c: TempC | None = None
    decision: Literal["normal", "recheck", "fever", "invalid"]


class ReadingsIn(BaseModel):
    """A batch of decided readings."""

    readings: Annotated[list[DecidedReading], Field(min_length=1, max_length=MAX_READINGS)]


class ReadingsResult(BaseModel):
    """What the batch changed."""

    checks: int
    """Daily checks recorded."""
    returns: int
    """Leaves closed by an entrance reading."""
    unknown: int
    """Readings of pseudonymous ids not on the register (visitors, lost cards)."""


class AlertTaken(BaseModel):
    """What the alert did here."""

    lifecycle: str | None
    """The lifecycle's outcome (opened, updated, duplicate, closed, ignored); empty when the
    lifecycle does not run in this service."""
    lifecycle_alert_id: int | None
    case_id: int | None
    """The person's fever case, when the alert is about a person."""
    case_opened: bool
