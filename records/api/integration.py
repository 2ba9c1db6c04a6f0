"""What the gateway reads from and sends to the records service.

``GET /integration/registry`` is the device registry; ``GET /integration/people`` maps each
pseudonymous id to its building, unit and grid unit (never a name or a card);
``POST /integration/readings`` takes decided readings, which become daily checks and close
leave by the next entrance reading. The ``gateway`` role (or an admin) calls them.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from thermogate.contract.messages import Placement
from thermogate.records.api.deps import ContextDep, IntegrationUser, NowDep, SessionDep
from thermogate.records.api.errors import responses
from thermogate.records.api.places import device_rows
from thermogate.records.audit import audit
from thermogate.records.models import Building, DormUnit, GridUnit, Student
from thermogate.records.services.leave import close_by_reading
from thermogate.records.services.screening import record_check
from thermogate.records.wire import (
    People,
    PersonPlace,
    ReadingsIn,
    ReadingsResult,
    Registry,
)

router = APIRouter(tags=["integration"])


@router.get("/integration/registry", responses=responses(403))
def registry(_: IntegrationUser, session: SessionDep, now: NowDep) -> Registry:
    """The device registry (kind, site, placement, entrance, calibration overrides)."""
    return Registry(generated_at=now, devices=device_rows(session))


@router.get("/integration/people", responses=responses(403))
def people(_: IntegrationUser, session: SessionDep, now: NowDep) -> People:
    """Pseudonymous id -> building, unit, grid unit, for every student with a card."""
    rows = session.execute(
        select(Student.person_id, Building.slug, DormUnit.code, GridUnit.code)
        .outerjoin(Building, Building.id == Student.building_id)
        .outerjoin(DormUnit, DormUnit.id == Student.unit_id)
        .outerjoin(GridUnit, GridUnit.id == Student.grid_unit_id)
        .where(Student.person_id.is_not(None))
        .order_by(Student.person_id)
    )
    return People(
        generated_at=now,
        people=[
            PersonPlace(person_id=p, building=b, unit=u, grid_unit=g)
            for p, b, u, g in rows
            if p is not None
        ],
    )


@router.post("/integration/readings", responses=responses(403))
def readings(
    body: ReadingsIn, who: IntegrationUser, session: SessionDep, context: ContextDep, now: NowDep
) -> ReadingsResult:
    """Record decided readings as daily checks and close leave by entrance readings.

    A valid reading (not ``invalid``) counts as a check in its slot, ``entrance`` at the door
    or in the lobby and ``room`` for the in-room check; a ``recheck`` or ``fever`` marks it
    abnormal. Any reading at the door or lobby closes the person's leave that is ``out``.
    The same reading id is counted once, so a redelivered batch changes nothing.
    """
    ids = {r.person_id for r in body.readings}
    students = {
        s.person_id: s for s in session.scalars(select(Student).where(Student.person_id.in_(ids)))
    }
    checks = returns = unknown = 0
    for reading in sorted(body.readings, key=lambda r: r.ts):
        student = students.get(reading.person_id)
        if student is None:
            unknown += 1
            continue
        entrance = reading.placement in (Placement.DOOR, Placement.LOBBY)
        if entrance and close_by_reading(session, student.id, reading.ts, reading.reading_id):
            returns += 1
        if reading.decision == "invalid" or reading.temp_c is None:
            continue
        check = record_check(
            session,
            student,
            at=reading.ts,
            temp_c=reading.adjusted_c if reading.adjusted_c is not None else reading.temp_c,
            abnormal=reading.decision in ("recheck", "fever"),
            source="entrance" if entrance else "room",
            source_ref=reading.reading_id,
            recorded_by=who.username,
            tz=context.tz,
        )
        checks += check is not None
    audit(
        session,
        who,
        at=now,
        action="create",
        resource="screening_check",
        detail=f"readings={len(body.readings)} checks={checks} returns={returns}",
    )
    session.commit()
    return ReadingsResult(checks=checks, returns=returns, unknown=unknown)
