"""A student-card reader at a dorm entrance: one ``$TGC`` frame per swipe.

The edge pairs a swipe with the handheld reading that follows it at the same entrance, so
the card id never needs to travel with the temperature.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from thermogate.contract.device_frames import CardSwipe, encode_card
from thermogate.firmware_sim.pty_port import VirtualSerialPort

log = logging.getLogger(__name__)

_CARD: Final = re.compile(r"^[A-Za-z0-9]{4,20}$")


class CardReader:
    """Writes a swipe frame for each card presented; counts what reached the line."""

    def __init__(self, port: VirtualSerialPort, *, device_id: str | None = None) -> None:
        self.port = port
        self.device_id = device_id or port.device
        self.swipes_sent = 0
        self.frames_dropped = 0

    def swipe(self, card_id: str) -> bool:
        """Send one swipe; False if the line dropped it. Card ids are 4-20 letters or digits."""
        if not _CARD.fullmatch(card_id):
            raise ValueError(f"card id {card_id!r} is not 4-20 letters or digits")
        if self.port.write(encode_card(CardSwipe(card_id))):
            self.swipes_sent += 1
            return True
        self.frames_dropped += 1
        log.debug("card swipe dropped", extra={"device_id": self.device_id})
        return False
