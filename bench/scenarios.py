"""The named scenarios through the engine: how the naive rule, the engine and an oracle do.

python bench/scenarios.py [--days 7] [--residents 2000] [--seed 2020] [--scenario NAME]...
                          [--keep DIR]

For each scenario (firmware_sim.scenarios: winter, kiosk_drift, mild, epidemic) the CSV is
written to a temporary folder (or DIR), replayed through the engine exactly as
``thermogate replay`` does (default settings), and the decided rows are scored against the
truth. Printed per reading and per person-day, for all readings and per placement, device
kind and handheld model: sensitivity, specificity and alarms per 1,000 of

- naive: any displayed value >= 37.3 °C (an error code is not an alarm);
- engine fever: decision ``fever``; engine flagged: ``recheck`` or ``fever``;
- oracle: ``oracle_c`` (the reading with every hidden bias removed) at the threshold that gives
  the engine's overall person-day specificity, for fever and for flagged.

Truth is ``truth_febrile`` (core >= 37.5 °C at that moment); a last table scores person-days
against fever episodes (``truth_episode``: an illness) with the same rules and thresholds.
Placements are where the screening happened: the staff's re-check of a reading counts with
that reading (a door handheld re-checks a lobby kiosk's alarm: lobby). Then the re-check
burden and the invalid readings: ``recheck`` / ``invalid`` decisions per 1,000 readings per
placement.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from thermogate.config import Settings, load_settings
from thermogate.firmware_sim.fda import threshold_for_specificity
from thermogate.firmware_sim.scenarios import SCENARIOS, write_scenario_csv
from thermogate.replay import replay
from thermogate.replay.metrics import Confusion, codes_of, confusion, person_day_groups, person_days

NAIVE_C = 37.3
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Decided:
    """The replay's output as columns."""

    placement: npt.NDArray[np.str_]
    """Where the screening happened: a re-check counts with the reading it re-checks."""
    kind: npt.NDArray[np.str_]
    model: npt.NDArray[np.str_]
    """The handheld model (empty for a kiosk)."""
    person: npt.NDArray[np.int64]
    """Integer code per person, -1 without one."""
    day: npt.NDArray[np.int64]
    temp_c: Floats
    oracle_c: Floats
    febrile: Bools
    episode: Bools
    decision: npt.NDArray[np.str_]


