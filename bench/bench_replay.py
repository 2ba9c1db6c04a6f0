"""``thermogate replay`` on a synthetic recording: rows per second, end to end.

python bench/bench_replay.py [--rows 1000000] [--chunk 10000] [--keep DIR]

The recording: 30 days of a dorm campus (20,000 people, 24 door handhelds, 8 lobby kiosks),
1 % febrile person-days, 1 % device error codes, 6 % of readings without a card swipe, and a
re-check 10 to 15 minutes after every reading at or above 37.3 °C of a known person. It is
written device by device (as exports are), so the replay really has to sort it.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from thermogate.config import Settings
from thermogate.replay import DEFAULT_CHUNK_ROWS, replay
from thermogate.replay.reader import REQUIRED_COLUMNS

DAY_MS = 86_400_000
START = np.datetime64("2024-03-01T00:00:00", "ms")
HEADER = [*REQUIRED_COLUMNS, "truth_febrile", "export"]


def _one_decimal(values: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    tenths = np.round(values * 10).astype(np.int64)
    unique, inverse = np.unique(tenths, return_inverse=True)
    labels = np.asarray([f"{t // 10}.{t % 10}" for t in unique.tolist()], dtype=object)
    result: npt.NDArray[np.object_] = labels[inverse]
    return result


def synthesize(path: Path, rows: int, seed: int = 2020) -> int:
    """Write about ``rows`` readings (first visits plus their re-checks); returns the count."""
    rng = np.random.default_rng(seed)
    handhelds = [f"hh-{b}-{e}" for b in range(8) for e in range(3)]
    kiosks = [f"kiosk-{b}" for b in range(8)]
    device_names = np.asarray(handhelds + kiosks, dtype=object)
    buildings = [f"b{b}" for b in range(8) for _ in range(3)] + [f"b{b}" for b in range(8)]
    building_of = np.asarray(buildings, dtype=object)
    is_kiosk = np.arange(len(device_names)) >= len(handhelds)
    visits = int(rows / 1.012)
    person = rng.integers(0, 20_000, visits)
    day = rng.integers(0, 30, visits)
    febrile = ((person * 7919 + day * 104_729) % 1000) < 10
    ts = day * DAY_MS + rng.integers(6 * 3_600_000, 23 * 3_600_000, visits)
    device = rng.integers(0, len(device_names), visits)
    core = np.where(febrile, rng.uniform(37.6, 39.3, visits), rng.normal(36.8, 0.25, visits))
    displayed = core - np.where(is_kiosk[device], 0.1, 0.3) + rng.normal(0, 0.2, visits)
    known = rng.random(visits) >= 0.06
    # a re-check of every suspicious known person, 10-15 min later on a handheld
    again = known & (displayed >= 37.3)
    n_again = int(again.sum())
    person = np.concatenate([person, person[again]])
    day = np.concatenate([day, day[again]])
    febrile = np.concatenate([febrile, febrile[again]])
    ts = np.concatenate([ts, ts[again] + rng.integers(600_000, 900_000, n_again)])
    device = np.concatenate([device, rng.integers(0, len(handhelds), n_again)])
    core = np.concatenate([core, core[again]])
    displayed = np.concatenate([displayed, core[-n_again:] - 0.2 + rng.normal(0, 0.15, n_again)])
    known = np.concatenate([known, np.ones(n_again, dtype=bool)])
    total = len(ts)
    error = rng.random(total) < 0.01
    error_code = np.where(error, rng.choice(np.asarray(["LO", "HI", "ERR"]), total), "")
    kiosk = is_kiosk[device]
    order = np.lexsort((ts, device))  # device by device, as exported
    local = START + (ts + 8 * 3_600_000).astype("timedelta64[ms]")
    stamps = np.char.add(np.datetime_as_string(local, unit="ms").astype(object), "+08:00")
    temps = np.where(error, "", _one_decimal(displayed))
    ambient = np.where(kiosk, _one_decimal(rng.normal(22.0, 1.5, total)), "")
    columns = [
        stamps,
        building_of[device],
        np.where(kiosk, "lobby", np.asarray(["main", "south", "east"])[device % 3]).astype(object),
        device_names[device],
        np.where(kiosk, "kiosk", "handheld").astype(object),
        np.where(kiosk, "canthus", "forehead").astype(object),
        np.where(kiosk, "lobby", "door").astype(object),
        np.where(known, np.char.add("p", person.astype(str)), "").astype(object),
        temps.astype(object),
        error_code.astype(object),
        ambient.astype(object),
        febrile.astype(np.int8).astype(str).astype(object),
        np.full(total, "export-7", dtype=object),
    ]
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(zip(*(c[order].tolist() for c in columns), strict=True))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--chunk", type=int, default=DEFAULT_CHUNK_ROWS, help="rows per engine call"
    )
    parser.add_argument("--keep", type=Path, help="write the CSVs here instead of a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        source, out = folder / "recorded.csv", folder / "replayed.csv"
        began = time.perf_counter()
        rows = synthesize(source, args.rows)
        made = time.perf_counter() - began
        size_mb = source.stat().st_size / 1e6
        print(f"synthetic recording: {rows:,} rows, {size_mb:.0f} MB, made in {made:.1f} s")
        began = time.perf_counter()
        report = replay(source, out, Settings(), chunk_rows=args.chunk)
        elapsed = time.perf_counter() - began
    phases = ", ".join(f"{phase} {s:.2f} s" for phase, s in report.seconds.items())
    print(f"replay: {report.rows:,} rows in {elapsed:.2f} s = {report.rows / elapsed:,.0f} rows/s")
    print(f"  phases: {phases}; chunk {args.chunk:,} rows per engine call")
    print(f"  decisions: {report.decisions}")
    for screening in report.screening:
        o, days = screening.overall, screening.person_days
        print(
            f"  {screening.name}: sensitivity {o.sensitivity or 0:.3f}, specificity "
            f"{o.specificity or 0:.4f}, PPV {o.ppv or 0:.3f}, {o.alarms_per_1000 or 0:.1f} "
            f"alarms per 1,000 readings; person-days sensitivity {days.sensitivity or 0:.3f}"
        )


if __name__ == "__main__":
    main()
