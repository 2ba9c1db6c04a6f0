"""Rooms as imported: the upsert shared by the API and the CSV import."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from thermogate.records.fields import Key, SlugText
from thermogate.records.models import Room
from thermogate.records.services import lookup
from thermogate.records.services.people import RowError

RoomNumber = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,16}$")]


class RoomIn(BaseModel):
    """A room of a building, in a dorm unit."""

    building: SlugText
    number: RoomNumber
    unit: Key
    beds: Annotated[int, Field(ge=1, le=12)] = 2


def upsert_room(session: Session, row: RoomIn) -> bool:
    """Create or update the room ``building/number``; True when created."""
    building = lookup.building(session, row.building)
    if building is None:
        raise RowError("building", f"unknown building {row.building!r}")
    unit = lookup.unit(session, row.unit)
    if unit is None or unit.building_id != building.id:
        raise RowError("unit", f"unknown unit {row.unit!r} in {row.building}")
    room = lookup.room(session, building.id, row.number)
    if room is None:
        session.add(
            Room(building_id=building.id, unit_id=unit.id, number=row.number, beds=row.beds)
        )
        session.flush()
        return True
    room.unit_id, room.beds = unit.id, row.beds
    session.flush()
    return False
