"""What every request of the records service shares: settings, sessions, the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from thermogate.config import Settings
from thermogate.records.security.pseudonyms import pseudonym_key

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class RecordsContext:
    """Built once per app in its lifespan; dependencies read it from ``app.state.records``."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock

    @property
    def tz(self) -> ZoneInfo:
        """The local time zone of daily checks and reports (records.timezone)."""
        return ZoneInfo(self.settings.records.timezone)

    @property
    def pseudonym_key(self) -> bytes:
        """The key the edge hashes card ids with: the records service computes the same ids."""
        return pseudonym_key(self.settings)
