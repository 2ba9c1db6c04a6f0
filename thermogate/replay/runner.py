"""Replays a recorded CSV through the gateway's decision engine, in time order.

Read and validate (``reader``), sort by time (stable), fill empty placements from the device
registry, decide in time-ordered chunks with one :class:`DecisionEngine` (its open re-checks
carry over; ``expire`` runs after each chunk), write every good row with ``decision``,
``adjusted_c`` and ``reason`` appended (to a temporary file renamed at the end, so a failed
replay never leaves half an output), and compute the screening metrics when there is truth.
"""

from __future__ import annotations

import csv
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from thermogate.config import Settings
from thermogate.contract import Placement
from thermogate.gateway.engine import (
    DECISION_LABELS,
    REASON_LABELS,
    Decision,
    DecisionEngine,
    EngineEvent,
    EngineInput,
    EventKind,
)
from thermogate.gateway.engine.health import FAULTS
from thermogate.replay import metrics
from thermogate.replay.reader import BadRow, HeaderError, Readings, gc_paused, read_readings

log = logging.getLogger("thermogate.replay")

DEFAULT_CHUNK_ROWS: Final = 10_000
"""Rows per engine call. The engine's cost per call grows with the call's size times the
people it watches; its time per row barely changes from 2,000 to 50,000 rows per call."""
ADDED_COLUMNS: Final = ("decision", "adjusted_c", "reason")
DEFAULT_PLACEMENT: Final = Placement.DOOR.value


class ReplayError(Exception):
    """The replay cannot go on: a bad header, an unreadable file, or a bad row with --strict."""


@dataclass(frozen=True, slots=True)
class EventCounts:
    """What the engine asked for during the replay (events are not written to the CSV)."""

    fever: int = 0
    """Fever alerts: confirmed or very high."""
    recheck: int = 0
    """Re-check requests (suspicious, person known)."""
    cleared: int = 0
    unidentified: int = 0
    """Suspicious readings of nobody known, alerted as unconfirmed at once."""
    escalations: int = 0
    """Unconfirmed escalations: the re-check window ran out without a re-check."""
    open_at_end: int = 0
    """Re-checks still waiting when the recording ends (their window had not run out)."""
    device_faults: int = 0
    """Devices reported stuck or drifting (each change of a device's fault counts)."""
    faulty_at_end: tuple[str, ...] = ()
    """What is wrong with each device still faulty when the recording ends."""


@dataclass(frozen=True, slots=True)
class Decided:
    """The engine's output for every row, in time order."""

    decision: npt.NDArray[np.int8]
    reason: npt.NDArray[np.int8]
    adjusted_c: npt.NDArray[np.float64]
    events: EventCounts


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """Everything the summary shows."""

    source: str
    output: str
    rows: int
    bad_rows: list[BadRow]
    decisions: dict[str, int]
    events: EventCounts
    screening: list[metrics.Screening]
    """Empty without a truth column; else positive = fever, then positive = recheck or fever."""
    seconds: dict[str, float] = field(default_factory=dict)


@gc_paused()
def replay(
    in_path: Path,
    out_path: Path,
    settings: Settings,
    *,
    strict: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_bad_row: Callable[[BadRow], None] | None = None,
) -> ReplayReport:
    """Replay ``in_path`` into ``out_path``; bad rows go to ``on_bad_row`` and are skipped
    (with ``strict`` the first one raises :class:`ReplayError` and nothing is written)."""
    clock = _Clock()
    if not out_path.parent.is_dir():  # say so before the work, not after
        raise ReplayError(f"{out_path}: cannot write: no directory {out_path.parent}")
    try:
        readings = read_readings(in_path)
    except HeaderError as exc:
        raise ReplayError(str(exc)) from None
    except OSError as exc:
        raise ReplayError(f"{in_path}: cannot read: {exc.strerror or exc}") from None
    clock.lap("read")
    if readings.bad_rows and strict:
        raise ReplayError(f"{readings.bad_rows[0].describe(readings.source)} (--strict)")
    if on_bad_row is not None:
        for bad in readings.bad_rows:
            on_bad_row(bad)
    order = time_order(readings.ts_ms)
    registry = {d.id: d.placement.value for d in settings.devices}
    placement = resolve_placement(readings.placement, readings.device_id, registry)
    clock.lap("sort")
    engine = DecisionEngine(settings.engine, settings.gateway.threshold_c)
    decided = decide_in_time_order(engine, readings, placement, order, chunk_rows)
    clock.lap("decide")
    write_output(out_path, readings, order, decided)
    clock.lap("write")
    report = ReplayReport(
        source=readings.source,
        output=str(out_path),
        rows=len(readings),
        bad_rows=readings.bad_rows,
        decisions=decision_counts(decided.decision),
        events=decided.events,
        screening=screening_figures(readings, order, decided.decision),
        seconds=clock.laps,  # the same dict: it gets the metrics lap just below
    )
    clock.lap("metrics")
    log.info(
        "replay done",
        extra={
            "source": report.source,
            "rows": report.rows,
            "bad_rows": len(report.bad_rows),
            "chunk_rows": chunk_rows,
            **{f"{phase}_s": round(s, 3) for phase, s in clock.laps.items()},
        },
    )
    return report


