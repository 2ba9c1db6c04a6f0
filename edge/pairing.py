"""Pair a card swipe with the reading that follows it at the same entrance.

At a door the operator asks for the card, then aims the thermometer: the swipe comes first
and the reading a few seconds later. A swipe waits up to ``window_s`` for its reading; a newer
swipe replaces an older one (the first person walked on without a reading). Readings with no
swipe in the window stay unidentified: they are still kept, with no person id.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class PairingStats:
    """What happened to swipes and readings, for logs and the status page."""

    paired: int = 0
    unidentified_readings: int = 0
    swipes_without_reading: int = 0


class CardPairer:
    """Pure pairing logic; the caller passes monotonic times (seconds)."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._pending: tuple[str, float] | None = None
        self.stats = PairingStats()

    def swipe(self, card_id: str, at: float) -> None:
        """Remember a swipe; an unconsumed earlier swipe is counted as without reading."""
        if self._pending is not None:
            self.stats.swipes_without_reading += 1
        self._pending = (card_id, at)

    def reading(self, at: float) -> str | None:
        """The card of the swipe this reading pairs with, consuming it; None if unidentified."""
        pending, self._pending = self._pending, None
        if pending is not None and 0.0 <= at - pending[1] <= self._window_s:
            self.stats.paired += 1
            return pending[0]
        if pending is not None:
            self.stats.swipes_without_reading += 1
        self.stats.unidentified_readings += 1
        return None
