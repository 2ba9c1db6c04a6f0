"""One evening at a Wenyuan building's doors, lobby and rooms, with every reading's truth.

Residents come home between 17:00 and 22:00 on foot, by bicycle or by car and are measured
seconds after the door by a handheld (or, for some, a minute or more later by the lobby
kiosk); visitors come too. Between 21:00 and 23:00 each unit's staff checks every resident in
their room with a handheld, at least 10 minutes after they last came in. A reading that shows
37.3 °C or more is re-checked 10-15 minutes later with a handheld (the screening protocol).
Each reading carries what the device showed and what was hidden from it: the true core,
whether the person has a fever episode, and the oracle value (:mod:`.measure`). A person's
core keeps its day-to-day deviation for the whole evening (only the daily rhythm moves it), so
a re-check sees the same person, not a fresh draw. The physics are :mod:`.body`'s.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from thermogate.contract.messages import DeviceKind, Placement, Site
from thermogate.firmware_sim.body import (
    CAMPUS_TZ,
    ArrivalMode,
    Body,
    HandheldModel,
    draw_body,
    febrile_core,
    healthy_core,
)
from thermogate.firmware_sim.measure import Measured, measure_handheld, measure_kiosk
from thermogate.firmware_sim.population import Population, Resident
from thermogate.firmware_sim.scenario import DEFAULT_HOURLY_WEIGHTS, ScenarioConfig, Weather

FEVER_TRUTH_C: Final = 37.5
"""Truth: a reading's person is febrile when their true oral-equivalent core is at or above
37.5 °C at that moment (the FDA study's "elevated", as in docs/detection.md)."""
ARRIVAL_HOURS: Final = (17, 22)
"""Residents come home from 17:00 to 22:00, weighted by the campus's hourly arrivals."""
ARRIVALS_PER_EVENING: Final = 1.3
"""Mean arrivals from outdoors per resident and evening (Poisson; about 27 % stay in)."""
ROOM_CHECK_HOURS: Final = (21.0, 23.0)
ROOM_CHECK_MIN_INDOORS: Final = (10.0, 20.0)
"""The staff come at least 10 minutes (10-20) after a resident's last arrival (guidance)."""
STAYED_IN_MINUTES: Final = 240.0
"""Minutes indoors recorded for a resident who did not go out that evening."""
RECHECK_DISPLAY_C: Final = 37.3
RECHECK_MINUTES: Final = (10.0, 15.0)
"""A reading showing 37.3 °C or more is re-checked 10-15 minutes later (the screening
protocol: rest indoors, then measure again; fever-science.md)."""
AMBIENT_SENSOR_SD_C: Final = 0.2
_TRUTH_STREAM: Final = 0x7C


@dataclass(frozen=True, slots=True)
class Device:
    """A thermometer of a scenario: where it stands and what hides in its readings."""

    id: str
    building: str
    kind: DeviceKind
    site: Site
    placement: Placement
    handheld: HandheldModel | None = None
    """The handheld model (its mean bias); None for a kiosk."""
    drift_per_day_c: float = 0.0
    """Upward drift of the displayed value per day since the scenario began (a kiosk fault)."""


@dataclass(frozen=True, slots=True)
class Night:
    """The conditions of one evening."""

    index: int
    """Days since the scenario began (0-based)."""
    date: dt.date
    weather: Weather
    room_c: float = 22.0
    """Temperature of the rooms (20-24 °C guidance; the displays read true at 22)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One reading with its conditions and its ground truth."""

    when: dt.datetime
    building: str
    device: Device
    card_id: str | None
    """The resident's card (simulation truth, never written); None for a visitor."""
    person_id: str | None
    ambient_c: float | None
    """What the device's ambient sensor reported (kiosks), else None."""
    measured: Measured
    core_c: float
    episode: bool
    """The person has a fever episode (an illness) that day."""
    mode: ArrivalMode | None
    minutes_indoors: float
    outdoor_c: float
    """Outdoor temperature when the person last came in (what cooled the skin)."""
    recheck_of: Placement | None = None
    """For the staff's re-check of an earlier reading that showed 37.3 °C or more: the
    placement of that reading; None for a screening reading."""

    @property
    def febrile(self) -> bool:
        """The truth: core (to the 0.01 °C written) at or above :data:`FEVER_TRUTH_C`."""
        return round(self.core_c, 2) >= FEVER_TRUTH_C - 1e-9


@dataclass(frozen=True, slots=True)
class Building:
    """One building's devices: door handhelds, its lobby kiosk, its units' room handhelds."""

    id: str
    door: tuple[Device, ...]
    kiosk: Device
    rooms: dict[int, Device]
    """The room-check handheld of each dorm unit."""


@dataclass
class Evening:
    """What every evening of every building draws from; :meth:`rows` simulates one."""

    population: Population
    config: ScenarioConfig
    fever_level: Callable[[Resident, int], float | None]
    """A resident's fever level (°C core) on a day index, or None."""
    start: dt.datetime
    """When the scenario's first evening begins (drift is counted from it)."""
    seed: int
    rng: np.random.Generator
    recheck_rng: np.random.Generator
    """Draws of the re-checks only, so whether a reading is re-checked (a kiosk drifting, say)
    leaves every other draw of the scenario as it was."""
    _scratch: np.random.Generator = field(init=False)
    _days: dict[tuple[str, int], Mapping[str, Any]] = field(init=False, default_factory=dict)
    """Initial generator state of each person-day's truth draws."""
    _hour_cdf: list[float] = field(init=False)
    _mode_cdf: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self._scratch = np.random.Generator(type(self.rng.bit_generator)(0))
        first, end = ARRIVAL_HOURS
        self._hour_cdf = _cdf(DEFAULT_HOURLY_WEIGHTS[first:end])
        self._mode_cdf = _cdf([p for _, p in self.config.mode_shares])

    def rows(self, building: Building, residents: Sequence[Resident], night: Night) -> list[Row]:
        """The evening's readings of ``building`` (unordered)."""
        rows: list[Row] = []
        arrivals = 0
        for resident in residents:
            count = int(self.rng.poisson(ARRIVALS_PER_EVENING))
            last: Row | None = None
            for when in sorted(self._arrival_time(night) for _ in range(count)):
                last = self._arrival(building, night, when, resident, resident.body)
                rows.extend(self._with_recheck(building, night, last, resident, resident.body))
            arrivals += count
            room = self._room_check(building, night, resident, last)
            rows.extend(self._with_recheck(building, night, room, resident, resident.body))
        share = self.config.visitor_share
        for _ in range(int(self.rng.poisson(arrivals * share / (1.0 - share)))):
            body = draw_body(self.rng, self.population.model)
            row = self._arrival(building, night, self._arrival_time(night), None, body)
            rows.extend(self._with_recheck(building, night, row, None, body))
        return rows

    def _arrival_time(self, night: Night) -> dt.datetime:
        hour = ARRIVAL_HOURS[0] + bisect.bisect_right(self._hour_cdf, float(self.rng.random()))
        return _at(night, hour + float(self.rng.random()))

    def _truth(self, resident: Resident, when: dt.datetime, night: Night) -> tuple[float, bool]:
        """Core and episode; the within-person deviation is fixed for the evening."""
        level = self.fever_level(resident, night.index)
        key = (resident.card_id, night.index)
        if key not in self._days:
            self._days[key] = np.random.default_rng(
                [self.seed, resident.card_number, night.date.toordinal(), _TRUTH_STREAM]
            ).bit_generator.state
        rng = self._scratch
        rng.bit_generator.state = self._days[key]
        model = self.population.model
        if level is None:
            return healthy_core(resident.body, when, rng, model), False
        return febrile_core(level, when, rng, model), True

    def _handheld(
        self,
        device: Device,
        core_c: float,
        body: Body,
        *,
        minutes: float,
        outdoor_c: float,
        indoor_c: float,
        mode: ArrivalMode | None,
        rng: np.random.Generator | None = None,
    ) -> Measured:
        assert device.handheld is not None
        return measure_handheld(
            core_c,
            body,
            device.handheld,
            self.rng if rng is None else rng,
            minutes_indoors=minutes,
            outdoor_c=outdoor_c,
            indoor_c=indoor_c,
            mode=mode or ArrivalMode.FOOT,
            model=self.population.model,
            scratch=self._scratch,
        )

    def _arrival(
        self,
        building: Building,
        night: Night,
        when: dt.datetime,
        resident: Resident | None,
        body: Body,
    ) -> Row:
        """A person coming in, measured at the door by a handheld or in the lobby by the kiosk."""
        rng, config = self.rng, self.config
        mode = config.mode_shares[bisect.bisect_right(self._mode_cdf, float(rng.random()))][0]
        if resident is None:
            truth = self.population.visitor_truth(body, when, config.fever_rate, rng)
            core, episode = truth.core_c, truth.febrile
        else:
            core, episode = self._truth(resident, when, night)
        outdoor = night.weather.outdoor_at(when.hour + when.minute / 60)
        ambient: float | None = None
        if rng.random() < config.kiosk_share:
            device = building.kiosk
            minutes = float(rng.uniform(*config.lobby_minutes))
            lobby = night.weather.lobby_c
            drift = device.drift_per_day_c * (when - self.start) / dt.timedelta(days=1)
            measured = measure_kiosk(
                core,
                body,
                rng,
                ambient_c=lobby,
                drift_c=drift,
                model=self.population.model,
                scratch=self._scratch,
            )
            ambient = round(lobby + float(rng.normal(0.0, AMBIENT_SENSOR_SD_C)), 1)
        else:
            device = building.door[int(rng.integers(len(building.door)))]
            minutes = float(rng.uniform(*config.door_minutes))
            measured = self._handheld(
                device,
                core,
                body,
                minutes=minutes,
                outdoor_c=outdoor,
                indoor_c=night.weather.hall_c,
                mode=mode,
            )
        swiped = resident is not None and rng.random() >= config.forget_card_share
        return Row(
            when=when + dt.timedelta(minutes=minutes),
            building=building.id,
            device=device,
            card_id=None if resident is None else resident.card_id,
            person_id=resident.person_id if swiped and resident is not None else None,
            ambient_c=ambient,
            measured=measured,
            core_c=core,
            episode=episode,
            mode=mode,
            minutes_indoors=minutes,
            outdoor_c=outdoor,
        )

    def _room_check(
        self, building: Building, night: Night, resident: Resident, last: Row | None
    ) -> Row:
        """The unit's staff measure the resident in the room, identified, settled indoors."""
        when = _at(night, float(self.rng.uniform(*ROOM_CHECK_HOURS)))
        if last is None:
            minutes = STAYED_IN_MINUTES
            outdoor = night.weather.outdoor_at(when.hour + when.minute / 60)
        else:
            came = last.when - dt.timedelta(minutes=last.minutes_indoors)
            settle = dt.timedelta(minutes=float(self.rng.uniform(*ROOM_CHECK_MIN_INDOORS)))
            when = max(when, came + settle)
            minutes, outdoor = (when - came) / dt.timedelta(minutes=1), last.outdoor_c
        core, episode = self._truth(resident, when, night)
        device = building.rooms[resident.unit]
        mode = None if last is None else last.mode
        return Row(
            when=when,
            building=building.id,
            device=device,
            card_id=resident.card_id,
            person_id=resident.person_id,
            ambient_c=None,
            measured=self._handheld(
                device,
                core,
                resident.body,
                minutes=minutes,
                outdoor_c=outdoor,
                indoor_c=night.room_c,
                mode=mode,
            ),
            core_c=core,
            episode=episode,
            mode=mode,
            minutes_indoors=minutes,
            outdoor_c=outdoor,
        )

    def _with_recheck(
        self, building: Building, night: Night, row: Row, resident: Resident | None, body: Body
    ) -> list[Row]:
        """The row, and the staff's re-check 10-15 minutes later if it showed 37.3 or more.

        Door and lobby readings are re-checked by a door handheld in the hall, room readings
        by the unit's handheld in the room; a resident is identified at the re-check.
        """
        shown = row.measured.display.temp_c
        if shown is None or shown < RECHECK_DISPLAY_C - 1e-9:
            return [row]
        rng = self.recheck_rng
        wait = float(rng.uniform(*RECHECK_MINUTES))
        when = row.when + dt.timedelta(minutes=wait)
        if row.device.placement is Placement.ROOM:
            device, indoor = row.device, night.room_c
        else:
            device = building.door[int(rng.integers(len(building.door)))]
            indoor = night.weather.hall_c
        if resident is None:
            core, episode = row.core_c, row.episode
        else:
            core, episode = self._truth(resident, when, night)
        minutes = row.minutes_indoors + wait
        measured = self._handheld(
            device,
            core,
            body,
            minutes=minutes,
            outdoor_c=row.outdoor_c,
            indoor_c=indoor,
            mode=row.mode,
            rng=rng,
        )
        recheck = dataclasses.replace(
            row,
            when=when,
            device=device,
            person_id=row.person_id if resident is None else resident.person_id,
            ambient_c=None,
            measured=measured,
            core_c=core,
            episode=episode,
            minutes_indoors=minutes,
            recheck_of=row.device.placement,
        )
        return [row, recheck]


def _cdf(weights: Sequence[float]) -> list[float]:
    """Cumulative shares of ``weights`` without the final 1 (for :func:`bisect.bisect_right`)."""
    total = float(sum(weights))
    return list(itertools.accumulate(w / total for w in weights))[:-1]


def _at(night: Night, hour: float) -> dt.datetime:
    """The moment ``hour`` (fractional, local) of the night's date, to the millisecond."""
    base = dt.datetime.combine(night.date, dt.time(), tzinfo=CAMPUS_TZ)
    return base + dt.timedelta(milliseconds=round(hour * 3_600_000))
