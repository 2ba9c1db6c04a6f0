"""The columnar batch the gateway hands to storage: one row per reading, numpy where numeric.

Tags (indexed, low cardinality, fixed for a given reading): building, entrance, device_id,
device_kind, site, placement. Everything that may vary or is high-cardinality is a field,
so that a redelivered reading always lands on the same series and timestamp and overwrites
itself (see docs/storage.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

TAG_COLUMNS: tuple[str, ...] = (
    "building",
    "entrance",
    "device_id",
    "device_kind",
    "site",
    "placement",
)
FLOAT_FIELDS: tuple[str, ...] = ("temp_c", "adjusted_c", "ambient_c", "battery_pct", "lag_ms")
"""Float fields (NaN = absent)."""
STRING_FIELDS: tuple[str, ...] = ("error", "decision", "person_id", "reading_id", "clock")
"""String fields (None = absent)."""


@dataclass(frozen=True, slots=True)
class ScreeningPoints:
    """A batch of readings with their decisions; all columns have the same length.

    Floats use NaN for "absent"; strings use ``None``.
    """

    ts_ns: npt.NDArray[np.int64]
    """Point timestamp: event time in ns since the epoch (see :func:`point_timestamp_ns`)."""
    building: Sequence[str]
    entrance: Sequence[str]
    device_id: Sequence[str]
    device_kind: Sequence[str]
    site: Sequence[str]
    placement: Sequence[str]
    seq: npt.NDArray[np.int64]
    temp_c: npt.NDArray[np.float64]
    adjusted_c: npt.NDArray[np.float64]
    ambient_c: npt.NDArray[np.float64]
    battery_pct: npt.NDArray[np.float64]
    lag_ms: npt.NDArray[np.float64]
    """Gateway receive time minus event time."""
    error: Sequence[str | None]
    decision: Sequence[str]
    person_id: Sequence[str | None]
    reading_id: Sequence[str]
    clock: Sequence[str | None]
    """``ahead`` or ``behind`` when the event time lies beyond the gateway's skew bounds."""

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


def point_timestamp_ns(
    event_ms: npt.NDArray[np.int64], seq: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Event time in ms, with the sequence number (mod 10^6) in the sub-millisecond digits.

    The wire carries millisecond times; putting the sequence into the nanosecond digits makes
    two readings of one device in the same millisecond distinct points, while a redelivered
    reading still maps to exactly the same timestamp.
    """
    return event_ms.astype(np.int64) * 1_000_000 + (seq.astype(np.int64) % 1_000_000)
