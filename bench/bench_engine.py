"""The fever decision alone: readings per second through ``gateway.engine.decide``.

python bench/bench_engine.py [--readings 1000000] [--batch 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from thermogate.gateway.engine import decide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000, help="readings per call")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    temps = rng.normal(36.6, 0.4, args.readings)
    errors = rng.random(args.readings) < 0.01
    began = time.perf_counter()
    fevers = 0
    for start in range(0, args.readings, args.batch):
        stop = start + args.batch
        fevers += int((decide(temps[start:stop], errors[start:stop], 37.3).code == 1).sum())
    elapsed = time.perf_counter() - began
    print(f"decision engine: {args.readings} readings in batches of {args.batch}")
    print(f"  {elapsed:.3f} s, {args.readings / elapsed:,.0f} readings/s ({fevers} fevers)")


if __name__ == "__main__":
    main()
