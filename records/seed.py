"""The fictional demo site: two buildings, eleven units, thirty grid units, students, staff
and a round-the-clock roster.

Students are the residents the simulators generate (:mod:`thermogate.firmware_sim`), so their
card ids, rooms and units match the readings of the demo, and the pseudonymous ids the
records service computes equal those on the wire. Names are made up from syllables; no real
person is in here. Every row goes through the same upserts as the CSV import, so seeding
twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from thermogate.config import Settings
from thermogate.firmware_sim.population import Population
from thermogate.records.models import Building, Device, DormUnit, Entrance, GridUnit
from thermogate.records.security.pseudonyms import pseudonym_key
from thermogate.records.services import lookup
from thermogate.records.services.people import StaffIn, StudentIn, upsert_staff, upsert_student
from thermogate.records.services.places import RoomIn, upsert_room
from thermogate.records.services.roster import ShiftIn, upsert_shift

BUILDINGS: Final = (
    ("wenyuan-2", "Wenyuan Building 2", "w2"),
    ("wenyuan-3", "Wenyuan Building 3", "w3"),
)
UNITS: Final = 11
GRID_UNITS: Final = 30
SUB_GROUPS: Final = (
    "teaching",
    "student_affairs",
    "apartment",
    "medical_supplies",
    "activities",
    "publicity",
)
DUTY_PER_BUILDING: Final = 6
CLINIC_LIAISONS: Final = 3
SHIFT_HOURS: Final = 8
_GIVEN: Final = (
    "Ana",
    "Bo",
    "Cai",
    "Dara",
    "Eli",
    "Fen",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lio",
)
_FAMILY: Final = ("Amberly", "Brisko", "Corvane", "Delmont", "Eskar", "Fenwick", "Galdor", "Holt")


def _name(rng: random.Random) -> str:
    return f"{rng.choice(_GIVEN)}{rng.choice('aeiou')}{rng.choice('lnrs')} {rng.choice(_FAMILY)}"


def seed_site(
    session: Session,
    settings: Settings,
    *,
    per_building: int = 240,
    days: int = 7,
    start: dt.date | None = None,
    seed: int = 2020,
) -> str:
    """Fill (or refresh) the site; a one-line summary. The caller commits."""
    rng = random.Random(seed)
    tz = ZoneInfo(settings.records.timezone)
    key = pseudonym_key(settings)
    population = Population.generate(
        [b for b, _, _ in BUILDINGS], key, per_building=per_building, units=UNITS
    )
    for slug, name, short in BUILDINGS:
        _place(session, slug, name, short)
    unit_building = {r.unit: r.building for r in population.residents}
    for number in range(1, UNITS + 1):
        code = f"u{number:02d}"
        if lookup.unit(session, code) is None:
            building = lookup.building(session, unit_building.get(number, BUILDINGS[0][0]))
            assert building is not None
            session.add(DormUnit(code=code, name=f"Dorm unit {number}", building_id=building.id))
    for number in range(1, GRID_UNITS + 1):
        code = f"g{number:02d}"
        if lookup.grid_unit(session, code) is None:
            session.add(GridUnit(code=code, name=f"Grid unit {number}"))
    session.flush()
    rooms = {(r.building, r.room): r.unit for r in population.residents}
    for (building_slug, room), unit in sorted(rooms.items()):
        upsert_room(session, RoomIn(building=building_slug, number=room, unit=f"u{unit:02d}"))
    staff = _staff(session, rng)
    for index, resident in enumerate(population.residents):
        upsert_student(
            session,
            StudentIn(
                student_no=f"S{index + 1:05d}",
                name=_name(rng),
                situation="on_campus",
                college="International College",
                grade=str(2022 + index % 4),
                class_name=f"C{index % 12 + 1:02d}",
                building=resident.building,
                room=resident.room,
                grid_unit=f"g{index % GRID_UNITS + 1:02d}",
                card_id=resident.card_id,
            ),
            key,
        )
    first = start or dt.datetime.now(tz).date()
    shifts = _roster(session, first, days, tz)
    return (
        f"seeded {len(BUILDINGS)} buildings, {UNITS} units, {len(rooms)} rooms, "
        f"{GRID_UNITS} grid units, {staff} staff, {len(population.residents)} students, "
        f"{shifts} shifts from {first}"
    )


def _place(session: Session, slug: str, name: str, short: str) -> None:
    building = lookup.building(session, slug)
    if building is None:
        building = Building(slug=slug, name=name)
        session.add(building)
        session.flush()
    entrance = lookup.entrance(session, building.id, "main")
    if entrance is None:
        entrance = Entrance(building_id=building.id, slug="main")
        session.add(entrance)
        session.flush()
    for device_id, kind, site, placement in (
        (f"hh-{short}-main-1", "handheld", "forehead", "door"),
        (f"ks-{short}-lobby-1", "kiosk", "canthus", "lobby"),
    ):
        if session.query(Device).filter_by(device_id=device_id).first() is None:
            session.add(
                Device(
                    device_id=device_id,
                    kind=kind,
                    site=site,
                    placement=placement,
                    entrance_id=entrance.id,
                    credentials_ref=f"mosquitto:{device_id}",
                    calibration=None,
                )
            )
    session.flush()


def _staff(session: Session, rng: random.Random) -> int:
    rows: list[StaffIn] = []
    rows.append(
        StaffIn(
            staff_no="T0001", name=_name(rng), position="college_staff", work_group_role="leader"
        )
    )
    rows += [
        StaffIn(
            staff_no=f"T000{i}", name=_name(rng), position="college_staff", work_group_role="deputy"
        )
        for i in (2, 3)
    ]
    for i, group in enumerate(SUB_GROUPS):
        rows += [
            StaffIn(
                staff_no=f"T01{i}{j}",
                name=_name(rng),
                position="college_staff",
                work_group_role="member",
                sub_group=group,  # type: ignore[arg-type]
                sub_group_role="leader" if j == 0 else "member",
            )
            for j in range(2)
        ]
    rows += [
        StaffIn(
            staff_no=f"U{u:04d}",
            name=_name(rng),
            position="unit_supervisor",
            supervises_unit=f"u{u:02d}",
        )
        for u in range(1, UNITS + 1)
    ]
    rows += [
        StaffIn(staff_no=f"D{b}{i:03d}", name=_name(rng), position="duty")
        for b in (2, 3)
        for i in range(1, DUTY_PER_BUILDING + 1)
    ]
    rows += [
        StaffIn(staff_no=f"C{i:04d}", name=_name(rng), position="clinic_liaison")
        for i in range(1, CLINIC_LIAISONS + 1)
    ]
    rows += [
        StaffIn(
            staff_no=f"G{g:02d}{r}",
            name=_name(rng),
            position="class_adviser" if r == 1 else "teacher",
            grid_unit=f"g{g:02d}",
            grid_role="leader" if r == 1 else "member",
        )
        for g in range(1, GRID_UNITS + 1)
        for r in (1, 2)
    ]
    for row in rows:
        upsert_staff(session, row)
    return len(rows)


def _roster(session: Session, first: dt.date, days: int, tz: ZoneInfo) -> int:
    """Three 8-hour duty shifts a day per building, a 24-hour duty leader per building (the
    deputies taking turns) and the clinic liaisons on call campus-wide in 12-hour shifts."""
    count = 0
    for offset in range(days):
        midnight = dt.datetime.combine(first + dt.timedelta(days=offset), dt.time(), tz)
        for b, (slug, _, _) in enumerate(BUILDINGS):
            for s in range(24 // SHIFT_HOURS):
                starts = midnight + dt.timedelta(hours=s * SHIFT_HOURS)
                staff_no = f"D{b + 2}{(offset * 3 + s) % DUTY_PER_BUILDING + 1:03d}"
                upsert_shift(
                    session,
                    ShiftIn(
                        building=slug,
                        staff_no=staff_no,
                        role="duty",
                        starts_at=starts,
                        ends_at=starts + dt.timedelta(hours=SHIFT_HOURS),
                    ),
                )
                count += 1
            upsert_shift(
                session,
                ShiftIn(
                    building=slug,
                    staff_no=f"T000{(offset + b) % 2 + 2}",
                    role="leader",
                    starts_at=midnight,
                    ends_at=midnight + dt.timedelta(days=1),
                ),
            )
            count += 1
        for half in range(2):
            starts = midnight + dt.timedelta(hours=12 * half)
            upsert_shift(
                session,
                ShiftIn(
                    staff_no=f"C{(offset * 2 + half) % CLINIC_LIAISONS + 1:04d}",
                    role="clinic_liaison",
                    starts_at=starts,
                    ends_at=starts + dt.timedelta(hours=12),
                ),
            )
            count += 1
    return count