def load_decided(path: Path) -> Decided:
    """Read the columns the scoring needs from ``thermogate replay``'s output."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))

    def column(name: str) -> list[str]:
        return [row[name] for row in rows]

    person, _ = codes_of(column("person_id"))
    day, _ = codes_of([ts[:10] for ts in column("ts")])  # the local date (RFC 3339 prefix)
    temp = np.array([float(v) if v else np.nan for v in column("temp_c")])
    placement = [o or p for o, p in zip(column("recheck_of"), column("placement"), strict=True)]
    return Decided(
        placement=np.array(placement),
        kind=np.array(column("device_kind")),
        model=np.array(column("handheld_model")),
        person=person,
        day=day,
        temp_c=temp,
        oracle_c=np.array([float(v) for v in column("oracle_c")]),
        febrile=np.array(column("truth_febrile")) == "1",
        episode=np.array(column("truth_episode")) == "1",
        decision=np.array(column("decision")),
    )


def person_day_confusion(d: Decided, mask: Bools, positive: Bools, truth: Bools) -> Confusion:
    """Person-days among the ``mask`` rows: febrile / positive when any reading is."""
    group, groups = person_day_groups(d.person[mask], d.day[mask])
    return person_days(group, groups, positive[mask], truth[mask])


def oracle_threshold(d: Decided, specificity: float) -> float:
    """The oracle threshold whose person-day specificity matches ``specificity``."""
    group, groups = person_day_groups(d.person, d.day)
    known = group >= 0
    best = np.full(groups, -np.inf)
    np.maximum.at(best, group[known], d.oracle_c[known])
    febrile = np.zeros(groups, dtype=np.bool_)
    np.logical_or.at(febrile, group[known], d.febrile[known])
    return threshold_for_specificity(best, febrile, specificity)


def fmt(value: float | None, scale: float = 100.0, width: int = 6) -> str:
    """A percentage (or a rate with ``scale=1``) right-aligned; ``-`` when undefined."""
    return f"{'-':>{width}}" if value is None else f"{value * scale:{width}.1f}"


def table(
    title: str,
    d: Decided,
    rules: dict[str, Bools],
    score: Callable[[Bools, Bools], Confusion],
) -> None:
    """Sensitivity %, specificity %, alarms per 1,000 of every rule, per population."""
    print(f"\n  {title}")
    head = "".join(f" | {name:^20}" for name in rules)
    print(f"  {'population':<10} {'count':>7} {'febr':>5}{head}")
    print(f"  {'':<10} {'':>7} {'':>5}" + " | sens%  spec% /1000" * len(rules))
    populations = {
        "all": np.ones(len(d.kind), dtype=np.bool_),
        "door": d.placement == "door",
        "lobby": d.placement == "lobby",
        "room": d.placement == "room",
        "handheld": d.kind == "handheld",
        "kiosk": d.kind == "kiosk",
        **{model: d.model == model for model in sorted(set(d.model.tolist()) - {""})},
    }
    for name, mask in populations.items():
        cells = []
        counted = None
        for positive in rules.values():
            c = score(mask, positive)
            counted = c
            alarms = c.alarms_per_1000
            cells.append(
                f" | {fmt(c.sensitivity)} {fmt(c.specificity)} "
                f"{fmt(None if alarms is None else alarms, 1.0, 5)}"
            )
        assert counted is not None
        print(f"  {name:<10} {counted.total:>7,} {counted.febrile:>5,}{''.join(cells)}")


def score_scenario(d: Decided) -> None:
    """Print every table of one scenario."""
    fever = d.decision == "fever"
    flagged = fever | (d.decision == "recheck")
    everyone = np.ones(len(d.kind), dtype=np.bool_)
    rules: dict[str, Bools] = {
        f"naive >= {NAIVE_C}": np.nan_to_num(d.temp_c, nan=-np.inf) >= NAIVE_C - 1e-9,
        "engine fever": fever,
        "engine flagged": flagged,
    }
    thresholds = {}
    for name, positive in (("fever", fever), ("flagged", flagged)):
        spec = person_day_confusion(d, everyone, positive, d.febrile).specificity
        assert spec is not None
        thresholds[name] = oracle_threshold(d, spec)
        rules[f"oracle@{name}"] = d.oracle_c >= thresholds[name]
    print(
        "  oracle thresholds (°C, oral-equivalent) at the engine's person-day specificity: "
        + ", ".join(f"{k} {v:.2f}" for k, v in thresholds.items())
    )
    table(
        "per reading (truth: core >= 37.5 °C)",
        d,
        rules,
        lambda mask, pos: confusion(pos[mask], d.febrile[mask]),
    )
    table(
        "per person-day (identified readings; febrile/positive if any reading is)",
        d,
        rules,
        lambda mask, pos: person_day_confusion(d, mask, pos, d.febrile),
    )
    table(
        "per person-day, truth = fever episode (an illness that day), same rules",
        d,
        rules,
        lambda mask, pos: person_day_confusion(d, mask, pos, d.episode),
    )
    print()
    for label, code in (("re-check burden, recheck", "recheck"), ("invalid", "invalid")):
        rates = []
        for placement in ("door", "lobby", "room"):
            mask = d.placement == placement
            rate = 1000.0 * float((d.decision[mask] == code).mean()) if mask.any() else 0.0
            rates.append(f"{placement} {rate:.1f}")
        print(f"  {label} decisions per 1,000 readings: " + ", ".join(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--residents", type=int, default=2000, help="per building")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS))
    parser.add_argument("--keep", type=Path, help="write the CSVs here instead of a temp dir")
    parser.add_argument("--config", type=Path, help="engine settings to replay with (TOML)")
    args = parser.parse_args()
    settings = load_settings(args.config) if args.config else Settings()
    names = args.scenario or list(SCENARIOS)
    started = time.perf_counter()
    print(
        f"scenarios {', '.join(names)}: {args.days} evenings, 2 buildings x "
        f"{args.residents:,} residents, seed {args.seed}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            t0 = time.perf_counter()
            source, decided = folder / f"{name}.csv", folder / f"{name}-decided.csv"
            counts = write_scenario_csv(
                name,
                source,
                days=args.days,
                seed=args.seed,
                residents_per_building=args.residents,
            )
            t1 = time.perf_counter()
            report = replay(source, decided, settings)
            t2 = time.perf_counter()
            print(f"\n== {name}: {SCENARIOS[name].description}")
            print(
                f"  {counts['readings']:,} readings, {counts['persons']:,} persons "
                f"({counts['visitors']:,} visitors); febrile (core >= 37.5) readings "
                f"{counts['febrile_readings']:,}, person-days {counts['febrile_person_days']:,}; "
                f"fever-episode person-days {counts['episode_person_days']:,} "
                f"({counts['seeded_residents']} residents seeded febrile)"
            )
            e = report.events
            print(
                "  engine: "
                + ", ".join(f"{k} {v:,}" for k, v in report.decisions.items())
                + f"; events: fever {e.fever:,}, recheck {e.recheck:,}, cleared {e.cleared:,}, "
                f"unidentified {e.unidentified:,}, escalated unconfirmed {e.escalations:,}"
            )
            score_scenario(load_decided(decided))
            t3 = time.perf_counter()
            print(
                f"  time: simulate {t1 - t0:.1f} s, replay {t2 - t1:.1f} s, score {t3 - t2:.1f} s"
            )
    print(f"\ntotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
