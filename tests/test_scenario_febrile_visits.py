"""Scripted febrile visits (the demo's early fever): the chosen resident, at the chosen
passages, febrile, swiping, at the door's handheld; the rest of the stream unchanged in kind."""

from __future__ import annotations

from pathlib import Path

from thermogate.config import Settings
from thermogate.contract.messages import Site
from thermogate.demo.site import demo_document
from thermogate.firmware_sim.body import handheld_model_for
from thermogate.firmware_sim.runner import default_population
from thermogate.firmware_sim.scenario import (
    FebrileVisit,
    ScenarioConfig,
    Station,
    Target,
    Weather,
    passages,
)

STATIONS = [
    Station(
        "hh-w2-main-1",
        "wenyuan-2",
        "main",
        Target.HANDHELD,
        Site.FOREHEAD,
        handheld_model_for("hh-w2-main-1"),
    ),
    Station("ks-w2-lobby-1", "wenyuan-2", "main", Target.KIOSK, Site.CANTHUS),
]


def test_scripted_visits_bring_the_febrile_resident_to_the_handheld(tmp_path: Path) -> None:
    settings = Settings.model_validate(demo_document(tmp_path, tmp_path / "dev"))
    population = default_population(settings)
    resident = population.in_building("wenyuan-2")[3]
    config = ScenarioConfig(
        weather=Weather.constant(8.0),
        fever_rate=0.0,
        febrile_visits=(FebrileVisit(index=2, resident=3), FebrileVisit(index=7, resident=3)),
    )
    stream = passages(population, STATIONS, "wenyuan-2", config, seed=5)
    first = [next(stream) for _ in range(12)]
    scripted = [p for p in first if p.index in (2, 7)]
    assert [p.resident for p in scripted] == [resident, resident]
    for passage in scripted:
        assert passage.truth_febrile and passage.truth_core_c == 39.3
        assert passage.swipe and passage.person_id == resident.person_id
        assert passage.target is Target.HANDHELD and passage.device_id == "hh-w2-main-1"
        assert passage.display.temp_c is not None and passage.display.temp_c >= 37.3
    assert not any(p.truth_febrile for p in first if p.index not in (2, 7))
