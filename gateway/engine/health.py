"""Device health: a stuck sensor, a device drifting away from its peers, its error rate.

Two checks make a device's readings ``invalid`` with a reason, and every change of a device's
state is reported (the gateway raises a ``device_fault`` alert to the duty staff):

- **Stuck**: ``stuck_run`` identical values in a row (default 8) from one device. Different
  people rarely give the same tenth of a degree eight times running (about 1 in 10^5 for the
  spread of screening readings); a frozen sensor or a display stuck on one value always does.
  The run is found vectorised per batch (sorted by device and time, run lengths by
  cumulative maxima), carried across batches per device.
- **Drift**: each device keeps its last ``drift_window`` assessable calibrated values; once it
  and at least two peers (same building, site and placement: readings that should agree) have
  ``drift_min_readings``, the device's median is compared with the median of its peers'
  medians. Beyond ``drift_warn_c`` the device is ``drifting`` (a warning: its readings stand,
  and the per-device baseline, where enabled, corrects what the door shares); beyond
  ``drift_invalid_c`` it is ``drifted`` and its readings are invalid until it comes back.
  With fewer than two peers nobody can tell which device moved, and it stays ``unjudged``.

State is bounded by the number of devices and is not persisted: after a restart a device is
judged again once it has ``drift_min_readings`` readings.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from thermogate.config import EngineSettings
from thermogate.gateway.engine.factorize import factorize

MIN_PEERS: Final = 2
"""Peers needed before a device is judged: with one, either of the two may have moved."""


def _median_without(ordered: list[float], skip: int | None) -> float:
    """The median of a sorted list without the element at ``skip`` (None: all of it), in
    constant time: a group's peer medians cost one sort, not one median per device."""
    n = len(ordered) - (skip is not None)

    def at(position: int) -> float:
        return ordered[position + 1 if skip is not None and position >= skip else position]

    middle = n // 2
    return at(middle) if n % 2 else (at(middle - 1) + at(middle)) / 2


class HealthState(StrEnum):
    """What the engine thinks of a device."""

    OK = "ok"
    UNJUDGED = "unjudged"
    """Too few readings, or too few peers to compare with."""
    STUCK = "stuck"
    DRIFTING = "drifting"
    DRIFTED = "drifted"


FAULTS: Final = frozenset({HealthState.STUCK, HealthState.DRIFTING, HealthState.DRIFTED})


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """One device's health as last judged."""

    device_id: str
    building: str
    state: HealthState
    median_c: float | None
    peer_median_c: float | None
    readings: int
    """Assessable readings in the drift window."""
    error_rate: float
    """Share of error codes among the device's last ``drift_window`` readings."""
    stuck_value_c: float | None = None

    @property
    def offset_c(self) -> float | None:
        """The device's median minus its peers' (None while unjudged)."""
        if self.median_c is None or self.peer_median_c is None:
            return None
        return self.median_c - self.peer_median_c

    def describe(self) -> str:
        """A sentence for alerts and logs."""
        if self.state is HealthState.STUCK:
            return f"device {self.device_id} is stuck on {self.stuck_value_c:.1f} °C"
        if self.state in (HealthState.DRIFTING, HealthState.DRIFTED) and self.offset_c is not None:
            verb = "reads" if self.state is HealthState.DRIFTING else "is invalid: reads"
            return (
                f"device {self.device_id} {verb} {self.offset_c:+.1f} °C away from its peers "
                f"in {self.building} (median {self.median_c:.1f} °C)"
            )
        return f"device {self.device_id} is {self.state.value}"


@dataclass(slots=True)
class _Device:
    building: str
    group: tuple[str, str, str]
    values: deque[float]
    errors: deque[bool]
    last_value: float = float("nan")
    run: int = 0
    state: HealthState = HealthState.UNJUDGED
    peer_median: float | None = None
    median: float | None = None
    reported: HealthState = HealthState.UNJUDGED
    dirty: bool = False
    """New values since its median was last taken."""


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    """Per row of a batch: stuck or from a drifted device; and the devices whose state changed."""

    stuck: npt.NDArray[np.bool_]
    drifted: npt.NDArray[np.bool_]
    changed: list[DeviceHealth]


