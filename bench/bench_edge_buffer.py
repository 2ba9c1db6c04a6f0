"""The edge's disk buffer: durable appends per second (each one a committed, fsynced
transaction), and acknowledgements per second.

    python bench/bench_edge_buffer.py [--readings 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from thermogate.contract import DeviceKind, Placement, Reading, Site, utc_now
from thermogate.edge.buffer import ReadingBuffer


def _reading(seq: int) -> Reading:
    return Reading(
        device_id="hh-bench-1",
        seq=seq,
        ts=utc_now(),
        temp_c=36.6,
        site=Site.FOREHEAD,
        device_kind=DeviceKind.HANDHELD,
        placement=Placement.DOOR,
        building="bench",
        entrance="main",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        buffer = ReadingBuffer(Path(tmp) / "buffer.sqlite3", capacity=10 * args.readings)
        began = time.perf_counter()
        for index in range(args.readings):
            buffer.append("hh-bench-1", _reading, frame=f"frame-{index}".encode())
        appended = time.perf_counter() - began
        rows = buffer.between(0, buffer.max_id(), args.readings)
        began = time.perf_counter()
        for row in rows:
            buffer.acknowledge([row.id])
        acknowledged = time.perf_counter() - began
        buffer.close()
    print(f"edge buffer, {args.readings} readings, WAL + synchronous=FULL")
    each_ms = appended / args.readings * 1e3
    print(f"  durable appends  {args.readings / appended:8.0f}/s ({each_ms:.2f} ms each)")
    print(f"  acknowledgements {args.readings / acknowledged:8.0f}/s")


if __name__ == "__main__":
    main()
