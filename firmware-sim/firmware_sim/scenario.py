"""Passages through a dorm's doors over a simulated day, with the ground truth of each.

Arrivals follow the day (peaks at meals and in the evening, quiet at night), the outdoor
temperature follows the hour (a winter evening by default), people come in on foot, by bike or
by car and are measured seconds after the door, or leave after a long time indoors. Each
:class:`Passage` carries what the device will show and what was really true. Deterministic
for a seed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import numpy as np

from thermogate.contract.messages import Site
from thermogate.firmware_sim.body import (
    CAMPUS_TZ,
    ArrivalMode,
    Body,
    Display,
    HandheldModel,
    displayed_temperature,
    draw_body,
    kiosk_temperature,
    local_hour,
)
from thermogate.firmware_sim.population import DEFAULT_FEVER_RATE, Population, Resident

DEFAULT_HOURLY_WEIGHTS: Final = (
    0.3, 0.15, 0.1, 0.05, 0.05, 0.1, 0.5, 1.6, 1.4, 0.8, 0.7, 1.2,
    1.8, 1.2, 0.8, 0.8, 0.9, 1.6, 1.9, 1.4, 1.3, 1.4, 1.0, 0.6,
)  # fmt: skip
"""Relative arrivals per hour of day: breakfast, lunch, dinner and evening peaks."""

_WINTER_SHAPE: Final = (
    -2.8, -3.2, -3.6, -3.8, -3.6, -3.2, -2.6, -1.8, -0.8, 0.2, 1.2, 1.8,
    2.2, 2.3, 2.2, 1.9, 1.4, 0.9, 0.4, 0.0, -0.5, -1.0, -1.6, -2.2,
)  # fmt: skip
"""Outdoor temperature relative to 19:00 on a clear winter day (warmest at 13:00)."""


class Direction(StrEnum):
    """Into the building (from outdoors) or out of it (after a long time inside)."""

    IN = "in"
    OUT = "out"


class Target(StrEnum):
    """Which thermometer measures a passage."""

    HANDHELD = "handheld"
    KIOSK = "kiosk"


@dataclass(frozen=True, slots=True)
class Weather:
    """Outdoor temperature by hour (interpolated), and the door hall and lobby temperatures."""

    hourly_outdoor_c: tuple[float, ...]
    hall_c: float = 20.0
    lobby_c: float = 22.0

    def __post_init__(self) -> None:
        if len(self.hourly_outdoor_c) != 24:
            raise ValueError("hourly_outdoor_c needs 24 values, one per hour")

    @classmethod
    def winter(
        cls, evening_c: float = -3.0, hall_c: float = 20.0, lobby_c: float = 22.0
    ) -> Weather:
        """A winter day that is ``evening_c`` at 19:00 (2 °C warmer at noon, colder at night)."""
        return cls(tuple(evening_c + d for d in _WINTER_SHAPE), hall_c, lobby_c)

    @classmethod
    def constant(cls, outdoor_c: float, hall_c: float = 20.0, lobby_c: float = 22.0) -> Weather:
        """The same outdoor temperature all day."""
        return cls((outdoor_c,) * 24, hall_c, lobby_c)

    def outdoor_at(self, hour: float) -> float:
        """Outdoor temperature at a fractional hour of day."""
        low = int(hour) % 24
        frac = hour - int(hour)
        high = (low + 1) % 24
        return (1 - frac) * self.hourly_outdoor_c[low] + frac * self.hourly_outdoor_c[high]


@dataclass(frozen=True, slots=True)
class Station:
    """A thermometer passages can go to: where it stands and what it is."""

    device_id: str
    building: str
    entrance: str
    target: Target
    site: Site = Site.FOREHEAD
    model: HandheldModel | None = None
    """The handheld model (its bias); None for a kiosk."""


def _default_start() -> dt.datetime:
    return dt.datetime(2020, 12, 7, 17, 0, tzinfo=CAMPUS_TZ)


@dataclass(frozen=True, slots=True)
class FebrileVisit:
    """A scripted passage: a resident with a fever measured by the door's handheld.

    The demo uses it so that a confirmed fever happens within its first minute whatever the
    fever rate: passage ``index`` of the building's stream is this resident, swiping their
    card on the way out after hours indoors (no cold deficit), with core temperature
    ``core_c``. Two visits of the same resident make the re-check confirm.
    """

    index: int
    """Which passage of the building's stream (0 is the first)."""
    resident: int
    """Index into the building's residents (:meth:`Population.in_building`)."""
    core_c: float = 39.3


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """Knobs of a simulated day at the doors."""

    start: dt.datetime = field(default_factory=_default_start)
    """Simulated start (aware): a winter evening by default."""
    weather: Weather = field(default_factory=Weather.winter)
    passages_per_resident_day: float = 4.0
    hourly_weights: tuple[float, ...] = DEFAULT_HOURLY_WEIGHTS
    fever_rate: float = DEFAULT_FEVER_RATE
    visitor_share: float = 0.03
    """Passages by strangers (no card, no resident record)."""
    forget_card_share: float = 0.1
    """Residents who do not swipe: their reading stays unidentified."""
    kiosk_share: float = 0.3
    """Incoming passages measured by the lobby kiosk where there is one."""
    mode_shares: tuple[tuple[ArrivalMode, float], ...] = (
        (ArrivalMode.FOOT, 0.7),
        (ArrivalMode.BIKE, 0.25),
        (ArrivalMode.CAR, 0.05),
    )
    door_minutes: tuple[float, float] = (0.0, 0.5)
    """Minutes between the door and the handheld reading for people coming in."""
    lobby_minutes: tuple[float, float] = (1.0, 4.0)
    """Minutes between the door and the lobby kiosk."""
    leaving_minutes: tuple[float, float] = (15.0, 600.0)
    """Minutes indoors before people going out are measured."""
    febrile_visits: tuple[FebrileVisit, ...] = ()
    """Scripted passages of febrile residents (the demo's early fever)."""


