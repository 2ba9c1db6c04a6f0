"""The simulated residents and their bodies respect the published figures (fever-science.md)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
from collections import Counter

import numpy as np
import pytest

from thermogate.contract.messages import ErrorCode, Site
from thermogate.contract.pseudonym import pseudonymous_id
from thermogate.firmware_sim.body import (
    CAMPUS_TZ,
    HANDHELD_MODELS,
    ArrivalMode,
    Body,
    BodyModel,
    Display,
    HandheldModel,
    circadian_offset,
    cold_deficit,
    displayed_temperature,
    healthy_core,
    kiosk_temperature,
)
from thermogate.firmware_sim.population import Population, fever_level
from thermogate.firmware_sim.scenario import (
    Direction,
    ScenarioConfig,
    Station,
    Target,
    Weather,
    passages,
)

KEY = b"test-pseudonym-key"
BUILDINGS = ("wenyuan-2", "wenyuan-3")
EXACT = BodyModel(
    forehead_person_sd_c=0.0,
    forehead_repeat_sd_c=0.0,
    canthus_person_sd_c=0.0,
    canthus_repeat_sd_c=0.0,
    cold_exposure_sd=0.0,
    display_offset_c=0.0,
)
STILL = Body(36.7, 0.0, 0.0)


def _at(hour: float, day: int = 7) -> dt.datetime:
    return dt.datetime(2020, 12, day, tzinfo=CAMPUS_TZ) + dt.timedelta(hours=hour)


@pytest.fixture(scope="module")
def population() -> Population:
    return Population.generate(BUILDINGS, KEY, seed=11)


def test_residents_have_cards_rooms_units_and_pseudonyms_only(population):
    assert len(population) == 480
    cards = [r.card_id for r in population.residents]
    assert len(set(cards)) == len(cards)
    assert all(len(c) == 8 and int(c, 16) >= 0 for c in cards)
    assert all(r.person_id == pseudonymous_id(r.card_id, KEY) for r in population.residents)
    units = {(r.building, r.unit) for r in population.residents}
    assert sorted(u for _, u in units) == list(range(1, 12))  # 11 dorm units, one each
    assert {b for b, _ in units} == set(BUILDINGS)
    assert all(r.room.isdigit() for r in population.residents)
    assert population.by_card(cards[5]) is population.residents[5]
    assert population.by_person_id(population.residents[7].person_id) is population.residents[7]
    rooms = Counter((r.building, r.room) for r in population.residents)
    assert set(rooms.values()) == {2}


def test_same_seed_same_people_other_seed_other_people(population):
    again = Population.generate(BUILDINGS, KEY, seed=11)
    assert again.residents == population.residents
    other = Population.generate(BUILDINGS, KEY, seed=12)
    mine = {r.card_id for r in population.residents}
    assert mine.isdisjoint(r.card_id for r in other.residents)


def test_healthy_core_temperatures_match_the_published_distribution(population):
    rng = np.random.default_rng(1)
    baselines = np.array([r.body.baseline_c for r in population.residents])
    assert 36.65 <= baselines.mean() <= 36.75
    assert 0.16 <= baselines.std() <= 0.24  # between-person SD 0.15-0.26
    hours = rng.uniform(0, 24, size=20_000)
    people = rng.integers(len(population), size=hours.size)
    cores = np.array(
        [
            healthy_core(population.residents[p].body, _at(h), rng)
            for p, h in zip(people, hours, strict=True)
        ]
    )
    assert 36.6 <= cores.mean() <= 36.8  # healthy oral mean 36.6-36.8
    assert 0.31 <= cores.std() <= 0.39  # SD about 0.35


def test_daily_rhythm_is_lowest_near_six_and_highest_late_afternoon():
    hours = np.arange(0, 24, 0.25)
    offsets = [circadian_offset(h) for h in hours]
    assert hours[int(np.argmin(offsets))] == 6.0
    assert 16.0 <= hours[int(np.argmax(offsets))] <= 18.0
    assert max(offsets) - min(offsets) == pytest.approx(0.5)  # 0.5 peak to trough
    assert circadian_offset(23.99) == pytest.approx(circadian_offset(0.0), abs=0.01)


def test_fevers_occur_at_the_configured_rate_in_multi_day_episodes():
    rate = 0.05
    people, days = 300, 60
    levels = np.array(
        [
            [fever_level(person, 737000 + day, rate, seed=3) or 0.0 for day in range(days)]
            for person in range(people)
        ]
    )
    febrile = levels > 0
    assert febrile.mean() == pytest.approx(rate, abs=0.012)
    assert levels[febrile].min() >= 37.8
    assert levels[febrile].max() <= 40.0
    runs = [len(list(group)) for row in febrile for value, group in itertools.groupby(row) if value]
    assert min(runs) >= 1 and np.mean(runs) > 1.8  # episodes last days, not single readings
    assert fever_level(5, 737010, rate, seed=3) == fever_level(5, 737010, rate, seed=3)
    assert all(fever_level(p, 737000, 0.0, seed=3) is None for p in range(100))


def test_default_fever_rate_is_rare(population):
    day = _at(12)
    febrile = sum(
        population.fever_level(r, day + dt.timedelta(days=d), 0.002) is not None
        for r in population.residents
        for d in range(30)
    )
    assert febrile / (len(population) * 30) < 0.006  # 0.01-0.4 % of person-days


def test_cold_arrival_deficit_follows_the_published_fit():
    # -3 °C outside, a 20 °C hall: D0 = 0.15 x 23 = 3.45 °C right at the door.
    assert cold_deficit(0.0, -3.0, 20.0) == pytest.approx(3.45)
    # Dzien 2020: -5.5..0 °C outside, 36.6 settled: 33.2 at 0, 34.9 at 1, 35.8 at 3, 36.1 at 5.
    for minutes, reading in ((0, 33.2), (1, 34.9), (3, 35.8), (5, 36.1), (60, 36.6)):
        assert 36.6 - cold_deficit(minutes, -2.75, 20.0) == pytest.approx(reading, abs=0.15)
    foot = cold_deficit(0.5, -3.0)
    assert cold_deficit(0.5, -3.0, site=Site.WRIST) == pytest.approx(foot / 3)
    assert (
        cold_deficit(0.5, -3.0, mode=ArrivalMode.BIKE)
        > foot
        > cold_deficit(0.5, -3.0, mode=ArrivalMode.CAR)
    )
    assert cold_deficit(0.0, 25.0, 20.0) == 0.0  # warmer outside: no deficit


def test_handheld_display_compresses_fever_and_carries_the_model_bias():
    rng = np.random.default_rng(0)
    neutral = HandheldModel("neutral", 0.0)

    def shown(core: float, device: HandheldModel = neutral, **kw) -> float:
        display = displayed_temperature(core, STILL, device, rng, model=EXACT, indoor_c=22.0, **kw)
        assert display.temp_c is not None
        return display.temp_c

    assert shown(36.7) == 36.7  # calibrated at the healthy mean
    axillary = dataclasses.replace(EXACT, display_offset_c=BodyModel().display_offset_c)
    assert (
        displayed_temperature(36.7, STILL, neutral, rng, model=axillary, indoor_c=22.0).temp_c
        == 36.3
    )  # the default body mode reads axillary-equivalent
    assert shown(38.7) - shown(36.7) == pytest.approx(1.5)  # 2 °C of fever shows as 1.5
    low, high = HANDHELD_MODELS
    assert shown(36.7, high) - shown(36.7, low) == pytest.approx(0.6)
    cold = shown(36.7, outdoor_c=-3.0, minutes_indoors=0.0)
    assert cold == pytest.approx(36.7 - cold_deficit(0.0, -3.0, 22.0), abs=0.05)
    wrist = shown(36.7, outdoor_c=-3.0, minutes_indoors=0.0, site=Site.WRIST)
    assert 36.7 - wrist == pytest.approx((36.7 - cold) / 3, abs=0.05)
    assert shown(36.7, outdoor_c=-3.0, minutes_indoors=60.0) == 36.7


def test_display_shows_lo_and_hi_outside_its_range():
    assert Display.of(31.94) == Display(None, ErrorCode.LO)
    assert Display.of(31.96) == Display(32.0, None)
    assert Display.of(42.94) == Display(42.9, None)
    assert Display.of(42.96) == Display(None, ErrorCode.HI)
    assert Display.of(36.849).text == "36.8"
    assert Display.of(20.0).text == "LO"


def test_kiosk_reads_close_to_core_with_less_noise_than_a_cold_door_handheld():
    rng = np.random.default_rng(4)
    body_rng = np.random.default_rng(5)
    kiosk_err, door_err = [], []
    for _ in range(3000):
        body = Body(36.7, body_rng.normal(0, 0.5), body_rng.normal(0, 0.37))
        core = float(rng.normal(36.9, 0.3))
        kiosk = kiosk_temperature(core, body, rng, ambient_c=22.0)
        door = displayed_temperature(
            core, body, HANDHELD_MODELS[1], rng, minutes_indoors=0.2, outdoor_c=-3.0
        )
        assert kiosk.temp_c is not None
        kiosk_err.append(kiosk.temp_c - core)
        door_err.append((door.temp_c or 32.0) - core)
    # Body mode reads axillary-equivalent: about display_offset_c below the oral core.
    assert abs(np.mean(kiosk_err) - BodyModel().display_offset_c) < 0.1
    assert 0.3 <= np.std(kiosk_err) <= 0.45  # canthus-oral SD 0.37-0.42
    assert np.mean(door_err) < -2.0  # cold skin at the door
    assert np.std(door_err) > np.std(kiosk_err)


def _stations() -> list[Station]:
    return [
        Station(
            "hh-w2-main-1", "wenyuan-2", "main", Target.HANDHELD, Site.FOREHEAD, HANDHELD_MODELS[0]
        ),
        Station(
            "hh-w2-north-1",
            "wenyuan-2",
            "north",
            Target.HANDHELD,
            Site.FOREHEAD,
            HANDHELD_MODELS[1],
        ),
        Station("kiosk-w2-main", "wenyuan-2", "main", Target.KIOSK, Site.CANTHUS),
    ]


def test_passages_are_deterministic_for_a_seed(population):
    def first(seed: int) -> list:
        stream = passages(population, _stations(), "wenyuan-2", seed=seed)
        return list(itertools.islice(stream, 300))

    assert first(9) == first(9)
    assert first(9) != first(10)


def test_a_simulated_day_follows_meals_weather_and_habits(population):
    config = ScenarioConfig(start=_at(0), weather=Weather.winter(evening_c=-3.0), fever_rate=0.05)
    stream = passages(population, _stations(), "wenyuan-2", config, seed=2)
    day = list(itertools.takewhile(lambda p: p.time < _at(24), stream))
    per_hour = Counter(p.time.astimezone(CAMPUS_TZ).hour for p in day)
    assert 700 <= len(day) <= 1200  # 240 residents x 4 passages
    assert per_hour[18] > 3 * per_hour[3]  # dinner peak, quiet night
    assert per_hour[12] > 3 * per_hour[4]
    evening = [p for p in day if p.time.astimezone(CAMPUS_TZ).hour == 19]
    assert all(-3.6 <= p.outdoor_c <= -2.4 for p in evening)
    assert all(p.resident is None or p.resident.building == "wenyuan-2" for p in day)
    assert {p.entrance for p in day} == {"main", "north"}
    kiosk = [p for p in day if p.target is Target.KIOSK]
    assert kiosk and all(p.entrance == "main" and p.direction is Direction.IN for p in kiosk)
    residents = [p for p in day if p.resident is not None]
    forgot = sum(not p.swipe for p in residents) / len(residents)
    assert 0.05 <= forgot <= 0.16
    assert all(not p.swipe and p.card_id is None for p in day if p.resident is None)
    assert 0.02 <= sum(p.truth_febrile for p in day) / len(day) <= 0.09
    assert all(p.truth_core_c >= 37.8 for p in day if p.truth_febrile)
    lo = [p for p in day if p.display.error is ErrorCode.LO]
    assert lo and all(p.direction is Direction.IN for p in lo)  # only cold arrivals read LO


def test_a_fixed_threshold_at_a_cold_door_misses_fevers_the_kiosk_catches(population):
    config = ScenarioConfig(weather=Weather.constant(-3.0), fever_rate=0.3)
    stream = passages(population, _stations(), "wenyuan-2", config, seed=5)
    febrile = [p for p in itertools.islice(stream, 6000) if p.truth_febrile]
    door_in = [p for p in febrile if p.target is Target.HANDHELD and p.direction is Direction.IN]
    kiosk = [p for p in febrile if p.target is Target.KIOSK]

    def caught(group: list) -> float:
        return sum((p.display.temp_c or 0.0) >= 37.3 for p in group) / len(group)

    assert len(door_in) > 50 and len(kiosk) > 50
    assert caught(door_in) < 0.1
    assert caught(kiosk) > 0.75
    assert math.isfinite(caught(febrile))
