"""The fever decision alone: readings per second through ``gateway.engine.decide``.

python bench/bench_engine.py [--readings 1000000] [--batch 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from thermogate.config import EngineSettings
from thermogate.gateway.engine import DecisionEngine, EngineInput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000, help="readings per call")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    n = args.readings
    temps = rng.normal(36.6, 0.4, n)
    errors = rng.random(n) < 0.01
    temps[errors] = np.nan
    persons = [f"p-{i % 5000:016x}" if i % 10 else None for i in range(n)]
    engine = DecisionEngine(EngineSettings(), 37.3)
    batches = []
    for start in range(0, n, args.batch):
        stop = min(start + args.batch, n)
        size = stop - start
        batches.append(
            EngineInput(
                ts_ms=np.arange(start, stop, dtype=np.int64) * 200,
                reading_id=[f"hh-{i % 20}:{i}" for i in range(start, stop)],
                device_id=[f"hh-{i % 20}" for i in range(start, stop)],
                device_kind=["handheld"] * size,
                site=["forehead"] * size,
                placement=["door"] * size,
                person_id=persons[start:stop],
                temp_c=temps[start:stop],
                has_error=errors[start:stop],
                ambient_c=np.full(size, np.nan),
            )
        )
    began = time.perf_counter()
    fevers = 0
    for batch in batches:
        fevers += int((engine.decide(batch).decision == 1).sum())
    elapsed = time.perf_counter() - began
    print(f"decision engine: {args.readings} readings in batches of {args.batch}")
    print(f"  {elapsed:.3f} s, {args.readings / elapsed:,.0f} readings/s ({fevers} fevers)")


if __name__ == "__main__":
    main()