@dataclass(frozen=True, slots=True)
class Passage:
    """One person passing one thermometer: the conditions, the truth and what it showed."""

    index: int
    time: dt.datetime
    """Simulated time (campus clock)."""
    resident: Resident | None
    """None for a stranger or visitor without a card."""
    building: str
    entrance: str
    device_id: str
    target: Target
    direction: Direction
    mode: ArrivalMode | None
    """How they came (None when leaving)."""
    minutes_indoors: float
    outdoor_c: float
    ambient_c: float
    """Temperature where the reading is taken (door hall or lobby)."""
    truth_core_c: float
    truth_febrile: bool
    display: Display
    swipe: bool
    """Whether the resident swiped the card (or the kiosk matched them)."""

    @property
    def card_id(self) -> str | None:
        """The card presented, if any."""
        return self.resident.card_id if self.swipe and self.resident is not None else None

    @property
    def person_id(self) -> str | None:
        """The pseudonymous id the system should attach, if the person was identified."""
        return self.resident.person_id if self.swipe and self.resident is not None else None


@dataclass(frozen=True, slots=True)
class _Day:
    """What every passage of a building draws from."""

    population: Population
    residents: tuple[Resident, ...]
    stations: tuple[Station, ...]
    config: ScenarioConfig
    modes: tuple[ArrivalMode, ...]
    mode_p: np.ndarray


def passages(
    population: Population,
    stations: Sequence[Station],
    building: str,
    config: ScenarioConfig | None = None,
    seed: int = 0,
) -> Iterator[Passage]:
    """Passages through a building's stations in simulated-time order, endlessly."""
    config = config or ScenarioConfig()
    if config.start.tzinfo is None:
        raise ValueError("the scenario start must be timezone-aware")
    mine = tuple(s for s in stations if s.building == building)
    entrances = sorted({s.entrance for s in mine if s.target is Target.HANDHELD})
    if not entrances:
        raise ValueError(f"building {building!r} has no handheld station")
    shares = np.array([p for _, p in config.mode_shares], dtype=float)
    day = _Day(
        population=population,
        residents=population.in_building(building),
        stations=mine,
        config=config,
        modes=tuple(m for m, _ in config.mode_shares),
        mode_p=shares / shares.sum(),
    )
    daily = max(1, len(day.residents)) * config.passages_per_resident_day
    per_hour = daily / sum(config.hourly_weights)
    rng = np.random.default_rng(seed)
    slot_start = config.start
    scripted = {v.index: v for v in config.febrile_visits}
    index = 0
    while True:
        slot_end = slot_start.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        hours = (slot_end - slot_start).total_seconds() / 3600
        weight = config.hourly_weights[int(local_hour(slot_start)) % 24]
        count = int(rng.poisson(per_hour * weight * hours))
        for offset in np.sort(rng.uniform(0.0, hours * 3600, size=count)):
            when = slot_start + dt.timedelta(seconds=float(offset))
            entrance = entrances[int(rng.integers(len(entrances)))]
            visit = scripted.get(index)
            if visit is not None and day.residents:
                yield _febrile_visit(day, index, when, entrance, rng, visit=visit)
            else:
                yield _passage(day, index, when, entrance, rng)
            index += 1
        slot_start = slot_end


