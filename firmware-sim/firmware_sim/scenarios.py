"""Named screening scenarios for Wenyuan Building 2 and 3, written as replay CSVs with truth.

Each scenario is a run of evenings (:mod:`.evening`) over N days, deterministic for a seed:

- ``winter``: a winter week of evenings, about -3 °C at 19:00, some nights 5 °C colder;
- ``kiosk_drift``: the same week, but Building 2's lobby kiosk drifts up 0.1 °C a day;
- ``mild``: a mild season, 15-22 °C outside in the evening, door halls at 22 °C;
- ``epidemic``: the winter week with fever episodes on 3 % of person-days.

Every scenario uses the same devices: two door handhelds per building (models TG-100, bias
-0.5, and TG-200, +0.1: Sullivan 2021's range), a canthus kiosk in each lobby with its ambient
sensor, and one handheld per dorm unit for the evening in-room check. Fevers come at the
default rate (0.2 % of person-days) plus a few seeded febrile residents (0.5 % of residents,
at least 3, each one episode of 1-5 days), so every scenario has enough ill people. An evening
(:mod:`.evening`): residents come home 17:00-22:00 (on foot 70 %, by bicycle 25 %, by car
5 %), most measured at the door seconds after coming in, 30 % by the lobby kiosk 1-4 minutes
later; 90 % swipe their card; 3 % of arrivals are visitors. Each unit's staff check every
resident in the room 21:00-23:00, at least 10 minutes after they came in. Any reading showing
37.3 °C or more is re-checked with a handheld 10-15 minutes later.

The random streams are separate (weather, seeded fevers, the evening, the re-checks), so for
one seed ``winter`` and ``kiosk_drift`` hold the same people, arrivals and readings except the
drifting kiosk's values and the re-checks they cause.

The CSV has the replay input contract's columns, then :data:`PASSTHROUGH_COLUMNS`. Truth:
``truth_febrile`` is 1 when the person's true oral-equivalent core (``truth_core_c``, as
written to 0.01 °C) is at or above 37.5 °C at that moment; ``truth_episode`` is 1 when the
person has a fever episode (an illness) that day. ``oracle_c`` is what an oracle would
compute: the reading on the oral-equivalent scale with every hidden bias (device model, kiosk
drift, the person's skin offset), the cold deficit, the room's effect and the display offset
removed, only the per-reading error left; for LO/HI readings too.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np

from thermogate.contract.messages import DeviceKind, Placement, Site
from thermogate.firmware_sim.body import CAMPUS_TZ, HANDHELD_MODELS, BodyModel
from thermogate.firmware_sim.evening import Building, Device, Evening, Night, Row
from thermogate.firmware_sim.fda import REPLAY_COLUMNS
from thermogate.firmware_sim.population import DEFAULT_FEVER_RATE, Population, Resident
from thermogate.firmware_sim.population import fever_level as scheduled_fever
from thermogate.firmware_sim.scenario import ScenarioConfig, Weather

__all__ = [
    "BUILDINGS",
    "COLUMNS",
    "PASSTHROUGH_COLUMNS",
    "SCENARIOS",
    "Scenario",
    "ScenarioRun",
    "run_scenario",
    "scenario_counts",
    "scenario_rows",
    "write_scenario_csv",
]

BUILDINGS: Final = ("wenyuan-2", "wenyuan-3")
ENTRANCE: Final = "main"
PSEUDONYM_KEY: Final = b"thermogate-scenarios"
PASSTHROUGH_COLUMNS: Final = (
    "scenario",
    "truth_febrile",
    "truth_core_c",
    "truth_episode",
    "oracle_c",
    "arrival_mode",
    "minutes_indoors",
    "outdoor_c",
    "handheld_model",
    "recheck_of",
)
"""Extra columns after the contract's: see the module docstring. ``arrival_mode`` is empty
for a resident who stayed in; ``outdoor_c`` is the temperature when the person came in;
``recheck_of`` is empty for a screening reading and, for the staff's re-check 10-15 minutes
after a reading that showed 37.3 °C or more, the placement of that reading."""
COLUMNS: Final = (*REPLAY_COLUMNS, *PASSTHROUGH_COLUMNS)
SEEDED_SHARE: Final = 0.005
SEEDED_MIN: Final = 3
COLD_NIGHT_SHARE: Final = 0.25
COLD_NIGHT_EXTRA_C: Final = -5.0
_WEATHER_STREAM: Final = 0x3E
_SEEDED_STREAM: Final = 0x5E
_EVENING_STREAM: Final = 0xE7
_RECHECK_STREAM: Final = 0x2C


@dataclass(frozen=True, slots=True)
class Scenario:
    """The knobs of a named scenario."""

    name: str
    description: str
    season: Literal["winter", "mild"]
    first_night: dt.date
    fever_rate: float = DEFAULT_FEVER_RATE
    kiosk_drift_c_per_day: float = 0.0
    """Drift of Building 2's lobby kiosk (``ks-w2-lobby-1``)."""
    drifting_kiosk: str = "ks-w2-lobby-1"


