"""Notice the edge's own wall clock jumping (NTP step, a dead RTC battery, an operator).

Readings are stamped with the wall clock, so a jump moves event times. Comparing how far the
wall clock moved with how far the monotonic clock moved between two looks tells a jump from
the passage of time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class ClockWatch:
    """``jumped()`` is True once for each jump larger than ``threshold_s``."""

    def __init__(
        self,
        threshold_s: float,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold_s = threshold_s
        self._wall = wall
        self._monotonic = monotonic
        self._offset = wall() - monotonic()

    def jumped(self) -> bool:
        """Whether the wall clock moved against the monotonic clock since the last look."""
        offset = self._wall() - self._monotonic()
        jump = offset - self._offset
        self._offset = offset
        if abs(jump) > self._threshold_s:
            log.warning("edge wall clock jumped", extra={"jump_s": round(jump, 3)})
            return True
        return False
