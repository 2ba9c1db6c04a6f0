"""The lifecycle's rules as pure functions: kinds, severities, episodes, roles, escalation.

Nothing here touches a database or the network, so every rule is tested on its own and the
store (:mod:`thermogate.alerts.lifecycle.service`) only applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from thermogate.alerts.lifecycle.routing import Contact, Route
from thermogate.contract.messages import Alert, AlertKind, Severity


class State(StrEnum):
    """Where an alert is in its lifecycle: raised → acknowledged → cleared."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


OPEN_STATES: Final = (State.RAISED.value, State.ACKNOWLEDGED.value)


class Role(StrEnum):
    """The records service's roles, as the lifecycle checks them."""

    ADMIN = "admin"
    DUTY = "duty"
    UNIT_SUPERVISOR = "unit_supervisor"
    GRID_LEADER = "grid_leader"
    CLINIC = "clinic"
    CONTACT = "contact"
    """Whoever holds a signed link sent to them: may acknowledge that alert, nothing more."""
    SYSTEM = "system"
    """The lifecycle itself (a ``device_back`` closing a ``device_offline``)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change: the user id (for the history) and the role (for the rules)."""

    user_id: str
    role: str

    @property
    def label(self) -> str:
        """How the history names this actor: ``clinic:u-17``."""
        return f"{self.role}:{self.user_id}"


SYSTEM_ACTOR: Final = Actor("lifecycle", Role.SYSTEM.value)

LIFECYCLE_KINDS: Final = frozenset(
    {
        AlertKind.FEVER,
        AlertKind.FEVER_UNCONFIRMED,
        AlertKind.DEVICE_OFFLINE,
        AlertKind.DEVICE_FAULT,
        AlertKind.EDGE_BACKLOG,
        AlertKind.GATEWAY_LAGGING,
        AlertKind.LEAVE_OVERDUE,
    }
)
"""Kinds that open a lifecycle alert. ``recheck`` is a prompt to the entrance and unit staff
(delivered by the gateway's dispatcher); the closing kinds below only close."""

CLOSING_KINDS: Final = frozenset({AlertKind.DEVICE_BACK, AlertKind.DEVICE_RECOVERED})
"""``device_back`` clears the device's open ``device_offline``, ``device_recovered`` its open
``device_fault`` (they share its episode key)."""

SEVERITY: Final[dict[AlertKind, Severity]] = {
    AlertKind.FEVER: Severity.CRITICAL,
    AlertKind.FEVER_UNCONFIRMED: Severity.WARNING,
    AlertKind.DEVICE_OFFLINE: Severity.WARNING,
    AlertKind.DEVICE_FAULT: Severity.WARNING,
    AlertKind.EDGE_BACKLOG: Severity.WARNING,
    AlertKind.GATEWAY_LAGGING: Severity.CRITICAL,
    AlertKind.LEAVE_OVERDUE: Severity.WARNING,
}
"""A lagging gateway is critical: while it lags no fever reaches the clinic."""

_FEVER_FAMILY: Final = (AlertKind.FEVER_UNCONFIRMED, AlertKind.FEVER)
"""In rising order: an unconfirmed episode becomes a confirmed one, never the reverse."""

_ACKNOWLEDGE: Final = frozenset(
    {Role.ADMIN, Role.DUTY, Role.CLINIC, Role.UNIT_SUPERVISOR, Role.GRID_LEADER, Role.CONTACT}
)
_CLEAR: Final[dict[AlertKind, frozenset[Role]]] = {
    AlertKind.FEVER: frozenset({Role.CLINIC}),
    AlertKind.FEVER_UNCONFIRMED: frozenset({Role.CLINIC}),
    AlertKind.DEVICE_OFFLINE: frozenset({Role.DUTY, Role.ADMIN}),
    AlertKind.DEVICE_FAULT: frozenset({Role.DUTY, Role.ADMIN}),
    AlertKind.EDGE_BACKLOG: frozenset({Role.DUTY, Role.ADMIN}),
    AlertKind.GATEWAY_LAGGING: frozenset({Role.DUTY, Role.ADMIN}),
    AlertKind.LEAVE_OVERDUE: frozenset({Role.DUTY, Role.UNIT_SUPERVISOR, Role.ADMIN}),
}
"""A fever is cleared by a clinician only; the doors and the pipeline by the duty desk."""


