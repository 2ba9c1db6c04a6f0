"""Run the records service under uvicorn, logging through thermogate's structured logs."""

from __future__ import annotations

import uvicorn

from thermogate.config import Settings
from thermogate.records.app import create_app
from thermogate.records.context import Clock, system_clock


def build_server(settings: Settings, clock: Clock = system_clock) -> uvicorn.Server:
    """A uvicorn server for the app on ``settings.records.host``/``port`` (not yet running).

    ``log_config=None`` leaves uvicorn's loggers to propagate to the root handler installed by
    :func:`thermogate.log.configure_logging`, so its lines come out as our JSON or console lines.
    """
    config = uvicorn.Config(
        create_app(settings, clock),
        host=settings.records.host,
        port=settings.records.port,
        log_config=None,
        reload=False,
        server_header=False,
    )
    return uvicorn.Server(config)


def serve(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM."""
    build_server(settings).run()
