"""The lifecycle's HTTP API: list, read, acknowledge and clear alerts; the signed-link pages.

Mounted by the records service (``app.include_router(router)``). Two things come from the app:

- :func:`current_actor`, a placeholder the app replaces through
  ``app.dependency_overrides[current_actor]`` with its authenticated user (an :class:`Actor`
  of user id and role); unreplaced, every authenticated route answers 401.
- ``app.state.alert_lifecycle``: the :class:`LifecycleState` (service and link signer) that
  :func:`thermogate.alerts.lifecycle.runner.start_lifecycle` returns as ``handle.state``;
  without it the routes answer 503.

The link routes need no login: the signed token is the credential, good for one alert and
one action until it expires.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from thermogate.alerts.lifecycle import pages
from thermogate.alerts.lifecycle.links import LinkAction, LinkError, LinkSigner
from thermogate.alerts.lifecycle.policy import Actor, Role
from thermogate.alerts.lifecycle.service import LifecycleError, LifecycleService

STATE_KEY: Final = "alert_lifecycle"
READERS: Final = frozenset(
    {Role.ADMIN, Role.DUTY, Role.CLINIC, Role.UNIT_SUPERVISOR, Role.GRID_LEADER}
)
"""Roles that may read the alert list (the same that read health data in the records)."""


@dataclass(frozen=True, slots=True)
class LifecycleState:
    """What the routes need from the running lifecycle."""

    service: LifecycleService
    links: LinkSigner


def current_actor() -> Actor:
    """Placeholder for the records service's authenticated user: override it in the app."""
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="not authenticated",
        headers={"WWW-Authenticate": "Bearer"},
    )


def lifecycle_state(request: Request) -> LifecycleState:
    """The running lifecycle of this app (503 while there is none)."""
    state = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(state, LifecycleState):
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the alert lifecycle is not running"
        )
    return state


ActorDep = Annotated[Actor, Depends(current_actor)]
StateDep = Annotated[LifecycleState, Depends(lifecycle_state)]


class EventOut(BaseModel):
    """One entry of an alert's history."""

    model_config = ConfigDict(from_attributes=True)

    at: dt.datetime
    action: str
    actor: str | None
    detail: str | None


