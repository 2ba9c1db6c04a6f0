"""The decision engine: numpy columns in, decisions, reasons and events out; no I/O.

Used by the gateway on every batch and by ``thermogate replay`` on a recorded CSV, so the live
system and the backtest decide alike. Stages:

1. Calibration to a core-equivalent value and the reading's threshold (vectorised).
2. Validity: an error code, or a value too low to assess or physiologically impossible, is
   ``invalid`` (vectorised).
3. The re-check protocol (the screening standards and the university's plan): a reading at or
   above the threshold is ``recheck`` and opens a re-check for that person; a reading of the
   same person within ``recheck_window_s`` that is again at or above the threshold confirms it
   (``fever``); one below the threshold at least ``recheck_min_wait_s`` later clears it; no
   re-check in the window escalates it as unconfirmed. A suspicious reading of nobody known is
   alerted as unconfirmed at once; a very high reading is a fever without re-check. Only rows
   that are suspicious or belong to a person with an open re-check reach this (bounded)
   per-row loop.

A reading decided once keeps its decision when it is delivered again (the broker may redeliver
after a restart), so a redelivery never changes what was stored or alerted.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from thermogate.config import EngineSettings
from thermogate.gateway.engine.baseline import DeviceHistory, RollingBaseline
from thermogate.gateway.engine.calibration import Calibrator
from thermogate.gateway.engine.codes import DECISION_LABELS, REASON_LABELS, Decision, Reason
from thermogate.gateway.engine.cold import cold_corrections
from thermogate.gateway.engine.health import FAULTS, DeviceHealth, DeviceHealthMonitor
from thermogate.gateway.engine.replication import EngineDelta, History, merge_windows
from thermogate.gateway.engine.state import EngineStore, OpenRecheckRow

_DECISION_WORDS: Final = np.array(DECISION_LABELS, dtype=object)
MAX_OPEN_RECHECKS: Final = 100_000
PHYSICAL_MIN_C: Final = 25.0
"""Below this (calibrated) a reading is not a body at all and stays out of device baselines."""
DECIDED_MEMORY: Final = 200_000
"""Reading ids whose decision is remembered, so a redelivered reading is decided alike."""


class EventKind(StrEnum):
    """What the engine asks the rest of the system to do."""

    FEVER = "fever"
    """A confirmed (or very high) fever: alert the clinic."""
    UNCONFIRMED = "unconfirmed"
    """Suspicious and not confirmable (nobody identified, or no re-check in time): alert."""
    RECHECK = "recheck"
    """Ask the entrance and the unit's staff to measure this person again."""
    CLEARED = "cleared"
    """The re-check was below the threshold."""
    DEVICE_FAULT = "device_fault"
    """A device got stuck or drifted from its peers (``detail`` says which): tell duty staff."""
    DEVICE_RECOVERED = "device_recovered"
    """A device that was reported faulty reads like its peers again."""


@dataclass(slots=True)
class _Staged:
    """The changes of one decision or expiry, waiting to be made durable."""

    opened: dict[str, OpenRecheckRow]
    closed: dict[str, str]
    decided: dict[str, tuple[int, int]]
    windows: dict[str, History]
    watermark_ms: int

    def __bool__(self) -> bool:
        return bool(self.opened or self.closed or self.decided or self.windows)

    def delta(self) -> EngineDelta:
        return EngineDelta(
            opened=dict(self.opened),
            closed=dict(self.closed),
            decided=dict(self.decided),
            histories=dict(self.windows),
            watermark_ms=self.watermark_ms,
        )


def _window_of(kept: DeviceHistory) -> History:
    """A baseline window as plain lists (times default to its newest time)."""
    values = np.asarray(kept.values, dtype=np.float64).tolist()
    times = (
        np.asarray(kept.times, dtype=np.int64).tolist()
        if kept.times is not None
        else [kept.last_ts_ms] * len(values)
    )
    return kept.last_ts_ms, values, times


def _blob(window: History) -> bytes:
    """How the store keeps a window: the values, then their times, as float64."""
    return np.asarray([*window[1], *window[2]], dtype=np.float64).tobytes()


