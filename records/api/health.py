"""``GET /health``: the liveness probe of the records service (compose healthchecks, monitors)."""

from __future__ import annotations

from typing import Final, Literal

from fastapi import APIRouter
from pydantic import BaseModel

import thermogate

SERVICE_NAME: Final = "thermogate-records"

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """The service is up and which build it runs."""

    status: Literal["ok"]
    service: str
    version: str


@router.get("/health")
def health() -> Health:
    """Answer while the process serves requests (liveness: the database is not checked, so a
    database hiccup does not get the service restarted)."""
    return Health(status="ok", service=SERVICE_NAME, version=thermogate.__version__)
