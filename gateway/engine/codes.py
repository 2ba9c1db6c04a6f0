"""Decision and reason codes: small integers in the engine's arrays, words on the wire."""

from __future__ import annotations

from enum import IntEnum


class Decision(IntEnum):
    """What the engine concluded about one reading."""

    NORMAL = 0
    FEVER = 1
    INVALID = 2
    RECHECK = 3

    @property
    def label(self) -> str:
        """The word written to storage, alerts and replay output."""
        return self.name.lower()


class Reason(IntEnum):
    """Why; the label is what a person reads."""

    BELOW_THRESHOLD = 0
    ERROR_CODE = 1
    NOT_ASSESSABLE_LOW = 2
    NOT_ASSESSABLE_HIGH = 3
    SUSPICIOUS = 4
    SUSPICIOUS_UNIDENTIFIED = 5
    VERY_HIGH = 6
    CONFIRMED = 7
    CLEARED = 8
    RECHECK_TOO_SOON = 9
    STUCK_SENSOR = 10
    DEVICE_DRIFTED = 11

    @property
    def label(self) -> str:
        """A short sentence for the ``reason`` column and alerts."""
        return _LABELS[self]


_LABELS = {
    Reason.BELOW_THRESHOLD: "below threshold",
    Reason.ERROR_CODE: "device showed an error code",
    Reason.NOT_ASSESSABLE_LOW: "too low to assess (cold skin or a bad aim)",
    Reason.NOT_ASSESSABLE_HIGH: "physiologically impossible",
    Reason.SUSPICIOUS: "at or above threshold: re-check within the window",
    Reason.SUSPICIOUS_UNIDENTIFIED: "at or above threshold, person unknown: alerted unconfirmed",
    Reason.VERY_HIGH: "very high: fever without re-check",
    Reason.CONFIRMED: "re-check confirmed",
    Reason.CLEARED: "re-check below threshold: cleared",
    Reason.RECHECK_TOO_SOON: "re-check too soon after the suspicious reading to clear it",
    Reason.STUCK_SENSOR: "stuck sensor: the same value too many times in a row",
    Reason.DEVICE_DRIFTED: "device drifted away from its peers",
}

DECISION_LABELS: tuple[str, ...] = tuple(d.label for d in Decision)
REASON_LABELS: tuple[str, ...] = tuple(r.label for r in Reason)