@dataclass(frozen=True, slots=True)
class EngineInput:
    """One batch of readings as columns (any order; decided in time order)."""

    ts_ms: npt.NDArray[np.int64]
    reading_id: Sequence[str]
    device_id: Sequence[str]
    device_kind: Sequence[str]
    site: Sequence[str]
    placement: Sequence[str]
    person_id: Sequence[str | None]
    temp_c: npt.NDArray[np.float64]
    """Displayed value; NaN when the device showed an error code."""
    has_error: npt.NDArray[np.bool_]
    ambient_c: npt.NDArray[np.float64]
    """NaN when unknown."""
    building: Sequence[str] | None = None
    """Where each device stands (its peers for the drift check); None: all in one building."""
    outdoor_c: npt.NDArray[np.float64] | None = None
    """The outdoor temperature when the reading was taken (NaN or None when unknown)."""

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """Something to act on; ``row`` is the batch row that caused it (None for an expiry)."""

    kind: EventKind
    row: int | None
    reading_id: str
    """The reading that caused it; for a confirmation or expiry, the suspicious one."""
    person_id: str | None
    device_id: str
    ts_ms: int
    adjusted_c: float
    threshold_c: float
    confirming_reading_id: str | None = None
    detail: str | None = None
    """For a device event, what is wrong (or right again) with the device."""


@dataclass(frozen=True, slots=True)
class EngineOutput:
    """Decisions for every row of the input, and the events they raised."""

    decision: npt.NDArray[np.int8]
    reason: npt.NDArray[np.int8]
    adjusted_c: npt.NDArray[np.float64]
    """The value the rule compared; NaN when invalid."""
    threshold_c: npt.NDArray[np.float64]
    events: list[EngineEvent]
    token: int = 0
    """Commit the batch's changes with :meth:`DecisionEngine.commit` once it is safe."""

    def decision_labels(self) -> list[str]:
        """Decision words, one per row."""
        labels: list[str] = _DECISION_WORDS[self.decision].tolist()
        return labels

    def reason_labels(self) -> list[str]:
        """Reason sentences, one per row."""
        return [REASON_LABELS[c] for c in self.reason.tolist()]


@dataclass(frozen=True, slots=True)
class _Work:
    """The columns the protocol reads and fills for one batch."""

    batch: EngineInput
    adjusted: npt.NDArray[np.float64]
    threshold: npt.NDArray[np.float64]
    suspicious: npt.NDArray[np.bool_]
    decision: npt.NDArray[np.int8]
    reason: npt.NDArray[np.int8]
    events: list[EngineEvent]


