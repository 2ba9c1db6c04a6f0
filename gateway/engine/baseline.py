"""Per-device adaptive baseline ("screening mode", done better).

What the whole door shares this evening (a cold wind, a handheld model reading 0.5 low, a
kiosk drifting up) moves the median of that device's ordinary readings. Each device keeps the
last ``window`` of its ordinary readings (calibrated, not in error, below the threshold) and
every reading is corrected by ``reference_c − median`` once ``warmup`` of them exist, clamped
to ``max_correction_c``. The median is the one *before* the reading, so a reading never
corrects itself, and a fever (above the threshold) never enters the baseline.

Only readings newer than the device's newest included one join its history, so a redelivered
or late reading cannot be counted twice; such a reading is corrected with the current median.
Vectorised: one sliding-window median per device and batch (numpy), no per-reading loop once
a device is warmed up.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(slots=True)
class DeviceHistory:
    """The included readings of one device (oldest first) and the newest one's time."""

    values: npt.NDArray[np.float64] | list[float]
    """numpy for a device's long window; a plain list for a person's few values (faster)."""
    last_ts_ms: int
    times: npt.NDArray[np.int64] | list[int] | None = None
    """When each value was taken (kept where a baseline must not learn from the last hours)."""


_EMPTY = DeviceHistory(np.empty(0), -(2**62))
SMALL_WINDOW = 32
"""Windows up to this size (a personal baseline) are kept in plain Python, row by row."""


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


class RollingBaseline:
    """Corrections per reading from the recent ordinary readings of each key (a device, or a
    person at one kind of device and placement)."""

    def __init__(
        self,
        window: int,
        warmup: int,
        reference_c: float,
        max_correction_c: float,
        *,
        max_keys: int = 1_000_000,
        max_age_ms: int | None = None,
        min_age_ms: int = 0,
    ) -> None:
        self._window = window
        self._max_keys = max_keys
        self._max_age_ms = max_age_ms
        self._min_age_ms = min_age_ms
        self.forgotten: set[str] = set()
        self._warmup = min(warmup, window)
        self._reference_c = reference_c
        self._max = max_correction_c
        self.histories: dict[str, DeviceHistory] = {}
        self.changed: set[str] = set()

    def corrections(
        self,
        keys: Sequence[str | None],
        ts_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        ordinary: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        """The correction of every row (0 until its key is warmed up, or without a key)."""
        out = np.zeros(values.shape[0])
        by_key: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            if key is not None:
                by_key.setdefault(key, []).append(index)
        small = self._window <= SMALL_WINDOW
        for key, indices in by_key.items():
            if small or len(indices) == 1:  # plain Python beats numpy on a few values
                ordered = (
                    sorted(indices, key=lambda i: int(ts_ms[i])) if len(indices) > 1 else indices
                )
                for index in ordered:
                    out[index] = self._one(key, index, ts_ms, values, ordinary)
                continue
            rows = np.asarray(indices, dtype=np.int64)
            rows = rows[np.argsort(ts_ms[rows], kind="stable")]
            out[rows] = self._device(key, rows, ts_ms, values, ordinary)
        self._bound()
        return np.clip(out, -self._max, self._max)

    def _bound(self) -> None:
        """Forget the keys heard from longest ago beyond ``max_keys`` (memory stays bounded)."""
        excess = len(self.histories) - self._max_keys
        if excess > 0:
            oldest = sorted(self.histories, key=lambda k: self.histories[k].last_ts_ms)[:excess]
            for key in oldest:
                del self.histories[key]
                self.changed.discard(key)
                self.forgotten.add(key)

    def _device(
        self,
        device: str,
        rows: npt.NDArray[np.int64],
        ts_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        ordinary: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        history = self.histories.get(device, _EMPTY)
        times = ts_ms[rows]
        if self._max_age_ms is not None and int(times[0]) - history.last_ts_ms > self._max_age_ms:
            history = DeviceHistory(np.empty(0), history.last_ts_ms)  # too old to trust
        joins = ordinary[rows] & (times > history.last_ts_ms)
        new = values[rows][joins]
        series = np.concatenate([np.asarray(history.values, dtype=np.float64), new])
        # How many included readings precede each row: its baseline is the median of the
        # last `window` of those.
        before = len(history.values) + np.cumsum(joins) - joins
        medians = np.full(len(rows), np.nan)
        if len(series) >= self._window:
            windows = np.median(sliding_window_view(series, self._window), axis=1)
            full = before >= self._window
            medians[full] = windows[before[full] - self._window]
        warming = (before >= self._warmup) & np.isnan(medians)
        for index in np.flatnonzero(warming).tolist():
            count = int(before[index])
            medians[index] = np.median(series[max(0, count - self._window) : count])
        if len(new):
            self.histories[device] = DeviceHistory(series[-self._window :], int(times[joins].max()))
            self.changed.add(device)
        return np.where(np.isnan(medians), 0.0, self._reference_c - medians)

    def _one(
        self,
        key: str,
        row: int,
        ts_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        ordinary: npt.NDArray[np.bool_],
    ) -> float:
        """One reading of a key in a batch: plain Python is faster than numpy for this."""
        ts = int(ts_ms[row])
        history = self.histories.get(key)
        if history is not None and not isinstance(history.values, list):  # loaded from disk
            history = self._as_lists(key, history)
        if history is not None and (
            self._max_age_ms is not None and ts - history.last_ts_ms > self._max_age_ms
        ):
            history = None  # too old to trust: start over
            self.histories.pop(key, None)
        correction = 0.0
        if history is not None:
            kept, times = history.values, history.times
            assert isinstance(kept, list) and isinstance(times, list)
            # Only readings at least min_age old count (times ascend): the readings of this
            # visit (perhaps of this very fever) must not become its own baseline.
            usable = bisect_right(times, ts - self._min_age_ms)
            if usable >= self._warmup:
                correction = self._reference_c - _median(kept[:usable])
        if ordinary[row] and (history is None or ts > history.last_ts_ms):
            if history is None:
                self.histories[key] = DeviceHistory([float(values[row])], ts, [ts])
            else:
                kept, times = history.values, history.times
                assert isinstance(kept, list) and isinstance(times, list)
                kept.append(float(values[row]))
                times.append(ts)
                if len(kept) > self._window:
                    del kept[0], times[0]
                history.last_ts_ms = ts
            self.changed.add(key)
        return correction

    def _as_lists(self, key: str, history: DeviceHistory) -> DeviceHistory:
        """A history loaded as arrays, as the lists a personal baseline updates in place."""
        kept = list(np.asarray(history.values, dtype=np.float64).tolist())
        times = (
            list(np.asarray(history.times, dtype=np.int64).tolist())
            if history.times is not None
            else [history.last_ts_ms] * len(kept)
        )
        converted = DeviceHistory(kept, history.last_ts_ms, times)
        self.histories[key] = converted
        return converted