class DeviceHealthMonitor:
    """Judges devices batch by batch; not thread-safe (the engine holds its lock)."""

    def __init__(self, settings: EngineSettings) -> None:
        self._settings = settings
        self._devices: dict[str, _Device] = {}

    def check(
        self,
        *,
        device_id: Sequence[str],
        building: Sequence[str],
        site: Sequence[str],
        placement: Sequence[str],
        ts_ms: npt.NDArray[np.int64],
        calibrated: npt.NDArray[np.float64],
        has_value: npt.NDArray[np.bool_],
        assessable: npt.NDArray[np.bool_],
    ) -> HealthVerdict:
        """Update every device of the batch and judge it."""
        n = ts_ms.shape[0]
        if n == 0:
            return HealthVerdict(np.zeros(0, np.bool_), np.zeros(0, np.bool_), [])
        names, codes = factorize(device_id)
        firsts = np.full(len(names), n, dtype=np.intp)
        np.minimum.at(firsts, codes, np.arange(n))
        for code, row in enumerate(firsts.tolist()):
            if names[code] not in self._devices:
                self._devices[names[code]] = _Device(
                    building[row],
                    (building[row], site[row], placement[row]),
                    deque(maxlen=self._settings.drift_window),
                    deque(maxlen=self._settings.drift_window),
                )
        stuck = self._stuck_rows(names, codes, ts_ms, calibrated, has_value)
        order = np.lexsort((ts_ms, codes))
        for code, name in enumerate(names):
            rows = order[codes[order] == code]
            state = self._devices[name]
            state.errors.extend((~has_value[rows]).tolist())
            keep = rows[assessable[rows] & ~stuck[rows]]
            if keep.size:
                state.values.extend(calibrated[keep].tolist())
                state.dirty = True
        touched = {self._devices[name].group for name in names}
        self._judge(touched)
        drifted_codes = np.array(
            [self._devices[name].state is HealthState.DRIFTED for name in names], dtype=np.bool_
        )
        return HealthVerdict(stuck, drifted_codes[codes], self._changes())

    def snapshot(self) -> list[DeviceHealth]:
        """Every known device, as last judged."""
        return [self._health(name, state) for name, state in sorted(self._devices.items())]

    def _stuck_rows(
        self,
        names: list[str],
        codes: npt.NDArray[np.intp],
        ts_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        has_value: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.bool_]:
        """Rows that are at least the ``stuck_run``-th identical value of their device."""
        stuck = np.zeros(ts_ms.shape[0], dtype=np.bool_)
        limit = self._settings.stuck_run
        rows = np.flatnonzero(has_value)
        if limit == 0 or rows.size == 0:
            return stuck
        rows = rows[np.lexsort((ts_ms[rows], codes[rows]))]
        dev = codes[rows]
        tenths = np.round(values[rows] * 10.0)
        carried_value = np.array(
            [np.round(self._devices[name].last_value * 10.0) for name in names]
        )
        carried_run = np.array([self._devices[name].run for name in names], dtype=np.int64)
        group_start = np.ones(rows.size, dtype=np.bool_)
        group_start[1:] = dev[1:] != dev[:-1]
        previous = np.empty(rows.size)
        previous[1:] = tenths[:-1]
        previous[group_start] = carried_value[dev[group_start]]
        same = tenths == previous
        index = np.arange(rows.size)
        segment_start = np.maximum.accumulate(np.where(group_start | ~same, index, 0))
        base = np.ones(rows.size, dtype=np.int64)
        continuing = group_start & same
        base[continuing] = carried_run[dev[continuing]] + 1
        run = index - segment_start + base[segment_start]
        stuck[rows] = run >= limit
        last = np.flatnonzero(np.append(dev[1:] != dev[:-1], True))
        for position in last.tolist():
            state = self._devices[names[dev[position]]]
            state.last_value = float(values[rows[position]])
            state.run = int(run[position])
        return stuck

    def _judge(self, groups: set[tuple[str, str, str]]) -> None:
        s = self._settings
        members: dict[tuple[str, str, str], list[_Device]] = {}
        for state in self._devices.values():
            if state.group in groups:
                members.setdefault(state.group, []).append(state)
        for devices in members.values():
            for state in devices:
                if state.dirty:  # only a device with new values has a new median
                    state.dirty = False
                    state.median = (
                        float(np.median(np.fromiter(state.values, dtype=np.float64)))
                        if len(state.values) >= s.drift_min_readings
                        else None
                    )
            judged = sorted(
                (state.median, index)
                for index, state in enumerate(devices)
                if state.median is not None
            )
            ordered = [median for median, _ in judged]
            rank = {index: position for position, (_, index) in enumerate(judged)}
            for index, state in enumerate(devices):
                peers = len(ordered) - (index in rank)
                state.peer_median = (
                    _median_without(ordered, rank.get(index)) if peers >= MIN_PEERS else None
                )
                if s.stuck_run and state.run >= s.stuck_run:
                    state.state = HealthState.STUCK
                elif state.median is None or state.peer_median is None:
                    state.state = HealthState.UNJUDGED
                else:
                    offset = abs(state.median - state.peer_median)
                    state.state = (
                        HealthState.DRIFTED
                        if offset > s.drift_invalid_c
                        else HealthState.DRIFTING
                        if offset > s.drift_warn_c
                        else HealthState.OK
                    )

    def _changes(self) -> list[DeviceHealth]:
        """Devices that entered, changed or left a fault since the last report."""
        changed = []
        for name, state in self._devices.items():
            if state.state is not state.reported and (
                state.reported in FAULTS or state.state in FAULTS
            ):
                changed.append(self._health(name, state))
            state.reported = state.state
        return changed

    def _health(self, name: str, state: _Device) -> DeviceHealth:
        errors = len(state.errors)
        return DeviceHealth(
            device_id=name,
            building=state.building,
            state=state.state,
            median_c=state.median,
            peer_median_c=state.peer_median,
            readings=len(state.values),
            error_rate=sum(state.errors) / errors if errors else 0.0,
            stuck_value_c=state.last_value if state.state is HealthState.STUCK else None,
        )
