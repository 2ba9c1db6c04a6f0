"""The records service: the companion HTTP API beside the gateway.

It will hold students, staff, rooms, the duty roster and cases; for now it answers
``GET /health``. Build the app with :func:`create_app` from settings the caller loaded, and
run it with :func:`serve`. Each resource is one router module under
:mod:`thermogate.records.api`, listed in ``api.ROUTERS``.
"""

from thermogate.records.app import create_app
from thermogate.records.server import build_server, serve

__all__ = ["build_server", "create_app", "serve"]
