"""The HTTP API of the records service: one router per resource, mounted in order."""

from typing import Final

from fastapi import APIRouter

from thermogate.records.api import auth, health, people, places

ROUTERS: Final[tuple[APIRouter, ...]] = (
    health.router,
    auth.router,
    places.router,
    people.router,
)
"""Every router the app mounts; a new resource adds its module's router here."""

__all__ = ["ROUTERS"]
