"""The FastAPI application of the records service, built from settings given by the caller."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError

import thermogate
from thermogate.config import Settings
from thermogate.records import lifecycle
from thermogate.records.api import ROUTERS
from thermogate.records.api.health import SERVICE_NAME
from thermogate.records.context import Clock, RecordsContext, system_clock
from thermogate.records.db.engine import make_engine, make_sessions
from thermogate.records.db.migrate import upgrade_to_head
from thermogate.records.desk import router as desk_router
from thermogate.records.services.users import bootstrap_admin

log = logging.getLogger(__name__)


def create_app(settings: Settings, clock: Clock = system_clock) -> FastAPI:
    """An app serving every router of :data:`thermogate.records.api.ROUTERS`.

    Its lifespan opens the database (``records.database_url``), migrates it to the newest
    revision, when ``records.bootstrap_admin`` is set and there is no account yet creates that
    admin, and starts the alert lifecycle when ``records.alert_lifecycle`` is on. ``clock``
    gives "now" to every rule (tests move it instead of sleeping).
    Nothing is read from the environment or the configuration file here.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.records.sqlalchemy_url)
        upgrade_to_head(engine)
        sessions = make_sessions(engine)
        records = settings.records
        if records.bootstrap_admin and records.bootstrap_password is not None:
            with sessions() as session:
                if bootstrap_admin(
                    session, records.bootstrap_admin, records.bootstrap_password.get_secret_value()
                ):
                    log.warning("bootstrap admin created", extra={"user": records.bootstrap_admin})
        app.state.records = RecordsContext(
            settings=settings, engine=engine, sessions=sessions, clock=clock
        )
        running = lifecycle.start(app, settings, engine, sessions, clock)
        try:
            yield
        finally:
            if running is not None:
                running.stop()
            engine.dispose()

    app = FastAPI(
        title=SERVICE_NAME,
        version=thermogate.__version__,
        summary="Companion records service of thermogate.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    for router in ROUTERS:
        app.include_router(router)
    lifecycle.mount(app, settings)
    app.include_router(desk_router)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_exception_handler(DataError, _unstorable)
    return app


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    """A write that contradicts a constraint (two requests racing for one key): 409."""
    log.info("integrity error", extra={"error": str(exc).splitlines()[0]})
    return JSONResponse({"detail": "conflicts with stored data"}, status.HTTP_409_CONFLICT)


async def _unstorable(_request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot hold that validation let through: 422, not 500."""
    log.info("data error", extra={"error": str(exc).splitlines()[0]})
    detail = [{"loc": ["body"], "msg": "a value cannot be stored", "type": "value_error"}]
    return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)
