"""Screening performance against ground truth: pure functions over numpy arrays.

A reading is *positive* when its decision is one of a chosen set of codes: ``fever`` alone
(the clinic is alerted), or ``recheck`` or ``fever`` ("flagged": a re-check is an alarm for the
staff too). An ``invalid`` reading is never positive, so a febrile person's invalid reading is a
miss. Truth is ``truth_febrile`` (1 febrile, 0 not).

A person-day is one ``person_id`` on one local date (in each reading's own UTC offset); it is
febrile when any of its readings is, and positive when any of its readings is. Readings without
a person are not in the person-day figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from thermogate.gateway.engine import Decision

FEVER_ONLY: tuple[Decision, ...] = (Decision.FEVER,)
FLAGGED: tuple[Decision, ...] = (Decision.RECHECK, Decision.FEVER)

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts of one population; a ratio with a zero denominator is None."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def total(self) -> int:
        """Readings (or person-days) counted."""
        return self.tp + self.fp + self.fn + self.tn

    @property
    def febrile(self) -> int:
        """Truly febrile ones."""
        return self.tp + self.fn

    @property
    def positives(self) -> int:
        """Alarms raised."""
        return self.tp + self.fp

    @property
    def sensitivity(self) -> float | None:
        """Share of the febrile that were positive: TP / (TP + FN)."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float | None:
        """Share of the afebrile that were not positive: TN / (TN + FP)."""
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def ppv(self) -> float | None:
        """Share of the positives that were febrile: TP / (TP + FP)."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def alarms_per_1000(self) -> float | None:
        """Positives per 1,000 counted."""
        ratio = _ratio(self.positives, self.total)
        return None if ratio is None else 1000.0 * ratio


@dataclass(frozen=True, slots=True)
class Screening:
    """The figures for one definition of a positive."""

    name: str
    definition: str
    overall: Confusion
    per_device: dict[str, Confusion]
    person_days: Confusion


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def is_positive(decision: npt.NDArray[np.int8], codes: Sequence[Decision]) -> Bools:
    """Rows whose decision is one of ``codes``."""
    return np.isin(decision, np.asarray([int(c) for c in codes], dtype=np.int8))


def confusion(positive: Bools, truth: npt.ArrayLike) -> Confusion:
    """The four counts over all rows."""
    return confusion_by_group(np.zeros(len(positive), dtype=np.int64), 1, positive, truth)[0]


def confusion_by_group(
    group: Ints, groups: int, positive: Bools, truth: npt.ArrayLike
) -> list[Confusion]:
    """The four counts per group code ``0 .. groups - 1``."""
    febrile = np.asarray(truth).astype(bool)
    cell = group * 4 + positive.astype(np.int64) * 2 + febrile.astype(np.int64)
    counts = np.bincount(cell, minlength=4 * groups).reshape(groups, 4).tolist()
    # cell: 0 = negative & afebrile (TN), 1 = negative & febrile (FN), 2 = FP, 3 = TP
    return [Confusion(tp=c[3], fp=c[2], fn=c[1], tn=c[0]) for c in counts]


def person_day_groups(person: Ints, local_day: Ints) -> tuple[Ints, int]:
    """A group code per row (-1 without a person) and the number of person-days.

    ``person`` is an integer code per row, negative when the row has no person.
    """
    known = person >= 0
    group = np.full(len(person), -1, dtype=np.int64)
    if not known.any():
        return group, 0
    days = local_day[known]
    key = person[known] * (int(days.max() - days.min()) + 1) + (days - days.min())
    unique, inverse = np.unique(key, return_inverse=True)
    group[known] = inverse
    return group, len(unique)


def person_days(group: Ints, groups: int, positive: Bools, truth: npt.ArrayLike) -> Confusion:
    """Person-day counts: febrile if any reading is, positive if any reading is."""
    known = group >= 0
    rows = group[known]
    any_positive = np.bincount(rows, weights=positive[known], minlength=groups) > 0
    any_febrile = np.bincount(rows, weights=np.asarray(truth)[known], minlength=groups) > 0
    return confusion(any_positive, any_febrile)


def codes_of(values: Sequence[str | None]) -> tuple[Ints, list[str]]:
    """Integer codes in order of first appearance; ``""`` and None get -1."""
    table = {value: code for code, value in enumerate(dict.fromkeys(values))}
    codes = np.fromiter(map(table.__getitem__, values), dtype=np.int64, count=len(values))
    names: list[str] = [v for v in table if v]
    if "" in table or None in table:  # renumber so that the missing value is -1
        remap = np.full(len(table), -1, dtype=np.int64)
        remap[[table[v] for v in names]] = np.arange(len(names))
        codes = remap[codes]
    return codes, names


def screening(
    name: str,
    definition: str,
    decision: npt.NDArray[np.int8],
    truth: npt.ArrayLike,
    codes: Sequence[Decision],
    *,
    device: tuple[Ints, list[str]],
    person_day: tuple[Ints, int],
) -> Screening:
    """Overall, per device (sorted by id) and per person-day figures for one definition."""
    positive = is_positive(decision, codes)
    device_code, device_names = device
    per_device = confusion_by_group(device_code, len(device_names), positive, truth)
    return Screening(
        name=name,
        definition=definition,
        overall=confusion(positive, truth),
        per_device=dict(
            sorted(zip(device_names, per_device, strict=True), key=lambda item: item[0])
        ),
        person_days=person_days(person_day[0], person_day[1], positive, truth),
    )
