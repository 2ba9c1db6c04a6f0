"""What the records service and its clients exchange for the gateway: the device registry and
the places of pseudonymous people. Plain pydantic, so a client imports no web framework."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field

from thermogate.contract.messages import DeviceKind, Placement, Site

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
