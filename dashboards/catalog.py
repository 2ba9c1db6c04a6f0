"""Every dashboard and the folder they live in: what ``build`` writes and ``push`` uploads."""

from __future__ import annotations

from typing import Final

from thermogate.dashboards.boards import coverage, devices_pipeline, duty_desk
from thermogate.dashboards.model import Dashboard

FOLDER_UID: Final = "thermogate"


def dashboards() -> list[Dashboard]:
    """The dashboards, home dashboard first."""
    return [duty_desk.dashboard(), devices_pipeline.dashboard(), coverage.dashboard()]