class AlertOut(BaseModel):
    """A lifecycle alert as the clinic and the duty desk see it (pseudonymous ids only)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    state: Literal["raised", "acknowledged", "cleared"]
    kind: str
    severity: str
    building: str
    entrance: str | None
    device_id: str | None
    edge_id: str | None
    person_id: str | None
    count: int
    first_temp_c: float | None
    last_temp_c: float | None
    max_temp_c: float | None
    threshold_c: float | None
    first_at: dt.datetime
    last_at: dt.datetime
    message: str
    raised_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    cleared_at: dt.datetime | None
    cleared_by: str | None
    clear_note: str | None
    escalation_level: int
    next_escalation_at: dt.datetime | None


class AlertDetail(AlertOut):
    """An alert with its history."""

    events: list[EventOut]


class ClearIn(BaseModel):
    """What the clinician (or duty) says when clearing."""

    model_config = ConfigDict(extra="forbid")

    note: Annotated[str | None, Field(max_length=2000)] = None


Responses = dict[int | str, dict[str, Any]]

_ERRORS: Final[Responses] = {
    401: {"description": "Not authenticated"},
    403: {"description": "The role may not do this"},
    404: {"description": "No such alert"},
    503: {"description": "The alert lifecycle is not running"},
}

router = APIRouter(prefix="/alerts", tags=["alerts"])


def _reader(actor: Actor) -> Actor:
    if actor.role not in READERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {actor.role} may not read alerts")
    return actor


def _refuse(error: LifecycleError) -> HTTPException:
    return HTTPException(error.status, error.reason)


@router.get("", response_model=list[AlertOut], responses={k: _ERRORS[k] for k in (401, 403, 503)})
def list_alerts(
    actor: ActorDep,
    lifecycle: StateDep,
    state: Annotated[Literal["open", "all", "raised", "acknowledged", "cleared"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertOut]:
    """Alerts, newest first: ``open`` (raised or acknowledged; default), ``all``, or a state."""
    _reader(actor)
    rows = lifecycle.service.alerts(
        open_only=state == "open",
        state=None if state in ("open", "all") else state,
        limit=limit,
    )
    return [AlertOut.model_validate(row) for row in rows]


@router.get("/{alert_id}", response_model=AlertDetail, responses=_ERRORS)
def read_alert(alert_id: int, actor: ActorDep, lifecycle: StateDep) -> AlertDetail:
    """One alert and its history."""
    _reader(actor)
    try:
        row, events = lifecycle.service.get(alert_id)
    except LifecycleError as exc:
        raise _refuse(exc) from None
    return AlertDetail.model_validate(
        {
            **AlertOut.model_validate(row).model_dump(),
            "events": [EventOut.model_validate(e) for e in events],
        }
    )


@router.post(
    "/{alert_id}/ack",
    response_model=AlertOut,
    responses={**_ERRORS, 409: {"description": "Already cleared"}},
)
def acknowledge(alert_id: int, actor: ActorDep, lifecycle: StateDep) -> AlertOut:
    """raised → acknowledged (escalation stops); acknowledging again changes nothing."""
    try:
        return AlertOut.model_validate(lifecycle.service.acknowledge(alert_id, actor))
    except LifecycleError as exc:
        raise _refuse(exc) from None


@router.post(
    "/{alert_id}/clear",
    response_model=AlertOut,
    responses={**_ERRORS, 409: {"description": "Already cleared"}},
)
def clear(
    alert_id: int, actor: ActorDep, lifecycle: StateDep, body: ClearIn | None = None
) -> AlertOut:
    """→ cleared: fever kinds by the clinic, devices and pipeline by duty (or admin)."""
    try:
        return AlertOut.model_validate(
            lifecycle.service.clear(alert_id, actor, body.note if body else None)
        )
    except LifecycleError as exc:
        raise _refuse(exc) from None


_LINK_RESPONSES: Final[Responses] = {
    403: {"description": "Tampered, foreign or wrong-action link", "content": {"text/html": {}}},
    404: {"description": "No such alert", "content": {"text/html": {}}},
    410: {"description": "Expired link", "content": {"text/html": {}}},
    503: {"description": "The alert lifecycle is not running"},
}


def _link_error(status_code: int, reason: str) -> HTMLResponse:
    return HTMLResponse(pages.link_error(status_code, reason), status_code=status_code)


@router.get("/{alert_id}/ack-link", response_class=HTMLResponse, responses=_LINK_RESPONSES)
def ack_link_page(
    alert_id: int, lifecycle: StateDep, token: Annotated[str, Query(max_length=4096)]
) -> HTMLResponse:
    """The acknowledge link: shows the alert and a confirm button (GET changes nothing)."""
    try:
        lifecycle.links.verify(token, alert_id, LinkAction.ACK)
        row, _ = lifecycle.service.get(alert_id)
    except (LinkError, LifecycleError) as exc:
        return _link_error(exc.status, exc.reason)
    if row.state != "raised":
        return HTMLResponse(pages.acknowledged(row))
    return HTMLResponse(pages.confirm_ack(row, token))


@router.post("/{alert_id}/ack-link", response_class=HTMLResponse, responses=_LINK_RESPONSES)
def ack_link_confirm(
    alert_id: int, lifecycle: StateDep, token: Annotated[str, Form(max_length=4096)]
) -> HTMLResponse:
    """The confirm button: acknowledges as the contact the link was sent to."""
    try:
        claims = lifecycle.links.verify(token, alert_id, LinkAction.ACK)
        row, _ = lifecycle.service.get(alert_id)
        if row.state == "raised":
            row = lifecycle.service.acknowledge(
                alert_id, Actor(claims.contact_id, Role.CONTACT.value)
            )
    except (LinkError, LifecycleError) as exc:
        return _link_error(exc.status, exc.reason)
    return HTMLResponse(pages.acknowledged(row))


@router.get("/{alert_id}/open-link", response_class=HTMLResponse, responses=_LINK_RESPONSES)
def open_link(
    alert_id: int, lifecycle: StateDep, token: Annotated[str, Query(max_length=4096)]
) -> HTMLResponse:
    """The open link: the alert and its history, read-only, with an acknowledge button."""
    try:
        claims = lifecycle.links.verify(token, alert_id, LinkAction.OPEN)
        row, events = lifecycle.service.get(alert_id)
    except (LinkError, LifecycleError) as exc:
        return _link_error(exc.status, exc.reason)
    ack_token = lifecycle.links.token(alert_id, LinkAction.ACK, claims.contact_id)
    return HTMLResponse(pages.opened(row, events, ack_token))
