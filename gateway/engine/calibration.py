"""Calibration to a core-equivalent scale, and the threshold each reading is held to.

A device's displayed body-mode value is mapped per (kind, site, placement) to the scale the
threshold means: ``offset + slope * displayed + ambient_coef * (ambient - ambient_ref)``
(the ambient term only where the ambient temperature is known). Built-in defaults come from
docs/detection.md; ``[[engine.calibration]]`` entries override them. Applied vectorised:
one small loop over the distinct (kind, site, placement) of a batch, numpy over the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from thermogate.config import CalibrationSettings, EngineSettings, ThresholdSettings
from thermogate.contract import DeviceKind, Placement, Site
from thermogate.gateway.engine.factorize import factorize

DEFAULT_CALIBRATIONS: tuple[CalibrationSettings, ...] = (
    # Fitted on the FDA face/oral data, both cameras pooled, least squares of oral on the
    # kiosk's displayed value (canthiMax + 1.3; forehead centre + 2.7) and room temperature:
    # docs/fda-calibration.md, `python bench/fda_calibration.py`.
    CalibrationSettings(
        kind="kiosk",
        site=Site.CANTHUS,
        offset_c=13.043,
        slope=0.648,
        ambient_coef=-0.0523,
        ambient_ref_c=23.0,
    ),
    CalibrationSettings(
        kind="kiosk",
        site=Site.FOREHEAD,
        offset_c=25.101,
        slope=0.3215,
        ambient_coef=-0.0578,
        ambient_ref_c=23.0,
    ),
)
"""Built-in calibrations; a device kind and site not listed reads as displayed (identity):
handheld body-mode displays are meant to be on the body scale already (per-model biases are
what the per-device baseline of a later stage corrects)."""

DEFAULT_THRESHOLDS: tuple[ThresholdSettings, ...] = (
    # The forehead kiosk's calibrated scale is compressed (slope 0.32): at 37.3 it catches
    # 0.44 of febrile FDA readings, at 37.2 0.64 at specificity 0.94 (docs/fda-calibration.md).
    ThresholdSettings(kind="kiosk", site=Site.FOREHEAD, threshold_c=37.2),
)
"""Built-in thresholds; ``[[engine.thresholds]]`` entries override them."""


@dataclass(frozen=True, slots=True)
class _Coefficients:
    offset_c: float
    slope: float
    ambient_coef: float
    ambient_ref_c: float


_IDENTITY = _Coefficients(0.0, 1.0, 0.0, 23.0)


class Calibrator:
    """Looks up coefficients and thresholds; :meth:`apply` works on whole columns."""

    def __init__(self, settings: EngineSettings, default_threshold_c: float) -> None:
        self._table: dict[tuple[str, str, str | None], _Coefficients] = {}
        for entry in (*DEFAULT_CALIBRATIONS, *settings.calibration):  # later entries win
            placement = None if entry.placement is None else entry.placement.value
            self._table[(entry.kind, entry.site.value, placement)] = _Coefficients(
                entry.offset_c, entry.slope, entry.ambient_coef, entry.ambient_ref_c
            )
        self._thresholds: list[ThresholdSettings] = sorted(
            (*DEFAULT_THRESHOLDS, *settings.thresholds),
            key=lambda t: (t.kind is not None) + (t.site is not None) + (t.placement is not None),
        )
        self._default_threshold_c = default_threshold_c

    def coefficients(self, kind: str, site: str, placement: str) -> _Coefficients:
        """The most specific entry: placement-specific first, then any placement."""
        return self._table.get(
            (kind, site, placement), self._table.get((kind, site, None), _IDENTITY)
        )

    def threshold(self, kind: str, site: str, placement: str) -> float:
        """The most specific matching threshold (configured ones win a tie), else the
        default."""
        found = self._default_threshold_c
        for entry in self._thresholds:  # least specific first, so the last match wins
            if (
                (entry.kind is None or entry.kind == kind)
                and (entry.site is None or entry.site.value == site)
                and (entry.placement is None or entry.placement.value == placement)
            ):
                found = entry.threshold_c
        return found

    def apply(
        self,
        kind: Sequence[str],
        site: Sequence[str],
        placement: Sequence[str],
        temp_c: npt.NDArray[np.float64],
        ambient_c: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Core-equivalent values and the threshold of every row."""
        n = temp_c.shape[0]
        offset, slope = np.zeros(n), np.ones(n)
        coef, ref, threshold = np.zeros(n), np.zeros(n), np.zeros(n)
        unique, inverse = factorize(list(zip(kind, site, placement, strict=True)))
        for index, (k, s, p) in enumerate(unique):
            rows = inverse == index
            c = self.coefficients(k, s, p)
            offset[rows], slope[rows] = c.offset_c, c.slope
            coef[rows], ref[rows] = c.ambient_coef, c.ambient_ref_c
            threshold[rows] = self.threshold(k, s, p)
        ambient_term = np.where(np.isnan(ambient_c), 0.0, coef * (ambient_c - ref))
        return offset + slope * temp_c + ambient_term, threshold


def calibration_entry(
    kind: DeviceKind, site: Site, placement: Placement | None, **coefficients: float
) -> CalibrationSettings:
    """A calibration entry, for the built-in defaults and tests."""
    return CalibrationSettings(kind=kind.value, site=site, placement=placement, **coefficients)