def _passage(
    day: _Day, index: int, when: dt.datetime, entrance: str, rng: np.random.Generator
) -> Passage:
    config, population = day.config, day.population
    hour = local_hour(when)
    p_in = 0.35 if 6 <= hour < 10 else 0.65 if hour >= 17 or hour < 3 else 0.5
    direction = Direction.IN if rng.random() < p_in else Direction.OUT
    here = [s for s in day.stations if s.entrance == entrance]
    has_kiosk = any(s.target is Target.KIOSK for s in here)
    use_kiosk = has_kiosk and direction is Direction.IN and rng.random() < config.kiosk_share
    target = Target.KIOSK if use_kiosk else Target.HANDHELD
    choices = [s for s in here if s.target is target]
    station = choices[int(rng.integers(len(choices)))]
    resident: Resident | None = None
    body: Body
    if day.residents and rng.random() >= config.visitor_share:
        resident = day.residents[int(rng.integers(len(day.residents)))]
        body = resident.body
        truth = population.truth(resident, when, config.fever_rate, rng)
    else:
        body = draw_body(rng, population.model)
        truth = population.visitor_truth(body, when, config.fever_rate, rng)
    outdoor = config.weather.outdoor_at(hour)
    mode: ArrivalMode | None = None
    if direction is Direction.IN:
        mode = day.modes[int(rng.choice(len(day.modes), p=day.mode_p))]
        span = config.lobby_minutes if use_kiosk else config.door_minutes
    else:
        span = config.leaving_minutes
    minutes = float(rng.uniform(*span))
    if target is Target.KIOSK:
        ambient = config.weather.lobby_c
        display = kiosk_temperature(
            truth.core_c, body, rng, ambient_c=ambient, model=population.model
        )
    else:
        ambient = config.weather.hall_c
        display = displayed_temperature(
            truth.core_c,
            body,
            station.model or HandheldModel("unknown", 0.0),
            rng,
            site=station.site,
            minutes_indoors=minutes,
            outdoor_c=outdoor,
            indoor_c=ambient,
            mode=mode or ArrivalMode.FOOT,
            model=population.model,
        )
    swipe = resident is not None and rng.random() >= config.forget_card_share
    return Passage(
        index=index,
        time=when,
        resident=resident,
        building=station.building,
        entrance=entrance,
        device_id=station.device_id,
        target=target,
        direction=direction,
        mode=mode,
        minutes_indoors=minutes,
        outdoor_c=outdoor,
        ambient_c=ambient,
        truth_core_c=truth.core_c,
        truth_febrile=truth.febrile,
        display=display,
        swipe=swipe,
    )


def _febrile_visit(
    day: _Day,
    index: int,
    when: dt.datetime,
    entrance: str,
    rng: np.random.Generator,
    *,
    visit: FebrileVisit,
) -> Passage:
    """The scripted passage of :class:`FebrileVisit`: leaving after hours indoors, card swiped,
    measured by the entrance's first handheld."""
    resident = day.residents[visit.resident % len(day.residents)]
    station = next(
        s for s in day.stations if s.entrance == entrance and s.target is Target.HANDHELD
    )
    config = day.config
    hour = local_hour(when)
    minutes = 120.0
    outdoor = config.weather.outdoor_at(hour)
    display = displayed_temperature(
        visit.core_c,
        resident.body,
        station.model or HandheldModel("unknown", 0.0),
        rng,
        site=station.site,
        minutes_indoors=minutes,
        outdoor_c=outdoor,
        indoor_c=config.weather.hall_c,
        mode=ArrivalMode.FOOT,
        model=day.population.model,
    )
    return Passage(
        index=index,
        time=when,
        resident=resident,
        building=station.building,
        entrance=entrance,
        device_id=station.device_id,
        target=Target.HANDHELD,
        direction=Direction.OUT,
        mode=None,
        minutes_indoors=minutes,
        outdoor_c=outdoor,
        ambient_c=config.weather.hall_c,
        truth_core_c=visit.core_c,
        truth_febrile=True,
        display=display,
        swipe=True,
    )
