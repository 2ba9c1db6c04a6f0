"""Write the audit log: every read and change of health data, by whom and when."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from thermogate.records.models import AuditEntry
from thermogate.records.security.roles import Principal

log = logging.getLogger(__name__)


def audit(
    session: Session,
    who: Principal,
    *,
    at: dt.datetime,
    action: str,
    resource: str,
    resource_id: object | None = None,
    detail: str | None = None,
) -> None:
    """Add an audit entry to ``session`` (committed with the change it records)."""
    session.add(
        AuditEntry(
            at=at,
            username=who.username,
            role=who.role.value,
            action=action,
            resource=resource,
            resource_id=None if resource_id is None else str(resource_id),
            detail=None if detail is None else detail[:500],
        )
    )
    log.info(
        "audit",
        extra={"user": who.username, "action": action, "resource": resource, "id": resource_id},
    )
