"""Alert routing from the duty roster: :class:`SqlRoster` implements
:class:`thermogate.alerts.lifecycle.routing.Roster` over the records service's tables.

``route(building, at)`` tells first the clinic liaison on call and the staff on duty in the
building (from ``duty_shifts``), then escalates one contact per step: the building's duty
leader on shift, the work group's deputies, and its leader (``staff.work_group_role``). Each
contact carries the apprise URLs in ``staff.notify_urls``; nobody appears twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from thermogate.alerts.lifecycle.routing import Contact, Route
from thermogate.records.models import Staff
from thermogate.records.services import lookup
from thermogate.records.services.roster import on_duty

log = logging.getLogger(__name__)

FIRST_ROLES = ("clinic_liaison", "duty")
"""Shift roles told at once, in this order."""
CONTACT_ROLE = {"clinic_liaison": "clinic_liaison", "duty": "duty", "leader": "duty_leader"}


class SqlRoster:
    """The roster as alert routing sees it, read from the database at each call."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def route(self, building: str, at: dt.datetime) -> Route:
        """Who hears of an alert in ``building`` at ``at`` (empty for an unknown building)."""
        with self._sessions() as session:
            place = lookup.building(session, building)
            if place is None:
                log.warning("route for an unknown building", extra={"building": building})
                return Route(first=())
            shifts = on_duty(session, place, at)
            first = [
                _contact(o.staff, CONTACT_ROLE[o.shift.role])
                for role in FIRST_ROLES
                for o in shifts
                if o.shift.role == role
            ]
            escalation = [
                _contact(o.staff, "duty_leader") for o in shifts if o.shift.role == "leader"
            ]
            escalation += _work_group(session, "deputy", "deputy")
            escalation += _work_group(session, "leader", "group_leader")
        return Route(first=_unique(first, ()), escalation=_unique(escalation, first))


def _work_group(session: Session, role: str, as_role: str) -> list[Contact]:
    staff = session.scalars(
        select(Staff).where(Staff.work_group_role == role).order_by(Staff.staff_no)
    )
    return [_contact(s, as_role) for s in staff]


def _contact(staff: Staff, role: str) -> Contact:
    return Contact(
        contact_id=staff.staff_no,
        name=staff.name,
        role=role,
        channel_urls=tuple(staff.notify_urls or ()),
    )


def _unique(contacts: Iterable[Contact], told: Iterable[Contact]) -> tuple[Contact, ...]:
    seen = {c.contact_id for c in told}
    kept: list[Contact] = []
    for contact in contacts:
        if contact.contact_id not in seen:
            seen.add(contact.contact_id)
            kept.append(contact)
    return tuple(kept)
