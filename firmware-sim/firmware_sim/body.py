"""Bodies and what thermometers make of them: pure, seeded functions of published figures.

Ground truth is the oral-equivalent core temperature. A handheld forehead thermometer in body
mode shows a compressed, biased, noisy and (after coming in from the cold) depressed version
of it; a canthus kiosk in a lobby shows something close to it. Every random draw comes from a
``numpy.random.Generator`` the caller passes, so a seed fixes everything. The figures and their
sources are in /work/shared/fever-science.md and on each :class:`BodyModel` field.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np

from thermogate.contract.messages import ErrorCode, Site

CAMPUS_TZ: Final = dt.timezone(dt.timedelta(hours=8), "CST")
"""China Standard Time: the hour of day that drives rhythms, meals and weather."""


class ArrivalMode(StrEnum):
    """How a person came to the door: it sets how cold their skin got."""

    FOOT = "foot"
    BIKE = "bike"
    CAR = "car"


@dataclass(frozen=True, slots=True)
class BodyModel:
    """Every parameter of the body and measurement model, with its source."""

    baseline_mean_c: float = 36.7
    """Healthy oral mean 36.6-36.8 (Mackowiak 1992; Obermeyer 2017)."""
    baseline_sd_c: float = 0.2
    """Between-person SD of the personal baseline 0.15-0.26 (Obermeyer 2017; Ley 2023)."""
    within_sd_c: float = 0.22
    """Residual within-person variation, chosen so the total SD is about 0.35 (Mackowiak)."""
    rhythm_amplitude_c: float = 0.25
    """Half of the 0.5 peak-to-trough daily rhythm (Mackowiak 1992)."""
    rhythm_trough_hour: float = 6.0
    rhythm_peak_hour: float = 17.0
    """Lowest near 06:00, highest 16:00-18:00 (Mackowiak 1992)."""
    fever_min_c: float = 37.8
    fever_max_c: float = 40.0
    """Febrile core range; influenza-like illness peaks at 38-40 (Carrat 2008)."""
    fever_days_min: int = 1
    fever_days_max: int = 5
    """Fever lasts about 3 days, 1-5 (Carrat 2008)."""
    fever_within_sd_c: float = 0.15
    """Hour-to-hour wobble of a fever around its day level (model choice)."""
    reference_c: float = 36.7
    """The point around which skin readings compress the core (the healthy mean)."""
    display_offset_c: float = -0.4
    """Body-mode calibration relative to oral core. The default, -0.4, reads
    axillary-equivalent (axillary is 0.3-0.55 below oral, Geneva 2019), the scale China's
    37.3 °C threshold refers to; 0 would read oral-equivalent (as the FDA study's kiosk)."""
    forehead_slope: float = 0.75
    """Forehead skin rises 0.7-0.8 °C per 1 °C of oral rise (fever compression)."""
    canthus_slope: float = 0.9
    """Canthus rises 0.8-1.0 °C per 1 °C of oral rise."""
    forehead_person_sd_c: float = 0.5
    """Error that stays with the person; clinical handheld errors span -2..+1 (Sullivan 2021)."""
    forehead_repeat_sd_c: float = 0.19
    """Immediate repeats differ by 0.24-0.29 (FDA data): 0.27/sqrt(2) per reading."""
    canthus_person_sd_c: float = 0.37
    """SD of canthus-oral difference 0.37-0.42 (Zhou 2020), mostly per person."""
    canthus_repeat_sd_c: float = 0.09
    """Immediate canthus repeats differ by 0.11-0.15 (FDA data): 0.13/sqrt(2)."""
    forehead_ambient_per_c: float = 0.16
    canthus_ambient_per_c: float = 0.08
    """Skin readings move with room temperature between 20 and 29 °C (FDA data)."""
    calibration_room_c: float = 22.0
    """Room temperature at which the display reads true (middle of the 20-24 °C guidance)."""
    cold_d0_per_c: float = 0.15
    cold_fast_weight: float = 0.55
    cold_fast_tau_min: float = 0.71
    cold_slow_tau_min: float = 4.5
    """deficit(t) = D0·(0.55·e^(-t/0.71) + 0.45·e^(-t/4.5)), D0 = 0.15 per °C (Dzien 2020 fit)."""
    cold_exposure_sd: float = 0.3
    """Person-to-person spread of the cold deficit: 33.2 ± 1.5 at t=0 (Dzien 2020)."""
    bike_cold_factor: float = 1.3
    car_cold_factor: float = 0.4
    """Cyclists cool more, car passengers less (direction from the fit; sizes are ours)."""
    wrist_cold_factor: float = 1.0 / 3.0
    """Wrist readings drop about a third as much as the forehead."""
    display_min_c: float = 32.0
    display_max_c: float = 42.9
    """Body-mode display range; outside it the device shows LO/HI."""


DEFAULT_MODEL: Final = BodyModel()


@dataclass(frozen=True, slots=True)
class Body:
    """What stays with a person: baseline core and the skin offsets of each site."""

    baseline_c: float
    forehead_offset_c: float
    canthus_offset_c: float


@dataclass(frozen=True, slots=True)
class HandheldModel:
    """A handheld thermometer model and its mean bias in clinical use."""

    name: str
    bias_c: float


HANDHELD_MODELS: Final = (HandheldModel("TG-100", -0.5), HandheldModel("TG-200", 0.1))
"""Two models within Sullivan 2021's range of mean biases (-0.9 to +0.2 °C)."""


def handheld_model_for(device_id: str) -> HandheldModel:
    """The model of a handheld, fixed by its id (so every run agrees)."""
    return HANDHELD_MODELS[zlib.crc32(device_id.encode("utf-8")) % len(HANDHELD_MODELS)]


@dataclass(frozen=True, slots=True)
class Display:
    """What a thermometer shows: a value with one decimal, or an error code."""

    temp_c: float | None
    error: ErrorCode | None

    @classmethod
    def of(cls, value_c: float, model: BodyModel = DEFAULT_MODEL) -> Display:
        """Round to 0.1 and clip to the display range as ``LO``/``HI``."""
        shown = round(value_c, 1)
        if shown < model.display_min_c:
            return cls(None, ErrorCode.LO)
        if shown > model.display_max_c:
            return cls(None, ErrorCode.HI)
        return cls(shown, None)

    @property
    def text(self) -> str:
        """``36.8``, ``LO``, ``HI`` or ``ERR``, as on the screen."""
        return self.error.value if self.error is not None else f"{self.temp_c:.1f}"


def draw_body(rng: np.random.Generator, model: BodyModel = DEFAULT_MODEL) -> Body:
    """A new person's lasting traits."""
    return Body(
        baseline_c=float(rng.normal(model.baseline_mean_c, model.baseline_sd_c)),
        forehead_offset_c=float(rng.normal(0.0, model.forehead_person_sd_c)),
        canthus_offset_c=float(rng.normal(0.0, model.canthus_person_sd_c)),
    )


def local_hour(when: dt.datetime) -> float:
    """Hour of day (0-24, fractional) on the campus clock."""
    local = when.astimezone(CAMPUS_TZ)
    return local.hour + local.minute / 60 + local.second / 3600


def campus_day(when: dt.datetime) -> int:
    """The campus calendar day (proleptic ordinal) of a moment."""
    return when.astimezone(CAMPUS_TZ).date().toordinal()


def circadian_offset(hour: float, model: BodyModel = DEFAULT_MODEL) -> float:
    """Daily rhythm: -amplitude at the trough hour, +amplitude at the peak hour, smooth between."""
    trough, peak = model.rhythm_trough_hour, model.rhythm_peak_hour
    amplitude = model.rhythm_amplitude_c
    rising = (peak - trough) % 24
    since_trough = (hour - trough) % 24
    if since_trough <= rising:
        return -amplitude * math.cos(math.pi * since_trough / rising)
    return amplitude * math.cos(math.pi * (since_trough - rising) / (24 - rising))


def healthy_core(
    body: Body, when: dt.datetime, rng: np.random.Generator, model: BodyModel = DEFAULT_MODEL
) -> float:
    """True core temperature of a person without fever at a moment."""
    return (
        body.baseline_c
        + circadian_offset(local_hour(when), model)
        + float(rng.normal(0.0, model.within_sd_c))
    )


def febrile_core(
    fever_level_c: float,
    when: dt.datetime,
    rng: np.random.Generator,
    model: BodyModel = DEFAULT_MODEL,
) -> float:
    """True core temperature during a fever whose level today is ``fever_level_c``."""
    value = (
        fever_level_c
        + 0.5 * circadian_offset(local_hour(when), model)
        + float(rng.normal(0.0, model.fever_within_sd_c))
    )
    return min(model.fever_max_c, max(model.fever_min_c, value))


def cold_deficit(
    minutes_indoors: float,
    outdoor_c: float,
    indoor_c: float = 20.0,
    mode: ArrivalMode = ArrivalMode.FOOT,
    *,
    site: Site = Site.FOREHEAD,
    model: BodyModel = DEFAULT_MODEL,
) -> float:
    """How far below its settled value a skin reading is, ``minutes_indoors`` after coming in.

    ``D0·(0.55·e^(-t/0.71) + 0.45·e^(-t/4.5))`` with ``D0 = 0.15 °C`` per °C of indoor-outdoor
    difference (Dzien 2020), scaled by the mode of arrival; wrists drop a third as much.
    Coming in from somewhere warmer gives no deficit.
    """
    difference = max(0.0, indoor_c - outdoor_c)
    factor = {
        ArrivalMode.FOOT: 1.0,
        ArrivalMode.BIKE: model.bike_cold_factor,
        ArrivalMode.CAR: model.car_cold_factor,
    }[mode]
    if site is Site.WRIST:
        factor *= model.wrist_cold_factor
    d0 = model.cold_d0_per_c * difference * factor
    t = max(0.0, minutes_indoors)
    fast = model.cold_fast_weight * math.exp(-t / model.cold_fast_tau_min)
    slow = (1.0 - model.cold_fast_weight) * math.exp(-t / model.cold_slow_tau_min)
    return d0 * (fast + slow)


def displayed_temperature(
    core_c: float,
    body: Body,
    device: HandheldModel,
    rng: np.random.Generator,
    *,
    site: Site = Site.FOREHEAD,
    minutes_indoors: float = 60.0,
    outdoor_c: float = 20.0,
    indoor_c: float = 20.0,
    mode: ArrivalMode = ArrivalMode.FOOT,
    model: BodyModel = DEFAULT_MODEL,
) -> Display:
    """What a handheld shows in body mode, at the forehead or the wrist.

    core, compressed around the calibration point (skin rises ~0.75 per 1 °C), plus the
    device model's bias, the person's lasting offset, a per-reading error and the room's
    effect, minus the cold-arrival deficit (scaled per person), rounded, LO/HI outside range.
    """
    if site not in (Site.FOREHEAD, Site.WRIST):
        raise ValueError(f"a handheld measures the forehead or the wrist, not {site}")
    exposure = max(0.0, float(rng.normal(1.0, model.cold_exposure_sd)))
    value = (
        model.reference_c
        + model.display_offset_c
        + model.forehead_slope * (core_c - model.reference_c)
        + device.bias_c
        + body.forehead_offset_c
        + float(rng.normal(0.0, model.forehead_repeat_sd_c))
        + model.forehead_ambient_per_c * (indoor_c - model.calibration_room_c)
        - exposure
        * cold_deficit(minutes_indoors, outdoor_c, indoor_c, mode, site=site, model=model)
    )
    return Display.of(value, model)


def kiosk_temperature(
    core_c: float,
    body: Body,
    rng: np.random.Generator,
    *,
    ambient_c: float = 22.0,
    model: BodyModel = DEFAULT_MODEL,
) -> Display:
    """What a canthus kiosk in a lobby shows in body mode: close to the core, less noise.

    People reach the lobby a few minutes after the door, and the inner eye corner is well
    perfused; no published figure gives a canthus cold deficit, so none is modelled.
    """
    value = (
        model.reference_c
        + model.display_offset_c
        + model.canthus_slope * (core_c - model.reference_c)
        + body.canthus_offset_c
        + float(rng.normal(0.0, model.canthus_repeat_sd_c))
        + model.canthus_ambient_per_c * (ambient_c - model.calibration_room_c)
    )
    return Display.of(value, model)
