"""Turn validated readings into numpy columns for the engine and a storage batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from thermogate.contract import Reading
from thermogate.gateway.engine import EngineInput, EngineOutput
from thermogate.gateway.outdoor import OutdoorFeed
from thermogate.ingest.points import ScreeningPoints, point_timestamp_ns


@dataclass(frozen=True, slots=True)
class ReadingColumns:
    """The numeric columns the engine needs, one row per reading."""

    temp_c: npt.NDArray[np.float64]
    has_error: npt.NDArray[np.bool_]
    event_ms: npt.NDArray[np.int64]
    seq: npt.NDArray[np.int64]
    received_ns: npt.NDArray[np.int64]


def to_columns(readings: Sequence[Reading], received_ns: Sequence[int]) -> ReadingColumns:
    """Gather the per-reading values into arrays."""
    return ReadingColumns(
        temp_c=np.array(
            [np.nan if r.temp_c is None else r.temp_c for r in readings], dtype=np.float64
        ),
        has_error=np.array([r.error is not None for r in readings], dtype=np.bool_),
        event_ms=np.array([int(r.ts.timestamp() * 1000) for r in readings], dtype=np.int64),
        seq=np.array([r.seq for r in readings], dtype=np.int64),
        received_ns=np.asarray(received_ns, dtype=np.int64),
    )


def to_engine_input(
    readings: Sequence[Reading],
    columns: ReadingColumns,
    outdoor: OutdoorFeed | None = None,
) -> EngineInput:
    """The engine's view of the batch, with the outdoor temperature where the feed knows it."""
    building = [r.building for r in readings]
    return EngineInput(
        ts_ms=columns.event_ms,
        reading_id=[r.reading_id for r in readings],
        device_id=[r.device_id for r in readings],
        device_kind=[r.device_kind.value for r in readings],
        site=[r.site.value for r in readings],
        placement=[r.placement.value for r in readings],
        person_id=[r.person_id for r in readings],
        temp_c=columns.temp_c,
        has_error=columns.has_error,
        ambient_c=_floats([r.ambient_c for r in readings]),
        building=building,
        outdoor_c=None if outdoor is None else outdoor.outdoor_c(building, columns.event_ms),
    )


def _floats(values: Sequence[float | None]) -> npt.NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def lag_ms(columns: ReadingColumns) -> npt.NDArray[np.float64]:
    """Gateway receive time minus event time, per reading."""
    return columns.received_ns / 1e6 - columns.event_ms


def clock_flags(
    lag: npt.NDArray[np.float64], max_future_s: float, max_past_s: float
) -> list[str | None]:
    """``ahead`` / ``behind`` where the event time lies beyond the bounds, else None.

    Flagged readings are stored all the same: an old reading is usually a replayed backlog,
    and a reading from the future is a clock to fix, not a health record to lose.
    """
    flags = np.full(lag.shape, None, dtype=object)
    flags[lag < -max_future_s * 1000] = "ahead"
    flags[lag > max_past_s * 1000] = "behind"
    return list(flags.tolist())


def to_points(
    readings: Sequence[Reading],
    columns: ReadingColumns,
    decisions: EngineOutput,
    clock: Sequence[str | None],
) -> ScreeningPoints:
    """The storage batch: readings, their decisions, receive lag and clock flags."""
    return ScreeningPoints(
        ts_ns=point_timestamp_ns(columns.event_ms, columns.seq),
        building=[r.building for r in readings],
        entrance=[r.entrance for r in readings],
        device_id=[r.device_id for r in readings],
        device_kind=[r.device_kind.value for r in readings],
        site=[r.site.value for r in readings],
        placement=[r.placement.value for r in readings],
        seq=columns.seq,
        temp_c=columns.temp_c,
        adjusted_c=decisions.adjusted_c,
        ambient_c=_floats([r.ambient_c for r in readings]),
        battery_pct=_floats([r.battery_pct for r in readings]),
        lag_ms=lag_ms(columns),
        error=[None if r.error is None else r.error.value for r in readings],
        decision=decisions.decision_labels(),
        person_id=[r.person_id for r in readings],
        reading_id=[r.reading_id for r in readings],
        clock=clock,
    )
