"""The fever decision, vectorised: numpy arrays in, decisions out, no I/O.

This is the stone the decision engine of issue 4 builds on (calibration, baselines, re-check
protocol). Here: a reading with an error code or no value is ``invalid``; a value at or above
the threshold is ``fever``; anything else is ``normal``. ``adjusted_c`` is the value the rule
compared (identity calibration for now), NaN when invalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt


class Decision(IntEnum):
    """Decision codes as stored in the int8 result array."""

    NORMAL = 0
    FEVER = 1
    INVALID = 2

    @property
    def label(self) -> str:
        """The name written to storage and alerts."""
        return self.name.lower()


DECISION_LABELS: tuple[str, ...] = tuple(d.label for d in Decision)


@dataclass(frozen=True, slots=True)
class Decisions:
    """The engine's output for one batch."""

    code: npt.NDArray[np.int8]
    adjusted_c: npt.NDArray[np.float64]

    def labels(self) -> list[str]:
        """Decision names, one per reading."""
        return [DECISION_LABELS[c] for c in self.code.tolist()]


def decide(
    temp_c: npt.NDArray[np.float64],
    has_error: npt.NDArray[np.bool_],
    threshold_c: float,
) -> Decisions:
    """Apply the threshold to a whole batch at once."""
    adjusted = np.where(has_error, np.nan, temp_c)
    invalid = has_error | np.isnan(adjusted)
    fever = ~invalid & (adjusted >= threshold_c - 1e-9)
    code = np.full(temp_c.shape, Decision.NORMAL, dtype=np.int8)
    code[fever] = Decision.FEVER
    code[invalid] = Decision.INVALID
    return Decisions(code=code, adjusted_c=adjusted)
