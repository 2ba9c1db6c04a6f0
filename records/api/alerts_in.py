"""``POST /integration/alerts``: every alert of the gateway, for the lifecycle and the cases.

The alert goes to the alert lifecycle when it runs in this service (``records.alert_lifecycle``
``api`` or ``mqtt``; it deduplicates by ``alert_id``), and, when it is about a person, opens or
updates that person's fever case. Alerts about devices and edges only reach the lifecycle.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from thermogate.contract.messages import Alert
from thermogate.records import lifecycle
from thermogate.records.api.deps import NowDep, SessionDep, require
from thermogate.records.api.errors import responses
from thermogate.records.audit import audit
from thermogate.records.security.roles import Principal, Role
from thermogate.records.services.cases import NotACaseError, open_from_alert
from thermogate.records.wire import AlertTaken

router = APIRouter(tags=["integration"])

Sender = Annotated[Principal, Depends(require(Role.GATEWAY, Role.ADMIN))]


@router.post("/integration/alerts", responses=responses(403))
def take_alert(
    alert: Alert, who: Sender, session: SessionDep, now: NowDep, request: Request
) -> AlertTaken:
    """Hand the alert to the lifecycle (if running) and open or update the person's case."""
    state = lifecycle.state(request.app)
    ingested = state.service.ingest(alert) if state is not None else None
    case_id, opened = None, False
    try:
        case, opened = open_from_alert(session, alert, who.username)
        case_id = case.id
    except NotACaseError:
        pass
    else:
        audit(
            session,
            who,
            at=now,
            action="create" if opened else "update",
            resource="fever_case",
            resource_id=case_id,
            detail=f"alert {alert.alert_id}",
        )
        session.commit()
    return AlertTaken(
        lifecycle=None if ingested is None else ingested.outcome.value,
        lifecycle_alert_id=None if ingested is None else ingested.alert_id,
        case_id=case_id,
        case_opened=opened,
    )
