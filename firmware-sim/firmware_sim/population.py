"""The residents of the Wenyuan dorms (fictional: a card, a room, a body, no name) and their fevers.

Residents are fixed by a seed: card ids (8 hex digits), building, dorm unit (11 units across
the buildings, one per supervising staff member), room, pseudonymous id and the lasting traits
of their body. Fevers are episodes of 1-5 days at 37.8-40 °C, decided by a pure function of
(seed, card, day, fever rate), so every component that rebuilds the population agrees on who
is febrile when. The physiology and the thermometer models live in :mod:`.body`.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from thermogate.contract.pseudonym import pseudonymous_id
from thermogate.firmware_sim.body import (
    DEFAULT_MODEL,
    ArrivalMode,
    Body,
    BodyModel,
    Display,
    HandheldModel,
    campus_day,
    cold_deficit,
    displayed_temperature,
    draw_body,
    febrile_core,
    healthy_core,
    kiosk_temperature,
)

__all__ = [
    "DEFAULT_FEVER_RATE",
    "DEFAULT_POPULATION_SEED",
    "ArrivalMode",
    "Body",
    "BodyModel",
    "BodyTruth",
    "Display",
    "HandheldModel",
    "Population",
    "Resident",
    "cold_deficit",
    "displayed_temperature",
    "fever_level",
    "kiosk_temperature",
    "onset_probability",
]

DEFAULT_FEVER_RATE: Final = 0.002
"""Share of person-days with fever: 0.01-0.4 % at a dorm door (fever-science.md)."""
DEFAULT_POPULATION_SEED: Final = 2020
DORM_UNITS: Final = 11
RESIDENTS_PER_ROOM: Final = 2
ROOMS_PER_FLOOR: Final = 20
_FEVER_STREAM: Final = 0xF3


@dataclass(frozen=True, slots=True)
class Resident:
    """One resident: identifiers the registry knows, and a body the thermometers see."""

    card_id: str
    person_id: str
    building: str
    unit: int
    """Dorm unit 1-11: the staff member who does the in-room check."""
    room: str
    body: Body

    @property
    def card_number(self) -> int:
        """The card id as a number (seeds the person's fever schedule)."""
        return int(self.card_id, 16)


@dataclass(frozen=True, slots=True)
class BodyTruth:
    """Ground truth of one moment: the core temperature and whether it is a fever."""

    core_c: float
    febrile: bool


def _fever_survival(model: BodyModel) -> list[float]:
    """P(episode lasts more than k days), k = 0..max-1, for durations uniform on min..max."""
    lengths = range(model.fever_days_min, model.fever_days_max + 1)
    return [sum(1 for n in lengths if n > k) / len(lengths) for k in range(model.fever_days_max)]


@functools.lru_cache(maxsize=64)
def onset_probability(fever_rate: float, model: BodyModel = DEFAULT_MODEL) -> float:
    """Daily probability of a fever starting, so that a share ``fever_rate`` of days is febrile."""
    if not 0.0 <= fever_rate <= 1.0:
        raise ValueError(f"fever rate {fever_rate} is not a share 0-1")
    survival = _fever_survival(model)

    def febrile_share(p: float) -> float:
        return 1.0 - math.prod(1.0 - p * s for s in survival)

    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if febrile_share(middle) < fever_rate else (low, middle)
    return (low + high) / 2


def fever_level(
    person: int, day: int, fever_rate: float, seed: int, model: BodyModel = DEFAULT_MODEL
) -> float | None:
    """The day's fever level (°C core) of a person, or None: a pure function of its arguments.

    Each earlier day may start an episode (1-5 days, peak 37.8-40); the level rises and falls
    over the episode as ``min + (peak - min)·sin(π(i + ½)/length)``.
    """
    if fever_rate <= 0.0:
        return None
    p = onset_probability(fever_rate, model)
    for days_ago in range(model.fever_days_max):
        onset = day - days_ago
        rng = np.random.default_rng([seed, person, onset, _FEVER_STREAM])
        if rng.random() >= p:
            continue
        length = int(rng.integers(model.fever_days_min, model.fever_days_max + 1))
        if days_ago >= length:
            continue
        peak = float(rng.uniform(model.fever_min_c, model.fever_max_c))
        shape = math.sin(math.pi * (days_ago + 0.5) / length)
        return model.fever_min_c + (peak - model.fever_min_c) * shape
    return None


class Population:
    """Everyone living in the buildings, fixed by a seed and the pseudonym key."""

    def __init__(
        self,
        residents: Sequence[Resident],
        *,
        seed: int,
        model: BodyModel = DEFAULT_MODEL,
    ) -> None:
        self.residents: tuple[Resident, ...] = tuple(residents)
        self.seed = seed
        self.model = model
        self._by_card = {r.card_id: r for r in self.residents}
        self._by_person = {r.person_id: r for r in self.residents}

    @classmethod
    def generate(
        cls,
        buildings: Sequence[str],
        pseudonym_key: bytes,
        *,
        per_building: int = 240,
        units: int = DORM_UNITS,
        seed: int = DEFAULT_POPULATION_SEED,
        model: BodyModel = DEFAULT_MODEL,
    ) -> Population:
        """Residents of ``buildings``, ``units`` dorm units split across them in order."""
        if not buildings:
            raise ValueError("a population needs at least one building")
        if units < len(buildings):
            raise ValueError(f"{units} dorm units cannot cover {len(buildings)} buildings")
        rng = np.random.default_rng(seed)
        cards = _unique_cards(rng, per_building * len(buildings))
        shares = np.array_split(np.arange(1, units + 1), len(buildings))
        residents: list[Resident] = []
        for b_index, building in enumerate(buildings):
            building_units = [int(u) for u in shares[b_index]]
            for i in range(per_building):
                room_index = i // RESIDENTS_PER_ROOM
                floor, number = divmod(room_index, ROOMS_PER_FLOOR)
                unit = building_units[i * len(building_units) // per_building]
                card = cards[b_index * per_building + i]
                residents.append(
                    Resident(
                        card_id=card,
                        person_id=pseudonymous_id(card, pseudonym_key),
                        building=building,
                        unit=unit,
                        room=f"{floor + 1}{number + 1:02d}",
                        body=draw_body(rng, model),
                    )
                )
        return cls(residents, seed=seed, model=model)

    def in_building(self, building: str) -> tuple[Resident, ...]:
        """The residents of one building."""
        return tuple(r for r in self.residents if r.building == building)

    def by_card(self, card_id: str) -> Resident | None:
        """The resident holding a card, if any."""
        return self._by_card.get(card_id.strip().upper())

    def by_person_id(self, person_id: str) -> Resident | None:
        """The resident behind a pseudonymous id (the simulator knows; the system must not)."""
        return self._by_person.get(person_id)

    def fever_level(self, resident: Resident, when: dt.datetime, fever_rate: float) -> float | None:
        """The resident's fever level on the campus day of ``when``, or None."""
        day = campus_day(when)
        return fever_level(resident.card_number, day, fever_rate, self.seed, self.model)

    def truth(
        self,
        resident: Resident,
        when: dt.datetime,
        fever_rate: float,
        rng: np.random.Generator,
    ) -> BodyTruth:
        """The resident's core temperature at ``when`` and whether it is a fever."""
        level = self.fever_level(resident, when, fever_rate)
        if level is None:
            return BodyTruth(healthy_core(resident.body, when, rng, self.model), False)
        return BodyTruth(febrile_core(level, when, rng, self.model), True)

    def visitor_truth(
        self, body: Body, when: dt.datetime, fever_rate: float, rng: np.random.Generator
    ) -> BodyTruth:
        """Ground truth for a stranger: febrile with probability ``fever_rate``."""
        if rng.random() < fever_rate:
            level = float(rng.uniform(self.model.fever_min_c, self.model.fever_max_c))
            return BodyTruth(febrile_core(level, when, rng, self.model), True)
        return BodyTruth(healthy_core(body, when, rng, self.model), False)

    def __len__(self) -> int:
        return len(self.residents)


def _unique_cards(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct 8-hex-digit card ids."""
    seen: set[str] = set()
    cards: list[str] = []
    while len(cards) < count:
        card = f"{int(rng.integers(0x10000000, 0x100000000)):08X}"
        if card not in seen:
            seen.add(card)
            cards.append(card)
    return cards