def _fever_subject(alert: Alert) -> str:
    if alert.person_id is not None:
        return f"person:{alert.person_id}"
    return f"reading:{alert.reading_id or alert.alert_id}"


def _device_subject(alert: Alert) -> str:
    return alert.device_id or alert.edge_id or alert.building


_EPISODES: Final[dict[AlertKind, tuple[str, Callable[[Alert], str]]]] = {
    AlertKind.FEVER: ("fever", _fever_subject),
    AlertKind.FEVER_UNCONFIRMED: ("fever", _fever_subject),
    AlertKind.DEVICE_OFFLINE: ("device", _device_subject),
    AlertKind.DEVICE_BACK: ("device", _device_subject),
    AlertKind.DEVICE_FAULT: ("device_fault", _device_subject),
    AlertKind.DEVICE_RECOVERED: ("device_fault", _device_subject),
    AlertKind.EDGE_BACKLOG: ("edge_backlog", lambda a: a.edge_id or a.building),
    AlertKind.LEAVE_OVERDUE: ("leave", lambda a: a.person_id or a.alert_id),
}


def episode_key(alert: Alert) -> str:
    """The subject an alert belongs to: one open lifecycle alert per key and episode.

    Fever kinds share one key per person (an unidentified reading is its own subject);
    ``device_offline`` and ``device_back`` share the device's, as do ``device_fault`` and
    ``device_recovered``; ``gateway_lagging`` is per building.
    """
    prefix, subject = _EPISODES.get(alert.kind, (alert.kind.value, lambda a: a.building))
    return f"{prefix}:{subject(alert)}"


def stronger_kind(current: AlertKind, incoming: AlertKind) -> AlertKind:
    """The kind an episode shows after ``incoming`` joined it (a fever outranks unconfirmed)."""
    if current in _FEVER_FAMILY and incoming in _FEVER_FAMILY:
        return max(current, incoming, key=_FEVER_FAMILY.index)
    return current


def may_acknowledge(actor: Actor) -> bool:
    """Anyone who works the alerts (or holds its signed link) may acknowledge it."""
    return actor.role in _ACKNOWLEDGE


def may_clear(kind: AlertKind, actor: Actor) -> bool:
    """Clearing is for the clinic (fever kinds) or the duty desk (everything else)."""
    return actor.role in _CLEAR.get(kind, frozenset())


def clearing_roles(kind: AlertKind) -> list[str]:
    """The roles that may clear ``kind`` (for error messages and the docs)."""
    return sorted(role.value for role in _CLEAR.get(kind, frozenset()) if role is not Role.SYSTEM)


CLINIC_KINDS: Final = frozenset({AlertKind.FEVER, AlertKind.FEVER_UNCONFIRMED})
"""Kinds the clinic liaison hears about; the doors and the pipeline are the duty desk's."""
CLINIC_CONTACT_ROLE: Final = "clinic_liaison"


def step_contacts(route: Route, step: int, kind: AlertKind) -> Sequence[Contact]:
    """Who is told at escalation ``step``: the first contacts at 0, then one escalation
    contact per step, the last one repeating; with no escalation contacts, the first again.

    The clinic liaison is among the first contacts only for fever kinds (unless nobody else
    is on the route): a silent handheld is the duty desk's business, not the clinic's.
    """
    if step > 0 and route.escalation:
        return (route.escalation[min(step, len(route.escalation)) - 1],)
    if kind in CLINIC_KINDS:
        return route.first
    desk = tuple(c for c in route.first if c.role != CLINIC_CONTACT_ROLE)
    return desk or route.first
