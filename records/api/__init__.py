"""The HTTP API of the records service: one router per resource, mounted in order."""

from typing import Final

from fastapi import APIRouter

from thermogate.records.api import (
    alerts_in,
    audit_log,
    auth,
    cases,
    health,
    imports,
    integration,
    leave,
    people,
    places,
    reports,
    roster,
    screening,
)

ROUTERS: Final[tuple[APIRouter, ...]] = (
    health.router,
    auth.router,
    places.router,
    people.router,
    roster.router,
    leave.router,
    screening.router,
    cases.router,
    reports.router,
    imports.router,
    integration.router,
    alerts_in.router,
    audit_log.router,
)
"""Every router the app mounts; a new resource adds its module's router here."""

__all__ = ["ROUTERS"]
