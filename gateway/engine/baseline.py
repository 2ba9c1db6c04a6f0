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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(slots=True)
class DeviceHistory:
    """The included readings of one device (oldest first) and the newest one's time."""

    values: npt.NDArray[np.float64]
    last_ts_ms: int


class DeviceBaseline:
    """Corrections per reading from each device's recent ordinary readings."""

    def __init__(
        self, window: int, warmup: int, reference_c: float, max_correction_c: float
    ) -> None:
        self._window = window
        self._warmup = min(warmup, window)
        self._reference_c = reference_c
        self._max = max_correction_c
        self.histories: dict[str, DeviceHistory] = {}
        self.changed: set[str] = set()

    def corrections(
        self,
        device_id: Sequence[str],
        ts_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        ordinary: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        """The correction of every row (0 until a device is warmed up); updates histories."""
        out = np.zeros(values.shape[0])
        devices = np.asarray(device_id, dtype=object)
        for device in {str(d) for d in device_id}:
            rows = np.flatnonzero(devices == device)
            rows = rows[np.argsort(ts_ms[rows], kind="stable")]
            out[rows] = self._device(device, rows, ts_ms, values, ordinary)
        return np.clip(out, -self._max, self._max)

    def _device(
        self,
        device: str,
        rows: npt.NDArray[np.int64],
        ts_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        ordinary: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        history = self.histories.get(device, DeviceHistory(np.empty(0), -(2**62)))
        times = ts_ms[rows]
        joins = ordinary[rows] & (times > history.last_ts_ms)
        new = values[rows][joins]
        series = np.concatenate([history.values, new])
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
