"""Encode 1,000,000 screening points to line protocol and print the rate (not a test).

Run: python bench/bench_line_protocol.py [--points N] [--batch N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from thermogate.ingest.line_protocol import encode_points
from thermogate.ingest.points import ScreeningPoints, point_timestamp_ns


def make_batch(n: int, seed: int = 7) -> ScreeningPoints:
    """A realistic batch: 4 buildings x 3 entrances, 40 devices, some absent values."""
    rng = np.random.default_rng(seed)
    device = rng.integers(0, 40, n)
    buildings = np.array(["wenyuan-2", "wenyuan-3", "zhiyuan-1", "文苑2号楼"])[device % 4].tolist()
    entrances = np.array(["north", "south", "east"])[device % 3].tolist()
    device_ids = [f"K-{d:02d}" for d in device.tolist()]
    seq = np.arange(n, dtype=np.int64)
    event_ms = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 7
    temp = np.round(rng.normal(36.6, 0.4, n), 1)
    ambient = np.where(rng.random(n) < 0.3, np.nan, np.round(rng.normal(22, 3, n), 1))
    fever = temp >= 37.3
    return ScreeningPoints(
        ts_ns=point_timestamp_ns(event_ms, seq),
        building=buildings,
        entrance=entrances,
        device_id=device_ids,
        device_kind=["kiosk"] * n,
        site=["forehead"] * n,
        placement=["door"] * n,
        seq=seq,
        temp_c=temp,
        adjusted_c=temp + 0.15,
        ambient_c=ambient,
        battery_pct=np.full(n, np.nan),
        lag_ms=rng.integers(1, 400, n).astype(np.float64),
        error=[None] * n,
        decision=np.where(fever, "fever", "pass").tolist(),
        person_id=[f"p-{i % 5000}" if i % 3 else None for i in range(n)],
        reading_id=[f"{d}:{s}" for d, s in zip(device_ids, seq.tolist(), strict=True)],
        clock=[None] * n,
    )


def main() -> None:
    """Encode in gateway-sized batches and report points/s and MB/s."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000, help="points per encode call")
    args = parser.parse_args()
    batch = make_batch(args.batch)
    calls = max(1, args.points // args.batch)
    encode_points("screening", batch)  # warm up
    started = time.perf_counter()
    size = 0
    for _ in range(calls):
        size += len(encode_points("screening", batch))
    elapsed = time.perf_counter() - started
    total = calls * args.batch
    print(f"encoded {total:,} points in {calls:,} batches of {args.batch:,}: {elapsed:.2f} s")
    rate, mbps = total / elapsed, size / elapsed / 1e6
    print(f"{rate:,.0f} points/s, {mbps:,.1f} MB/s, {size / total:.0f} B/point")
    one = make_batch(args.points)
    started = time.perf_counter()
    encode_points("screening", one)
    elapsed = time.perf_counter() - started
    print(f"one batch of {args.points:,}: {elapsed:.2f} s, {args.points / elapsed:,.0f} points/s")


if __name__ == "__main__":
    main()
