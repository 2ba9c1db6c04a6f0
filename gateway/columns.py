"""Turn a batch's readings (as columns) into the engine's input and a storage batch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from thermogate.contract.columnar import ReadingTable
from thermogate.gateway.engine import EngineInput, EngineOutput
from thermogate.gateway.outdoor import OutdoorFeed
from thermogate.ingest.points import ScreeningPoints, point_timestamp_ns


def to_engine_input(
    table: ReadingTable, reading_id: Sequence[str], outdoor: OutdoorFeed | None = None
) -> EngineInput:
    """The engine's view of the batch, with the outdoor temperature where the feed knows it."""
    return EngineInput(
        ts_ms=table.event_ms,
        reading_id=reading_id,
        device_id=table.device_id,
        device_kind=table.device_kind,
        site=table.site,
        placement=table.placement,
        person_id=table.person_id,
        temp_c=table.temp_c,
        has_error=table.has_error,
        ambient_c=table.ambient_c,
        building=table.building,
        outdoor_c=None if outdoor is None else outdoor.outdoor_c(table.building, table.event_ms),
    )


def lag_ms(table: ReadingTable, received_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Gateway receive time minus event time, per reading."""
    return received_ns / 1e6 - table.event_ms


def clock_flags(
    lag: npt.NDArray[np.float64], max_future_s: float, max_past_s: float
) -> list[str | None]:
    """``ahead`` / ``behind`` where the event time lies beyond the bounds, else None.

    Flagged readings are stored all the same: an old reading is usually a replayed backlog,
    and a reading from the future is a clock to fix, not a health record to lose.
    """
    if lag.size == 0 or (lag.min() >= -max_future_s * 1000 and lag.max() <= max_past_s * 1000):
        return [None] * lag.shape[0]
    flags = np.full(lag.shape, None, dtype=object)
    flags[lag < -max_future_s * 1000] = "ahead"
    flags[lag > max_past_s * 1000] = "behind"
    return list(flags.tolist())


def to_points(
    table: ReadingTable,
    reading_id: Sequence[str],
    lag: npt.NDArray[np.float64],
    decisions: EngineOutput,
    clock: Sequence[str | None],
) -> ScreeningPoints:
    """The storage batch: readings, their decisions, receive lag and clock flags."""
    return ScreeningPoints(
        ts_ns=point_timestamp_ns(table.event_ms, table.seq),
        building=table.building,
        entrance=table.entrance,
        device_id=table.device_id,
        device_kind=table.device_kind,
        site=table.site,
        placement=table.placement,
        seq=table.seq,
        temp_c=table.temp_c,
        adjusted_c=decisions.adjusted_c,
        ambient_c=table.ambient_c,
        battery_pct=table.battery_pct,
        lag_ms=lag,
        error=table.error,
        decision=decisions.decision_labels(),
        person_id=table.person_id,
        reading_id=reading_id,
        clock=clock,
    )
