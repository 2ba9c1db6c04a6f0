"""The outdoor temperature per building, from the retained ``thermogate/v1/weather/+`` feed.

The engine's cold-arrival correction needs how cold it is outside each building when a
reading is taken. A weather station, a campus feed or the simulator publishes a retained
:class:`~thermogate.contract.Weather` message per building; the gateway keeps the latest one
and gives each reading the value measured within ``engine.outdoor_max_age_s`` of it (before
or after), else NaN (no correction). A payload that is not a valid Weather message is logged
with its reason and ignored: a bad feed never stops readings.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from thermogate.contract import Weather
from thermogate.contract.topics import ROOT

log = logging.getLogger(__name__)

WEATHER_PREFIX = f"{ROOT}/weather/"


class OutdoorFeed:
    """The latest outdoor temperature per building; thread-safe."""

    def __init__(self, max_age_s: float) -> None:
        self._max_age_ms = int(max_age_s * 1000)
        self._latest: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self.refused = 0
        """Weather payloads that were not valid (logged)."""

    def on_message(self, topic: str, payload: bytes) -> None:
        """Take one weather message (network thread)."""
        if not payload:  # a cleared retained message
            return
        try:
            weather = Weather.model_validate_json(payload)
        except ValidationError as exc:
            self.refused += 1
            log.warning(
                "weather message refused",
                extra={"topic": topic, "reason": exc.errors(include_url=False)[0]["msg"]},
            )
            return
        if topic != f"{WEATHER_PREFIX}{weather.building}":
            self.refused += 1
            log.warning(
                "weather message refused",
                extra={"topic": topic, "reason": f"building {weather.building} on this topic"},
            )
            return
        at_ms = int(weather.ts.timestamp() * 1000)
        with self._lock:
            known = self._latest.get(weather.building)
            if known is None or at_ms >= known[0]:
                self._latest[weather.building] = (at_ms, weather.outdoor_c)

    def outdoor_c(
        self, building: Sequence[str], ts_ms: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        """The outdoor temperature for each row (NaN: unknown or too old)."""
        out = np.full(ts_ms.shape[0], np.nan)
        with self._lock:
            latest = dict(self._latest)
        if not latest:
            return out
        names = np.asarray(building, dtype=object)
        for name, (at_ms, value) in latest.items():
            rows = (names == name) & (np.abs(ts_ms - at_ms) <= self._max_age_ms)
            out[rows] = value
        return out