def time_order(ts_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """Row indices by time; equal times keep their input order."""
    return np.argsort(ts_ms, kind="stable")


def resolve_placement(
    placement: Sequence[str], device_id: Sequence[str], registry: Mapping[str, str]
) -> list[str]:
    """The row's placement; where empty, the registry's for the device, else ``door``."""
    if "" not in set(placement):
        return list(placement)
    return [
        p or registry.get(d, DEFAULT_PLACEMENT) for p, d in zip(placement, device_id, strict=True)
    ]


def decide_in_time_order(
    engine: DecisionEngine,
    readings: Readings,
    placement: Sequence[str],
    order: npt.NDArray[np.intp],
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Decided:
    """Feed ``readings`` (taken in ``order``) to ``engine`` in chunks; results in that order.

    Reading ids are ``row-<data row number>``, unique in the file.
    """
    n = len(order)
    decision = np.empty(n, dtype=np.int8)
    reason = np.empty(n, dtype=np.int8)
    adjusted = np.empty(n, dtype=np.float64)
    ts_ms = readings.ts_ms[order]
    rows = readings.row[order]
    device_id = _take(readings.device_id, order)
    building = _take(readings.building, order)
    kind, site = _take(readings.device_kind, order), _take(readings.site, order)
    where = _take(placement, order)
    person: list[str | None] = [p or None for p in _take(readings.person_id, order)]
    events: Counter[str] = Counter()
    for start in range(0, n, max(1, chunk_rows)):
        stop = min(start + chunk_rows, n)
        batch = EngineInput(
            ts_ms=ts_ms[start:stop],
            reading_id=[f"row-{r}" for r in rows[start:stop].tolist()],
            device_id=device_id[start:stop],
            device_kind=kind[start:stop],
            site=site[start:stop],
            placement=where[start:stop],
            person_id=person[start:stop],
            temp_c=readings.temp_c[order[start:stop]],
            has_error=readings.has_error[order[start:stop]],
            ambient_c=readings.ambient_c[order[start:stop]],
            building=building[start:stop],
            outdoor_c=readings.outdoor_c[order[start:stop]],
        )
        out = engine.decide(batch)
        decision[start:stop], reason[start:stop] = out.decision, out.reason
        adjusted[start:stop] = out.adjusted_c
        _count(events, out.events)
        _count(events, engine.expire(int(ts_ms[stop - 1])))
    counts = EventCounts(
        fever=events["fever"],
        recheck=events["recheck"],
        cleared=events["cleared"],
        unidentified=events["unidentified"],
        escalations=events["escalations"],
        open_at_end=engine.open_rechecks,
        device_faults=events["device_faults"],
        faulty_at_end=tuple(
            health.describe() for health in engine.device_health() if health.state in FAULTS
        ),
    )
    return Decided(decision, reason, adjusted, counts)


def _take(values: Sequence[str], order: npt.NDArray[np.intp]) -> list[str]:
    """``values`` in ``order`` (a plain copy when the file was in time order already)."""
    if _is_identity(order):
        return list(values)
    taken: list[str] = np.asarray(values, dtype=object)[order].tolist()
    return taken


def _is_identity(order: npt.NDArray[np.intp]) -> bool:
    return bool(np.array_equal(order, np.arange(len(order))))


_COUNTED: Final = {
    EventKind.FEVER: "fever",
    EventKind.RECHECK: "recheck",
    EventKind.CLEARED: "cleared",
    EventKind.DEVICE_FAULT: "device_faults",
}


def _count(counts: Counter[str], events: Iterable[EngineEvent]) -> None:
    """Tally by kind; an unconfirmed alert with a row is a suspicious reading of nobody known,
    without one it is an escalation (the re-check window ran out)."""
    for event in events:
        if event.kind is EventKind.UNCONFIRMED:
            counts["unidentified" if event.row is not None else "escalations"] += 1
        elif event.kind in _COUNTED:
            counts[_COUNTED[event.kind]] += 1


def format_celsius(values: npt.NDArray[np.float64]) -> list[str]:
    """Two decimals (``37.25``); ``""`` for NaN. Formats each distinct value once."""
    text = np.full(len(values), "", dtype=object)
    known = ~np.isnan(values)
    if known.any():
        cents = np.round(values[known] * 100.0).astype(np.int64)
        unique, inverse = np.unique(cents, return_inverse=True)
        labels = [f"{'-' if c < 0 else ''}{abs(c) // 100}.{abs(c) % 100:02d}" for c in unique]
        text[known] = np.asarray(labels, dtype=object)[inverse]
    formatted: list[str] = text.tolist()
    return formatted


def write_output(
    path: Path, readings: Readings, order: npt.NDArray[np.intp], decided: Decided
) -> None:
    """Every row in ``order``: the input's columns as read, then the added ones.

    A regular file is written beside and renamed into place at the end; anything else that
    exists (``/dev/stdout``, a pipe) is written directly.
    """
    records = readings.records
    if not _is_identity(order):
        records = [records[i] for i in order.tolist()]
    decisions = np.asarray(DECISION_LABELS, dtype=object)[decided.decision].tolist()
    reasons = np.asarray(REASON_LABELS, dtype=object)[decided.reason].tolist()
    added = zip(decisions, format_celsius(decided.adjusted_c), reasons, strict=True)
    rows = map(chain, records, added)
    direct = path.exists() and not path.is_file()
    target = path if direct else path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with target.open("w" if direct else "x", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow([*readings.header, *ADDED_COLUMNS])
            writer.writerows(rows)
        if not direct:
            target.replace(path)
    except OSError as exc:
        if not direct:
            target.unlink(missing_ok=True)
        raise ReplayError(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        if not direct:
            target.unlink(missing_ok=True)
        raise


def decision_counts(decision: npt.NDArray[np.int8]) -> dict[str, int]:
    """Readings per decision, in the order normal, recheck, fever, invalid."""
    counts = np.bincount(decision, minlength=len(Decision)).tolist()
    shown = (Decision.NORMAL, Decision.RECHECK, Decision.FEVER, Decision.INVALID)
    return {d.label: int(counts[d]) for d in shown}


def screening_figures(
    readings: Readings, order: npt.NDArray[np.intp], decision: npt.NDArray[np.int8]
) -> list[metrics.Screening]:
    """Both definitions of a positive, when the file has ``truth_febrile``."""
    if readings.truth is None:
        return []
    truth = readings.truth[order]
    device_code, device_names = metrics.codes_of(readings.device_id)
    device = (device_code[order], device_names)
    person, _ = metrics.codes_of(readings.person_id)
    person_day = metrics.person_day_groups(person[order], readings.local_day[order])
    return [
        metrics.screening(
            "fever",
            "positive = decision fever (the clinic is alerted)",
            decision,
            truth,
            metrics.FEVER_ONLY,
            device=device,
            person_day=person_day,
        ),
        metrics.screening(
            "flagged",
            "flagged = decision recheck or fever (a re-check is an alarm for the staff)",
            decision,
            truth,
            metrics.FLAGGED,
            device=device,
            person_day=person_day,
        ),
    ]


class _Clock:
    """Seconds per phase, for the log and the summary."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.laps[phase] = now - self._last
        self._last = now
