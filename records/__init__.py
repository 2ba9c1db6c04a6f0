"""The records service: people, places, the duty roster, leave, daily screening and cases.

Build the app with :func:`create_app` from settings the caller loaded, and run it with
:func:`serve`. Each resource is one router module under :mod:`thermogate.records.api`,
listed in ``api.ROUTERS``. The names are loaded on first use, so a client of the service
(:mod:`thermogate.records.client`) imports no web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thermogate.records.app import create_app
    from thermogate.records.server import build_server, serve

__all__ = ["build_server", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from thermogate.records.app import create_app  # noqa: PLC0415 - loaded on first use

        return create_app
    if name in ("build_server", "serve"):
        from thermogate.records import server  # noqa: PLC0415

        return getattr(server, name)
    raise AttributeError(name)
