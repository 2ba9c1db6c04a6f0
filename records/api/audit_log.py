"""``GET /audit``: the audit log, for an admin to see who read or changed health data."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import select

from thermogate.records.api.deps import AdminUser, SessionDep
from thermogate.records.api.errors import responses
from thermogate.records.models import AuditEntry

router = APIRouter(tags=["audit"])

MAX_ROWS = 1000


class AuditOut(BaseModel):
    """One audited read or change."""

    id: int
    at: dt.datetime
    username: str
    role: str
    action: str
    resource: str
    resource_id: str | None
    detail: str | None


@router.get("/audit", responses=responses(403))
def read_audit(
    _: AdminUser,
    session: SessionDep,
    since: Annotated[AwareDatetime | None, Query()] = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 100,
) -> list[AuditOut]:
    """The newest entries first (at most ``limit``), from ``since``, of one user if given."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if username is not None:
        query = query.where(AuditEntry.username == username)
    return [
        AuditOut(
            id=e.id,
            at=e.at,
            username=e.username,
            role=e.role,
            action=e.action,
            resource=e.resource,
            resource_id=e.resource_id,
            detail=e.detail,
        )
        for e in session.scalars(query)
    ]