class DecisionEngine:
    """Stateful across batches (open re-checks); thread-safe."""

    def __init__(
        self,
        settings: EngineSettings,
        default_threshold_c: float,
        store: EngineStore | None = None,
        *,
        replicate: bool = False,
        auto_commit: bool = True,
    ) -> None:
        """``replicate``: keep what each batch changes for :meth:`take_delta` (gateway
        instances sharing the load, :mod:`thermogate.gateway.engine.replication`).
        ``auto_commit=False``: changes become durable only through :meth:`commit` (the
        gateway commits a batch once it is stored and alerted)."""
        self._settings = settings
        self._calibrator = Calibrator(settings, default_threshold_c)
        self._window_ms = int(settings.recheck_window_s * 1000)
        self._min_wait_ms = int(settings.recheck_min_wait_s * 1000)
        self._open: OrderedDict[str, OpenRecheckRow] = OrderedDict()
        self._decided: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.watermark_ms = 0
        """The latest event time decided so far: the engine's notion of now."""
        self._store = store
        self._opened: dict[str, OpenRecheckRow] = {}
        self._closed: dict[str, str] = {}
        """person -> reading id of the re-check closed since the last persist."""
        self._newly_decided: dict[str, tuple[int, int]] = {}
        self._delta = EngineDelta() if replicate else None
        self._auto_commit = auto_commit
        self._staged: dict[int, _Staged] = {}
        self._tokens = 0
        self.expiry_token = 0
        """The token of the last :meth:`expire` call's changes."""
        self._closed_ids: OrderedDict[str, None] = OrderedDict()
        """Re-checks closed lately (by reading id): a late copy of their opening is ignored."""
        self._health = DeviceHealthMonitor(settings)
        self._baseline_placements = {p.value for p in settings.device_baseline}
        self._baseline = (
            RollingBaseline(
                settings.baseline_window,
                settings.baseline_warmup,
                settings.baseline_reference_c,
                settings.baseline_max_correction_c,
            )
            if self._baseline_placements
            else None
        )
        self._personal = (
            RollingBaseline(
                settings.personal_window,
                settings.personal_warmup,
                settings.baseline_reference_c,
                settings.personal_max_correction_c,
                max_keys=settings.personal_max_people,
                max_age_ms=int(settings.personal_max_age_days * 86_400_000),
                min_age_ms=int(settings.personal_min_age_h * 3_600_000),
            )
            if settings.personal_baseline
            else None
        )
        if store is not None:
            snapshot = store.load()
            for key, (last_ts, raw) in snapshot.device_history.items():
                kind, _, name = key.partition(":")
                target = {"d": self._baseline, "p": self._personal}.get(kind)
                if target is not None:
                    stored = np.frombuffer(raw, dtype=np.float64)
                    half = len(stored) // 2  # values, then the times they were taken
                    target.histories[name] = DeviceHistory(
                        stored[:half].copy(), last_ts, stored[half:].astype(np.int64)
                    )
            self._open.update(snapshot.open_rechecks)
            self._decided.update(snapshot.decided)
            self.watermark_ms = snapshot.watermark_ms

    @property
    def remembered_people(self) -> int:
        """People (per kind of device and placement) with a personal baseline in memory."""
        return 0 if self._personal is None else len(self._personal.histories)

    def device_health(self) -> list[DeviceHealth]:
        """Every device seen since start, as last judged (stuck, drifting, ...)."""
        with self._lock:
            return self._health.snapshot()

    @property
    def open_rechecks(self) -> int:
        """People waiting for a re-check."""
        return len(self._open)

    def decide(self, batch: EngineInput) -> EngineOutput:
        """Decide every reading of the batch."""
        s = self._settings
        n = len(batch)
        adjusted, threshold = self._calibrator.apply(
            batch.device_kind, batch.site, batch.placement, batch.temp_c, batch.ambient_c
        )
        if batch.outdoor_c is not None:
            adjusted = adjusted + cold_corrections(s, batch.site, batch.placement, batch.outdoor_c)
        has_value = ~batch.has_error & ~np.isnan(batch.temp_c)
        assessable = has_value & (adjusted >= s.assess_min_c) & (adjusted <= s.assess_max_c)
        with self._lock:
            verdict = self._health.check(
                device_id=batch.device_id,
                building=batch.building if batch.building is not None else [""] * n,
                site=batch.site,
                placement=batch.placement,
                ts_ms=batch.ts_ms,
                calibrated=adjusted,
                has_value=has_value,
                assessable=assessable,
            )
        faulty = verdict.stuck | verdict.drifted
        if self._baseline is not None:
            adjusted = adjusted + self._baseline_corrections(batch, adjusted, threshold, faulty)
        if self._personal is not None:
            adjusted = adjusted + self._personal_corrections(batch, adjusted, threshold, faulty)
        invalid = ~has_value
        low = ~invalid & (adjusted < s.assess_min_c)
        high = ~invalid & (adjusted > s.assess_max_c)
        reason = np.full(n, Reason.BELOW_THRESHOLD, dtype=np.int8)
        reason[invalid] = Reason.ERROR_CODE
        reason[low] = Reason.NOT_ASSESSABLE_LOW
        reason[high] = Reason.NOT_ASSESSABLE_HIGH
        reason[~invalid & verdict.drifted] = Reason.DEVICE_DRIFTED
        reason[~invalid & verdict.stuck] = Reason.STUCK_SENSOR
        invalid |= low | high | faulty
        decision = np.where(invalid, Decision.INVALID, Decision.NORMAL).astype(np.int8)
        adjusted = np.where(invalid, np.nan, adjusted)
        suspicious = ~invalid & (adjusted >= threshold - 1e-9)
        work = _Work(batch, adjusted, threshold, suspicious, decision, reason, [])
        with self._lock:
            self._protocol(work)
            if n:
                self.watermark_ms = max(self.watermark_ms, int(batch.ts_ms.max()))
            work.events.extend(self._device_events(batch, verdict.changed))
            token = self._stage()
        return EngineOutput(decision, reason, adjusted, threshold, work.events, token)

    @staticmethod
    def _device_events(batch: EngineInput, changed: list[DeviceHealth]) -> list[EngineEvent]:
        """One event per device whose health changed, at its latest reading of the batch."""
        events = []
        devices = np.asarray(batch.device_id, dtype=object)
        for health in changed:
            rows = np.flatnonzero(devices == health.device_id)
            row = int(rows[np.argmax(batch.ts_ms[rows])])
            ts = int(batch.ts_ms[row])
            fault = health.state in FAULTS
            events.append(
                EngineEvent(
                    EventKind.DEVICE_FAULT if fault else EventKind.DEVICE_RECOVERED,
                    row,
                    f"{health.device_id}:{health.state.value}:{ts}",
                    None,
                    health.device_id,
                    ts,
                    math.nan if health.median_c is None else health.median_c,
                    math.nan,
                    detail=health.describe(),
                )
            )
        return events

    def expire(self, now_ms: int) -> list[EngineEvent]:
        """Re-checks whose window ran out by ``now_ms``: escalated as unconfirmed."""
        events: list[EngineEvent] = []
        with self._lock:
            for person, pending in list(self._open.items()):
                if now_ms - pending.ts_ms > self._window_ms:
                    self._close(person)
                    events.append(self._escalation(person, pending))
            self.expiry_token = self._stage()
        return events

    def _baseline_corrections(
        self,
        batch: EngineInput,
        adjusted: npt.NDArray[np.float64],
        threshold: npt.NDArray[np.float64],
        faulty: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        """Per-device corrections for the placements the baseline is enabled for."""
        assert self._baseline is not None
        enabled = np.isin(
            np.asarray(batch.placement, dtype=object), list(self._baseline_placements)
        )
        ordinary = (
            enabled
            & ~batch.has_error
            & ~faulty
            & (adjusted > PHYSICAL_MIN_C)
            & (adjusted < threshold)
        )
        with self._lock:
            corrections = self._baseline.corrections(
                list(batch.device_id), batch.ts_ms, np.nan_to_num(adjusted), ordinary
            )
        return np.where(enabled, corrections, 0.0)

    def _personal_corrections(
        self,
        batch: EngineInput,
        adjusted: npt.NDArray[np.float64],
        threshold: npt.NDArray[np.float64],
        faulty: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        """Per person, kind of device and placement: their own offset from the reference."""
        assert self._personal is not None
        keys = [
            None if person is None else f"{person}|{kind}|{placement}"
            for person, kind, placement in zip(
                batch.person_id, batch.device_kind, batch.placement, strict=True
            )
        ]
        ordinary = ~batch.has_error & ~faulty & (adjusted > PHYSICAL_MIN_C) & (adjusted < threshold)
        with self._lock:
            return self._personal.corrections(keys, batch.ts_ms, np.nan_to_num(adjusted), ordinary)

    def pending_changes(self) -> list[tuple[int, bytes]]:
        """This engine's changes not yet published to the other instances, oldest first, as
        ``(id, payload)``; confirm each with :meth:`changes_published`. With a store they
        stay on disk until confirmed, so a restart publishes what a crash left unsent."""
        with self._lock:
            if self._delta is None:
                return []
            if self._store is not None:
                return self._store.pending_changes()
            delta = self.take_delta_locked()
            return [] if delta is None else [(0, delta.to_bytes())]

    def changes_published(self, ids: list[int]) -> None:
        """The broker has these changes: forget them."""
        if self._store is not None and ids:
            self._store.forget_changes(ids)

    def take_delta(self) -> EngineDelta | None:
        """What changed since the last call, for the other instances (None if nothing).
        Without a store only: with one, use :meth:`pending_changes`."""
        with self._lock:
            return self.take_delta_locked()

    def take_delta_locked(self) -> EngineDelta | None:
        if not self._delta:
            return None
        delta, self._delta = self._delta, EngineDelta()
        delta.watermark_ms = self.watermark_ms
        return delta

    def apply_delta(self, delta: EngineDelta) -> None:
        """Merge another instance's changes into this engine's state, and store them."""
        with self._lock:
            closed = {
                person: rid
                for person, rid in delta.closed.items()
                if (row := self._open.get(person)) is not None and row.reading_id == rid
            }
            for rid in delta.closed.values():
                self._forget_closed(rid)
            for person in closed:
                del self._open[person]
            opened = {
                person: row
                for person, row in delta.opened.items()
                if row.reading_id not in self._closed_ids
                and ((mine := self._open.get(person)) is None or row.ts_ms > mine.ts_ms)
            }
            self._open.update(opened)
            for rid, pair in delta.decided.items():
                self._decided[rid] = pair
            while len(self._decided) > DECIDED_MEMORY:
                self._decided.popitem(last=False)
            history = self._merge_histories(delta.histories)
            self.watermark_ms = max(self.watermark_ms, delta.watermark_ms)
            if self._store is not None:
                self._store.save(opened, closed, delta.decided, self.watermark_ms, history)

    def _merge_histories(self, histories: dict[str, History]) -> dict[str, tuple[int, bytes]]:
        """Merge baseline windows; the merged ones as the store keeps them."""
        stored: dict[str, tuple[int, bytes]] = {}
        for name, theirs in histories.items():
            prefix, _, key = name.partition(":")
            baseline = {"p": self._personal, "d": self._baseline}.get(prefix)
            if baseline is None:
                continue
            kept = baseline.histories.get(key)
            mine = None if kept is None else _window_of(kept)
            if prefix == "p":
                merged = merge_windows(mine, theirs, self._settings.personal_window)
            elif mine is None or theirs[0] > mine[0]:
                merged = theirs  # a device window: the newer one wins
            else:
                continue
            baseline.histories[key] = DeviceHistory(
                list(merged[1]) if prefix == "p" else np.asarray(merged[1]),
                merged[0],
                list(merged[2]) if prefix == "p" else np.asarray(merged[2], dtype=np.int64),
            )
            stored[name] = (merged[0], _blob(merged))
        return stored

    def commit(self, token: int) -> None:
        """Make the changes of one decision (``EngineOutput.token``) or expiry
        (:attr:`expiry_token`) durable: the gateway calls this once the batch is stored and
        its alerts are in the outbox, just before acknowledging it. A gateway killed before
        that restarts without these changes and decides the redelivered readings again, so
        their alerts are raised again (the outbox drops an alert it already holds)."""
        with self._lock:
            self._commit_locked(token)

    def _stage(self) -> int:
        """Set aside what changed since the last call; the token to commit it with."""
        windows: dict[str, History] = {}
        wanted = self._delta is not None or self._store is not None
        for prefix, baseline in (("d", self._baseline), ("p", self._personal)):
            if baseline is None:
                continue
            for key in baseline.changed if wanted else ():
                windows[f"{prefix}:{key}"] = _window_of(baseline.histories[key])
            baseline.changed.clear()
            baseline.forgotten.clear()
        staged = _Staged(
            self._opened, self._closed, self._newly_decided, windows, self.watermark_ms
        )
        self._opened, self._closed, self._newly_decided = {}, {}, {}
        if self._store is None:
            if self._delta is not None:
                self._delta.merge(staged.delta())
            return 0
        self._tokens += 1
        self._staged[self._tokens] = staged
        if self._auto_commit:
            self._commit_locked(self._tokens)
        return self._tokens

    def _commit_locked(self, token: int) -> None:
        staged = self._staged.pop(token, None)
        if staged is None or self._store is None or not staged:
            return
        # The changes for the other gateways of a group are stored with the state they
        # describe: a crash before they are published cannot lose them.
        outgoing = None
        if self._delta is not None:
            change = staged.delta()
            outgoing = change.to_bytes() if change else None
        history = {name: (window[0], _blob(window)) for name, window in staged.windows.items()}
        self._store.save(
            staged.opened,
            staged.closed,
            staged.decided,
            staged.watermark_ms,
            history,
            outgoing=outgoing,
        )

    def _open_recheck(self, person: str, row: OpenRecheckRow) -> None:
        self._open[person] = row
        self._opened[person] = row
        self._closed.pop(person, None)

    def _close(self, person: str) -> None:
        rid = self._open.pop(person).reading_id
        self._opened.pop(person, None)
        self._closed[person] = rid
        self._forget_closed(rid)

    def _forget_closed(self, reading_id: str) -> None:
        self._closed_ids[reading_id] = None
        if len(self._closed_ids) > MAX_OPEN_RECHECKS:
            self._closed_ids.popitem(last=False)

    def _protocol(self, work: _Work) -> None:
        """Run the re-check protocol over the rows it concerns, in time order.

        A row concerns it when it is suspicious, or when its person has a re-check open
        (from this batch or an earlier one) and it came after the suspicious reading. Only
        those rows are looked at one by one; a redelivered one keeps its first decision.
        """
        batch = work.batch
        persons = batch.person_id
        suspicious_persons = {
            persons[i] for i in np.flatnonzero(work.suspicious).tolist() if persons[i] is not None
        }
        watched = suspicious_persons | self._open.keys()
        rows = np.flatnonzero(work.suspicious).tolist()
        if watched:
            rows = sorted(set(rows) | {i for i, person in enumerate(persons) if person in watched})
        if not rows:
            return
        candidates = np.asarray(rows, dtype=np.int64)
        for row in candidates[np.argsort(batch.ts_ms[candidates], kind="stable")].tolist():
            remembered = self._decided.get(batch.reading_id[row])
            if remembered is not None:
                work.decision[row], work.reason[row] = remembered
                continue
            if self._decide_row(work, row):
                self._remember(
                    batch.reading_id[row], int(work.decision[row]), int(work.reason[row])
                )

    def _decide_row(self, work: _Work, row: int) -> bool:
        """Decide one row by the protocol; True when the protocol decided it (remember it)."""
        batch, decision, reason, events = work.batch, work.decision, work.reason, work.events
        adjusted, threshold, suspicious = work.adjusted, work.threshold, work.suspicious
        person = batch.person_id[row]
        ts = int(batch.ts_ms[row])
        pending = self._open.get(person) if person is not None else None
        if pending is not None and ts <= pending.ts_ms:
            # Taken no later than the open re-check's reading (delivered late, or another
            # device at the same instant): not a re-check, and it must not replace it.
            if decision[row] != Decision.INVALID and suspicious[row]:
                decision[row], reason[row] = Decision.RECHECK, Reason.SUSPICIOUS
                return True
            return False
        if person is not None and pending is not None and ts - pending.ts_ms > self._window_ms:
            self._close(person)
            events.append(self._escalation(person, pending))
            pending = None
        if decision[row] == Decision.INVALID:
            return pending is not None
        event = EngineEvent(
            EventKind.FEVER,
            row,
            batch.reading_id[row],
            person,
            batch.device_id[row],
            ts,
            float(adjusted[row]),
            float(threshold[row]),
        )
        if person is not None and pending is not None:
            self._follow_up(work, row, person, pending, event)
            return True
        if not suspicious[row]:
            return False
        if adjusted[row] >= self._settings.very_high_c:
            decision[row], reason[row] = Decision.FEVER, Reason.VERY_HIGH
            events.append(event)
        elif person is None:
            decision[row], reason[row] = Decision.RECHECK, Reason.SUSPICIOUS_UNIDENTIFIED
            events.append(dataclasses.replace(event, kind=EventKind.UNCONFIRMED))
        else:
            decision[row], reason[row] = Decision.RECHECK, Reason.SUSPICIOUS
            events.append(dataclasses.replace(event, kind=EventKind.RECHECK))
            self._open_recheck(
                person,
                OpenRecheckRow(
                    batch.reading_id[row],
                    batch.device_id[row],
                    ts,
                    float(adjusted[row]),
                    float(threshold[row]),
                ),
            )
            while len(self._open) > MAX_OPEN_RECHECKS:
                oldest, stale = next(iter(self._open.items()))
                self._close(oldest)
                events.append(self._escalation(oldest, stale))
        return True

    def _follow_up(
        self, work: _Work, row: int, person: str, pending: OpenRecheckRow, event: EngineEvent
    ) -> None:
        """A reading of someone with an open re-check: confirm, clear, or too soon to clear."""
        follow = dataclasses.replace(
            event, reading_id=pending.reading_id, confirming_reading_id=event.reading_id
        )
        if work.suspicious[row]:
            work.decision[row], work.reason[row] = Decision.FEVER, Reason.CONFIRMED
            work.events.append(follow)
            self._close(person)
        elif event.ts_ms - pending.ts_ms >= self._min_wait_ms:
            work.reason[row] = Reason.CLEARED
            work.events.append(dataclasses.replace(follow, kind=EventKind.CLEARED))
            self._close(person)
        else:
            work.reason[row] = Reason.RECHECK_TOO_SOON

    def _remember(self, reading_id: str, decision: int, reason: int) -> None:
        self._decided[reading_id] = (decision, reason)
        self._newly_decided[reading_id] = (decision, reason)
        if len(self._decided) > DECIDED_MEMORY:
            self._decided.popitem(last=False)

    @staticmethod
    def _escalation(person: str, pending: OpenRecheckRow) -> EngineEvent:
        return EngineEvent(
            EventKind.UNCONFIRMED,
            None,
            pending.reading_id,
            person,
            pending.device_id,
            pending.ts_ms,
            pending.adjusted_c,
            pending.threshold_c,
        )