SCENARIOS: Final[Mapping[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario(
            "winter",
            "winter week of evenings, -3 °C typical, colder some nights",
            "winter",
            dt.date(2020, 12, 7),
        ),
        Scenario(
            "kiosk_drift",
            "the winter week; Building 2's lobby kiosk drifts up 0.1 °C a day",
            "winter",
            dt.date(2020, 12, 7),
            kiosk_drift_c_per_day=0.1,
        ),
        Scenario("mild", "mild season, 15-22 °C outside", "mild", dt.date(2020, 10, 12)),
        Scenario(
            "epidemic",
            "the winter week with fevers on 3 % of person-days",
            "winter",
            dt.date(2020, 12, 7),
            fever_rate=0.03,
        ),
    )
}


def nights(scenario: Scenario, days: int, seed: int) -> list[Night]:
    """The evenings' weather: per night a 19:00 temperature on a clear-day shape.

    Winter: -3 °C ± 1 at 19:00, a quarter of the nights 5 °C colder; halls 20 °C. Mild: 17.5 to
    19.5 °C at 19:00 (about 15-21 over the evening); halls 22 °C. Lobbies 22 ± 0.5 °C.
    """
    rng = np.random.default_rng([seed, _WEATHER_STREAM])
    result: list[Night] = []
    for index in range(days):
        lobby = 22.0 + float(rng.normal(0.0, 0.5))
        if scenario.season == "winter":
            cold = rng.random() < COLD_NIGHT_SHARE
            evening = -3.0 + float(rng.normal(0.0, 1.0)) + (COLD_NIGHT_EXTRA_C if cold else 0.0)
            weather = Weather.winter(evening, hall_c=20.0, lobby_c=lobby)
        else:
            evening = float(rng.uniform(17.5, 19.5))
            weather = Weather.winter(evening, hall_c=22.0, lobby_c=lobby)  # the same day shape
        date = scenario.first_night + dt.timedelta(days=index)
        result.append(Night(index, date, weather))
    return result


def _handheld(device_id: str, building: str, model: int, placement: Placement) -> Device:
    """A forehead handheld of model ``model`` (cycling through the two models)."""
    return Device(
        device_id,
        building,
        DeviceKind.HANDHELD,
        Site.FOREHEAD,
        placement,
        HANDHELD_MODELS[model % len(HANDHELD_MODELS)],
    )


def buildings(population: Population, scenario: Scenario) -> list[Building]:
    """Each building's door handhelds (one per model), lobby kiosk and unit handhelds."""
    result: list[Building] = []
    for building in BUILDINGS:
        tag = "w" + building.rsplit("-", 1)[-1]
        door = tuple(
            _handheld(f"hh-{tag}-{ENTRANCE}-{i + 1}", building, i, Placement.DOOR)
            for i in range(len(HANDHELD_MODELS))
        )
        kiosk_id = f"ks-{tag}-lobby-1"
        drift = scenario.kiosk_drift_c_per_day if kiosk_id == scenario.drifting_kiosk else 0.0
        kiosk = Device(
            kiosk_id, building, DeviceKind.KIOSK, Site.CANTHUS, Placement.LOBBY, None, drift
        )
        units = sorted({r.unit for r in population.in_building(building)})
        rooms = {
            u: _handheld(f"hh-{tag}-unit-{u:02d}", building, u - 1, Placement.ROOM) for u in units
        }
        result.append(Building(building, door, kiosk, rooms))
    return result


def seeded_fevers(population: Population, days: int, seed: int) -> dict[tuple[str, int], float]:
    """Fever levels (°C core) of the seeded febrile residents, by (card, day index).

    0.5 % of residents (at least 3), each one episode of 1-5 days starting on a random day,
    peak 37.8-40 °C, shaped like the scheduled fevers (:func:`.population.fever_level`).
    """
    model = population.model
    rng = np.random.default_rng([seed, _SEEDED_STREAM])
    count = min(len(population), max(SEEDED_MIN, round(SEEDED_SHARE * len(population))))
    chosen = rng.choice(len(population), size=count, replace=False)
    levels: dict[tuple[str, int], float] = {}
    for index in sorted(int(i) for i in chosen):
        card = population.residents[index].card_id
        start = int(rng.integers(days))
        length = int(rng.integers(model.fever_days_min, model.fever_days_max + 1))
        peak = float(rng.uniform(model.fever_min_c, model.fever_max_c))
        for i in range(length):
            shape = math.sin(math.pi * (i + 0.5) / length)
            levels[(card, start + i)] = model.fever_min_c + (peak - model.fever_min_c) * shape
    return levels


