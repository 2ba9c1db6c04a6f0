"""Places: buildings, dorm units, rooms, entrances and the device registry.

Every account may read them; only an admin adds or changes them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel
from sqlalchemy import select

from thermogate.contract.messages import DeviceKind, Placement, Site
from thermogate.records.api.deps import AdminUser, CurrentUser, SessionDep
from thermogate.records.api.errors import conflict, responses, unprocessable
from thermogate.records.fields import Key, Name, SlugText
from thermogate.records.models import Building, Device, DormUnit, Entrance, Room
from thermogate.records.services import lookup
from thermogate.records.services.places import RoomIn
from thermogate.records.wire import Calibration, DeviceIn

router = APIRouter(tags=["places"])


class BuildingIn(BaseModel):
    """A building."""

    slug: SlugText
    name: Name


class UnitIn(BaseModel):
    """A dorm unit of a building."""

    code: Key
    name: Name
    building: SlugText


class UnitOut(UnitIn):
    """A dorm unit."""


class EntranceIn(BaseModel):
    """An entrance of a building."""

    building: SlugText
    slug: SlugText


def building_out(b: Building) -> BuildingIn:
    """The wire form of a building."""
    return BuildingIn(slug=b.slug, name=b.name)


@router.get("/buildings")
def list_buildings(_: CurrentUser, session: SessionDep) -> list[BuildingIn]:
    """Every building."""
    return [building_out(b) for b in session.scalars(select(Building).order_by(Building.slug))]


@router.post("/buildings", status_code=status.HTTP_201_CREATED, responses=responses(409))
def add_building(body: BuildingIn, _: AdminUser, session: SessionDep) -> BuildingIn:
    """Add a building (admin)."""
    if lookup.building(session, body.slug) is not None:
        raise conflict(f"building {body.slug} exists")
    session.add(Building(slug=body.slug, name=body.name))
    session.commit()
    return body


@router.get("/units")
def list_units(_: CurrentUser, session: SessionDep) -> list[UnitOut]:
    """Every dorm unit with its building."""
    rows = session.execute(
        select(DormUnit, Building.slug)
        .join(Building, Building.id == DormUnit.building_id)
        .order_by(DormUnit.code)
    )
    return [UnitOut(code=u.code, name=u.name, building=slug) for u, slug in rows]


@router.post("/units", status_code=status.HTTP_201_CREATED, responses=responses(409, 422))
def add_unit(body: UnitIn, _: AdminUser, session: SessionDep) -> UnitOut:
    """Add a dorm unit (admin)."""
    building = lookup.building(session, body.building)
    if building is None:
        raise unprocessable(f"unknown building {body.building}")
    if lookup.unit(session, body.code) is not None:
        raise conflict(f"unit {body.code} exists")
    session.add(DormUnit(code=body.code, name=body.name, building_id=building.id))
    session.commit()
    return UnitOut(**body.model_dump())


@router.get("/rooms")
def list_rooms(_: CurrentUser, session: SessionDep) -> list[RoomIn]:
    """Every room with its building and unit."""
    rows = session.execute(
        select(Room, Building.slug, DormUnit.code)
        .join(Building, Building.id == Room.building_id)
        .join(DormUnit, DormUnit.id == Room.unit_id)
        .order_by(Building.slug, Room.number)
    )
    return [
        RoomIn(building=slug, number=r.number, unit=code, beds=r.beds) for r, slug, code in rows
    ]


@router.post("/rooms", status_code=status.HTTP_201_CREATED, responses=responses(409, 422))
def add_room(body: RoomIn, _: AdminUser, session: SessionDep) -> RoomIn:
    """Add a room (admin)."""
    building = lookup.building(session, body.building)
    unit = lookup.unit(session, body.unit)
    if building is None or unit is None or unit.building_id != building.id:
        raise unprocessable(f"unknown building {body.building} or unit {body.unit} in it")
    if lookup.room(session, building.id, body.number) is not None:
        raise conflict(f"room {body.building}/{body.number} exists")
    session.add(Room(building_id=building.id, unit_id=unit.id, number=body.number, beds=body.beds))
    session.commit()
    return body


@router.get("/entrances")
def list_entrances(_: CurrentUser, session: SessionDep) -> list[EntranceIn]:
    """Every entrance."""
    rows = session.execute(
        select(Entrance, Building.slug)
        .join(Building, Building.id == Entrance.building_id)
        .order_by(Building.slug, Entrance.slug)
    )
    return [EntranceIn(building=slug, slug=e.slug) for e, slug in rows]


@router.post("/entrances", status_code=status.HTTP_201_CREATED, responses=responses(409, 422))
def add_entrance(body: EntranceIn, _: AdminUser, session: SessionDep) -> EntranceIn:
    """Add an entrance (admin)."""
    building = lookup.building(session, body.building)
    if building is None:
        raise unprocessable(f"unknown building {body.building}")
    if lookup.entrance(session, building.id, body.slug) is not None:
        raise conflict(f"entrance {body.building}/{body.slug} exists")
    session.add(Entrance(building_id=building.id, slug=body.slug))
    session.commit()
    return body


def device_rows(session: SessionDep) -> list[DeviceIn]:
    """The whole registry in wire form (also served to the gateway)."""
    rows = session.execute(
        select(Device, Entrance.slug, Building.slug)
        .join(Entrance, Entrance.id == Device.entrance_id)
        .join(Building, Building.id == Entrance.building_id)
        .order_by(Device.device_id)
    )
    return [
        DeviceIn(
            device_id=d.device_id,
            kind=DeviceKind(d.kind),
            site=Site(d.site),
            placement=Placement(d.placement),
            building=building,
            entrance=entrance,
            credentials_ref=d.credentials_ref,
            calibration=Calibration.model_validate(d.calibration) if d.calibration else None,
        )
        for d, entrance, building in rows
    ]


@router.get("/devices")
def list_devices(_: CurrentUser, session: SessionDep) -> list[DeviceIn]:
    """The device registry."""
    return device_rows(session)


@router.put("/devices/{device_id}", responses=responses(422))
def put_device(
    device_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")],
    body: DeviceIn,
    _: AdminUser,
    session: SessionDep,
) -> DeviceIn:
    """Add or replace a device (admin); the path and body ids must agree."""
    if device_id != body.device_id:
        raise unprocessable("the device id in the path and the body differ")
    building = lookup.building(session, body.building)
    entrance = lookup.entrance(session, building.id, body.entrance) if building else None
    if entrance is None:
        raise unprocessable(f"unknown entrance {body.building}/{body.entrance}")
    device = session.scalar(select(Device).where(Device.device_id == device_id))
    values: dict[str, Any] = {
        "kind": body.kind.value,
        "site": body.site.value,
        "placement": body.placement.value,
        "entrance_id": entrance.id,
        "credentials_ref": body.credentials_ref,
        "calibration": body.calibration.model_dump(exclude_none=True) if body.calibration else None,
    }
    if device is None:
        session.add(Device(device_id=device_id, **values))
    else:
        for key, value in values.items():
            setattr(device, key, value)
    session.commit()
    return body
