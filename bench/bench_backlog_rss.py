"""Peak memory of the gateway while a 1,000,000-reading backlog replays.

    python bench/bench_backlog_rss.py [--readings 1000000] [--batch 200]

Real Mosquitto and VictoriaMetrics (``--sink influxdb-v1``: InfluxDB 1.x), the gateway as its
own process (batching defaults of the tree). The gateway starts once, so the broker holds its
persistent session, and stops; then publisher processes put ``--readings`` readings into the
broker as ``ReadingBatch`` messages of ``--batch`` readings (one device each, as edges replay
their disk buffers; 200 is the edge's ``replay_batch_max``), queued for the absent gateway. The
gateway starts again and drains them. Mosquitto runs with the shipped settings plus
``max_queued_bytes 0``: the shipped 256 MiB cap on queued bytes per client would drop part of a
backlog this size (about 230 bytes a reading).

Prints the gateway's resident memory idle and its peak while draining (VmHWM from
/proc/<pid>/status, and the highest VmRSS sampled every 0.1 s), the time to drain (from the
process start, and from when its /metrics answers, about when it connects), and the readings
found in the database, that is whether anything was lost. Not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _harness import SINKS, GatewayProcess, Servers, stop_on_sigterm
from _load import PERSONS, Load, publishing

UNLIMITED_QUEUE = ("max_queued_bytes 0",)
"""Mosquitto: no byte limit on a client's queue (``max_queued_messages 0`` is already set)."""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=200, help="readings per message")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument("--devices", type=int, default=50, help="devices per publisher")
    parser.add_argument("--persons", type=int, default=PERSONS, help="people (0: none)")
    parser.add_argument("--suspicious", type=float, default=0.01, help="share at 38.0 °C")
    parser.add_argument("--timeout", type=float, default=900.0, help="longest drain, s")
    parser.add_argument("--sink", choices=SINKS, default="victoria-metrics", help="database")
    parser.add_argument("--batch-max", type=int, help="gateway.batch_max (default: the tree's)")
    parser.add_argument("--batch-wait-ms", type=int, help="gateway.batch_wait_ms (the tree's)")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    stop_on_sigterm()
    messages = -(-args.readings // args.batch)
    load = Load(
        entrance="backlog",
        messages=messages,
        batch=args.batch,
        publishers=args.publishers,
        devices=args.devices,
        persons=args.persons,
        suspicious=args.suspicious,
    )
    with tempfile.TemporaryDirectory(prefix="thermogate-bench-") as tmp:
        work = Path(tmp)
        with Servers(work, extra_config=UNLIMITED_QUEUE, sink=args.sink) as servers:
            gateway = GatewayProcess(
                work,
                servers.brokers[0],
                servers.store,
                batch_max=args.batch_max,
                batch_wait_ms=args.batch_wait_ms,
            )
            print(
                f"backlog of {load.readings:,} readings in {messages:,} messages of {args.batch}; "
                f"gateway batch_max {gateway.batch_max}, batch_wait_ms {gateway.batch_wait_ms}",
                flush=True,
            )
            with gateway:  # creates the persistent session, then stops cleanly
                time.sleep(1.0)
                idle_kb, _ = gateway.memory_kb()
            began = time.monotonic()
            with publishing(load, servers.brokers[0]) as publishers:
                result = publishers.finish()
            print(
                f"  queued in the broker: {result.acked * args.batch:,} readings in "
                f"{time.monotonic() - began:.1f} s",
                flush=True,
            )
            try:
                started = time.monotonic()
                gateway.start(wait=False)
                peak_sampled, serving, stored = 0, 0.0, 0
                while stored < load.readings and time.monotonic() - started < args.timeout:
                    rss, _ = gateway.memory_kb()
                    peak_sampled = max(peak_sampled, rss)
                    counted = gateway.counter("stored")
                    if counted is not None and not serving:
                        serving = time.monotonic()
                    stored = counted or 0
                    time.sleep(0.1)
                drained = time.monotonic()
                _, hwm = gateway.memory_kb()
                found = servers.store.settled_count(load.entrance, load.readings)
                title = servers.store.title
                dead = gateway.counter("dead_letters")
            finally:
                gateway.stop()
    drain_s = drained - started
    print(f"  gateway RSS idle (before the backlog)  {idle_kb / 1024:8.1f} MB")
    print(f"  gateway peak RSS (VmHWM)               {hwm / 1024:8.1f} MB")
    print(f"  gateway highest sampled VmRSS          {peak_sampled / 1024:8.1f} MB")
    if stored >= load.readings:
        print(
            f"  drained in {drain_s:.1f} s from the process start "
            f"({load.readings / drain_s:,.0f} readings/s), "
            f"{drained - serving:.1f} s from /metrics answering (about when it connects)"
        )
    else:
        print(f"  NOT drained after {args.timeout:.0f} s: {stored:,} stored")
    print(f"  stored {stored:,}, in {title} {found:,} of {load.readings:,}", end="")
    print(f", lost {load.readings - found:,}, dead letters {dead}")


if __name__ == "__main__":
    main()