def _fever_schedule(
    population: Population,
    scenario: Scenario,
    nights_: list[Night],
    seeded: Mapping[tuple[str, int], float],
) -> Callable[[Resident, int], float | None]:
    """A resident's fever level on a day: the scheduled one or a seeded one, the higher."""
    seed = population.seed
    cache: dict[tuple[str, int], float | None] = {}
    model: BodyModel = population.model

    def level(resident: Resident, day: int) -> float | None:
        key = (resident.card_id, day)
        if key not in cache:
            ordinal = nights_[day].date.toordinal()
            levels = [
                v
                for v in (
                    scheduled_fever(
                        resident.card_number, ordinal, scenario.fever_rate, seed, model
                    ),
                    seeded.get(key),
                )
                if v is not None
            ]
            cache[key] = max(levels) if levels else None
        return cache[key]

    return level


@dataclass(frozen=True, slots=True)
class ScenarioRun:
    """A simulated scenario: its readings in time order, and who was seeded febrile."""

    name: str
    rows: list[Row]
    population: Population
    seeded: dict[tuple[str, int], float]
    """Seeded fever levels by (card, day index)."""


def run_scenario(
    name: str, *, days: int = 7, seed: int = 2020, residents_per_building: int = 240
) -> ScenarioRun:
    """Simulate a named scenario: ``days`` evenings of both buildings."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    if days < 1 or residents_per_building < 1:
        raise ValueError("a scenario needs at least one day and one resident per building")
    scenario = SCENARIOS[name]
    population = Population.generate(
        BUILDINGS, PSEUDONYM_KEY, per_building=residents_per_building, seed=seed
    )
    evenings = nights(scenario, days, seed)
    seeded = seeded_fevers(population, days, seed)
    evening = Evening(
        population,
        ScenarioConfig(fever_rate=scenario.fever_rate),
        _fever_schedule(population, scenario, evenings, seeded),
        dt.datetime.combine(scenario.first_night, dt.time(17), tzinfo=CAMPUS_TZ),
        seed,
        np.random.default_rng([seed, _EVENING_STREAM]),
        np.random.default_rng([seed, _RECHECK_STREAM]),
    )
    rows: list[Row] = []
    sites = buildings(population, scenario)
    for night in evenings:
        for building in sites:
            rows.extend(evening.rows(building, population.in_building(building.id), night))
    rows.sort(key=lambda r: (r.when, r.device.id))
    return ScenarioRun(name, rows, population, seeded)


def scenario_rows(
    name: str, *, days: int = 7, seed: int = 2020, residents_per_building: int = 240
) -> list[Row]:
    """Every reading of a named scenario, in time order."""
    return run_scenario(
        name, days=days, seed=seed, residents_per_building=residents_per_building
    ).rows


def row_fields(row: Row, scenario: str) -> list[str]:
    """One CSV record in :data:`COLUMNS` order."""
    display = row.measured.display
    return [
        row.when.isoformat(timespec="milliseconds"),
        row.building,
        ENTRANCE,
        row.device.id,
        row.device.kind.value,
        row.device.site.value,
        row.device.placement.value,
        row.person_id or "",
        "" if display.temp_c is None else f"{display.temp_c:.1f}",
        "" if display.error is None else display.error.value,
        "" if row.ambient_c is None else f"{row.ambient_c:.1f}",
        scenario,
        "1" if row.febrile else "0",
        f"{row.core_c:.2f}",
        "1" if row.episode else "0",
        f"{row.measured.oracle_c:.2f}",
        "" if row.mode is None else row.mode.value,
        f"{row.minutes_indoors:.2f}",
        f"{row.outdoor_c:.1f}",
        "" if row.device.handheld is None else row.device.handheld.name,
        "" if row.recheck_of is None else row.recheck_of.value,
    ]


def write_scenario_csv(
    name: str,
    path: Path,
    *,
    days: int = 7,
    seed: int = 2020,
    residents_per_building: int = 240,
) -> dict[str, int]:
    """Write a named scenario as a replay CSV; returns its counts.

    ``readings``; ``persons`` (distinct people measured: residents and visitors);
    ``visitors``; ``febrile_readings``; ``febrile_person_days`` (resident-days with a reading
    at a core of 37.5 °C or more); ``episode_person_days`` (resident-days in a fever episode);
    ``seeded_residents``.
    """
    run = run_scenario(name, days=days, seed=seed, residents_per_building=residents_per_building)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(row_fields(row, name) for row in run.rows)
    return scenario_counts(run)


def scenario_counts(run: ScenarioRun) -> dict[str, int]:
    """The counts :func:`write_scenario_csv` returns."""
    rows = run.rows
    residents = {r.card_id for r in rows if r.card_id is not None}
    visitors = sum(1 for r in rows if r.card_id is None and r.recheck_of is None)
    return {
        "readings": len(rows),
        "persons": len(residents) + visitors,
        "visitors": visitors,
        "febrile_readings": sum(1 for r in rows if r.febrile),
        "febrile_person_days": len(
            {(r.card_id, r.when.date()) for r in rows if r.febrile and r.card_id is not None}
        ),
        "episode_person_days": len(
            {(r.card_id, r.when.date()) for r in rows if r.episode and r.card_id is not None}
        ),
        "seeded_residents": len({card for card, _ in run.seeded}),
    }
