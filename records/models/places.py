"""Places: buildings, dorm units, rooms, entrances and the device registry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from thermogate.records.db.base import Base


class Building(Base):
    """A dorm building (``wenyuan-2``): the slug is the one in topics and time-series tags."""

    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class DormUnit(Base):
    """A dorm unit: the rooms one staff member supervises (eleven across both buildings)."""

    __tablename__ = "dorm_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)


class Room(Base):
    """A dorm room, numbered within its building."""

    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("building_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("dorm_units.id"), index=True)
    number: Mapped[str] = mapped_column(String(16))
    beds: Mapped[int] = mapped_column(default=2)


class Entrance(Base):
    """A door of a building where people are screened (``main``)."""

    __tablename__ = "entrances"
    __table_args__ = (UniqueConstraint("building_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"))
    slug: Mapped[str] = mapped_column(String(48))


class Device(Base):
    """A thermometer in the registry the gateway reads (kind, site, placement, calibration)."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``handheld`` or ``kiosk``."""
    site: Mapped[str] = mapped_column(String(16))
    """``forehead``, ``wrist`` or ``canthus``."""
    placement: Mapped[str] = mapped_column(String(16))
    """``door``, ``lobby`` or ``room``."""
    entrance_id: Mapped[int] = mapped_column(ForeignKey("entrances.id"), index=True)
    credentials_ref: Mapped[str | None] = mapped_column(String(200))
    """Where the device's broker credentials are kept (a name, never the secret itself)."""
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Overrides of the engine's calibration: ``offset_c``, ``slope``, ``ambient_coef``..."""
