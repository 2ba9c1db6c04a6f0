"""Who is told about an alert: the interface between the duty roster and alert routing.

The records service owns the roster (:mod:`thermogate.records`) and implements
:class:`Roster` over its tables; the alert lifecycle only calls :meth:`Roster.contacts`, so it
can be tested with any roster and never imports the records service's models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Contact:
    """One person who can be notified, with the apprise URLs that reach them."""

    contact_id: str
    """Stable id (the staff member's id in the records service)."""
    name: str
    role: str
    """``clinic_liaison``, ``duty``, ``unit_supervisor``, ``group_leader``, ..."""
    channel_urls: Sequence[str] = field(default_factory=tuple)
    """apprise URLs (``wecombot://``, ``dingtalk://``, ``mailto://``, ``ntfy://``, ``json://``)."""


@dataclass(frozen=True, slots=True)
class Route:
    """Who hears about an alert in one building at one time."""

    first: Sequence[Contact]
    """Told at once: the clinic liaison on call and the staff on duty for the building."""
    escalation: Sequence[Contact] = field(default_factory=tuple)
    """Told one step per escalation period while the alert stays unacknowledged (the next
    contacts: deputies, the work group's leader); after the last, the last step repeats."""


class Roster(Protocol):
    """The duty roster, as alert routing sees it."""

    def route(self, building: str, at: datetime) -> Route:
        """The route for an alert raised in ``building`` at ``at`` (empty lists if nobody)."""
        ...
