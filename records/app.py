"""The FastAPI application of the records service, built from settings given by the caller."""

from __future__ import annotations

from fastapi import FastAPI

import thermogate
from thermogate.config import Settings
from thermogate.records.api import ROUTERS
from thermogate.records.api.health import SERVICE_NAME


def create_app(settings: Settings) -> FastAPI:
    """An app serving every router of :data:`thermogate.records.api.ROUTERS`.

    ``settings`` is kept on ``app.state.settings`` for dependencies; nothing is read from the
    environment or the configuration file here.
    """
    app = FastAPI(
        title=SERVICE_NAME,
        version=thermogate.__version__,
        summary="Companion records service of thermogate.",
    )
    app.state.settings = settings
    for router in ROUTERS:
        app.include_router(router)
    return app
