"""Thermometer readings with their hidden terms: what a device showed and what an oracle knows.

The body functions of :mod:`.body` draw their random terms inside; to know them, the draws are
made again from a copy of the generator and the displayed value is rebuilt from its parts (a
check that the rebuilt value shows as the device did guards against :mod:`.body` changing).
The *oracle* value is the reading on the oral-equivalent scale with every hidden bias (device
model, drift, the person's skin offset), the cold deficit, the room's effect and the display
offset removed: only the per-reading error is left, the best a rule could know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from thermogate.contract.messages import Site
from thermogate.firmware_sim.body import (
    ArrivalMode,
    Body,
    BodyModel,
    Display,
    HandheldModel,
    cold_deficit,
    displayed_temperature,
    kiosk_temperature,
)


@dataclass(frozen=True, slots=True)
class Measured:
    """What a device showed, and the oracle's value of the same reading."""

    display: Display
    oracle_c: float


class ModelChangedError(RuntimeError):
    """:mod:`.body` no longer draws what this module replays to recover the hidden terms."""


def _replay(
    rng: np.random.Generator, state: Mapping[str, Any], scratch: np.random.Generator | None
) -> np.random.Generator:
    """A generator at ``state`` (``scratch`` if given): it redraws what ``rng`` just drew."""
    if scratch is None:
        scratch = np.random.Generator(type(rng.bit_generator)(0))
    scratch.bit_generator.state = state
    return scratch


def _check(display: Display, value_c: float, model: BodyModel) -> None:
    if Display.of(value_c, model) != display:
        raise ModelChangedError(
            f"rebuilt value {value_c:.3f} does not show as {display.text}: body.py changed"
        )


def measure_handheld(
    core_c: float,
    body: Body,
    handheld: HandheldModel,
    rng: np.random.Generator,
    *,
    minutes_indoors: float,
    outdoor_c: float,
    indoor_c: float,
    mode: ArrivalMode,
    model: BodyModel,
    scratch: np.random.Generator | None = None,
) -> Measured:
    """A forehead handheld reading (:func:`.body.displayed_temperature`) and its oracle value.

    The draws the body function made (cold exposure, then the per-reading error) are redrawn
    from a copy of the generator (``scratch``, reused if given, of the same bit generator type
    as ``rng``), so the hidden terms are known; the rebuilt value must show as the device did,
    else :class:`ModelChangedError`.
    """
    state = rng.bit_generator.state
    display = displayed_temperature(
        core_c,
        body,
        handheld,
        rng,
        site=Site.FOREHEAD,
        minutes_indoors=minutes_indoors,
        outdoor_c=outdoor_c,
        indoor_c=indoor_c,
        mode=mode,
        model=model,
    )
    scratch = _replay(rng, state, scratch)
    exposure = max(0.0, float(scratch.normal(1.0, model.cold_exposure_sd)))
    noise = float(scratch.normal(0.0, model.forehead_repeat_sd_c))
    deficit = cold_deficit(minutes_indoors, outdoor_c, indoor_c, mode, model=model)
    value = (
        model.reference_c
        + model.display_offset_c
        + model.forehead_slope * (core_c - model.reference_c)
        + handheld.bias_c
        + body.forehead_offset_c
        + noise
        + model.forehead_ambient_per_c * (indoor_c - model.calibration_room_c)
        - exposure * deficit
    )
    _check(display, value, model)
    return Measured(display, core_c + noise / model.forehead_slope)


def measure_kiosk(
    core_c: float,
    body: Body,
    rng: np.random.Generator,
    *,
    ambient_c: float,
    drift_c: float,
    model: BodyModel,
    scratch: np.random.Generator | None = None,
) -> Measured:
    """A canthus kiosk reading (:func:`.body.kiosk_temperature`) plus a drift, and its oracle."""
    state = rng.bit_generator.state
    shown = kiosk_temperature(core_c, body, rng, ambient_c=ambient_c, model=model)
    noise = float(_replay(rng, state, scratch).normal(0.0, model.canthus_repeat_sd_c))
    value = (
        model.reference_c
        + model.display_offset_c
        + model.canthus_slope * (core_c - model.reference_c)
        + body.canthus_offset_c
        + noise
        + model.canthus_ambient_per_c * (ambient_c - model.calibration_room_c)
    )
    _check(shown, value, model)
    display = Display.of(value + drift_c, model) if drift_c else shown
    return Measured(display, core_c + noise / model.canthus_slope)
