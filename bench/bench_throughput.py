"""Highest sustained end-to-end rate with nothing lost, QoS 1, against a bare paho subscriber.

    python bench/bench_throughput.py --mode single   # single-reading messages
    python bench/bench_throughput.py --mode batch    # ReadingBatch messages (500 readings)

Real Mosquitto and VictoriaMetrics (``--sink influxdb-v1``: InfluxDB 1.x; tests/servers.py), the
gateway as its own process with the batching defaults of the tree, and ``--publishers``
publisher processes (paho, QoS 1) offering a fixed rate for ``--duration`` seconds per step. A
step passes when every reading arrived (the gateway's ``stored`` counter, then an exact count in
the database), the last one within ``--grace`` seconds of the end of the load, and the backlog
did not grow. Rates ramp up by ``--factor`` until a step fails (after ``--confirm`` reruns),
then bisect. In the same run, interleaved step by step, a bare paho subscriber (its own process
and broker, QoS 1, acknowledging and counting, nothing else) faces the same publishers and
rates. Prints each step's figures, the highest passing rate of each, and the gateway's
percentage of the bare subscriber's. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

from _harness import (
    SINKS,
    BareSubscriber,
    Consumer,
    GatewayConsumer,
    GatewayProcess,
    Servers,
    stop_on_sigterm,
)
from _load import PERSONS
from _search import RateSearch, Step, interleave, load_for, run_step

DEFAULTS = {
    # mode: (start readings/s, resolution, readings per message)
    "single": (4000.0, 100.0, 1),
    "batch": (40_000.0, 2500.0, 500),
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=sorted(DEFAULTS), default="single")
    parser.add_argument("--batch", type=int, help="readings per message in batch mode (500)")
    parser.add_argument("--start", type=float, help="first offered rate, readings/s")
    parser.add_argument("--factor", type=float, default=1.4, help="ramp factor between steps")
    parser.add_argument("--refine", type=int, default=2, help="bisection steps after the ramp")
    parser.add_argument("--max-rate", type=float, default=2_000_000.0)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per step")
    parser.add_argument("--grace", type=float, default=2.0, help="seconds to finish after it")
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument(
        "--confirm", type=int, default=1, help="reruns of a failed step (any pass counts)"
    )
    parser.add_argument("--publishers", type=int, default=4, help="publisher processes")
    parser.add_argument("--devices", type=int, default=50, help="devices per publisher")
    parser.add_argument("--persons", type=int, default=PERSONS, help="people (0: none)")
    parser.add_argument("--suspicious", type=float, default=0.01, help="share at 38.0 °C")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare subscriber")
    parser.add_argument("--sink", choices=SINKS, default="victoria-metrics", help="database")
    parser.add_argument("--batch-max", type=int, help="gateway.batch_max (default: the tree's)")
    parser.add_argument("--batch-wait-ms", type=int, help="gateway.batch_wait_ms (the tree's)")
    return parser.parse_args()


def _summary(batch: int, searches: dict[str, RateSearch]) -> None:
    unit = "single-reading messages" if batch == 1 else f"batches of {batch} readings"
    print(f"\nhighest sustained rate, {unit}, QoS 1, nothing lost:")
    for name, search in searches.items():
        best = search.best
        text = "no step passed" if best is None else f"{best:,.0f} readings/s"
        if best is not None and batch > 1:
            text += f" ({best / batch:,.0f} messages/s)"
        failed = (
            "; no step failed (raise --max-rate)"
            if search.failed is None
            else f"; failed at {search.failed:,.0f}/s"
        )
        print(f"  {name:<9} {text}{failed}")
    gateway, bare = searches.get("gateway"), searches.get("bare paho")
    if gateway and bare and gateway.best and bare.best:
        ratio = f"{100 * gateway.best / bare.best:.0f} %"
        if bare.failed is None:
            ratio += " (the bare subscriber never failed: an upper bound)"
        print(f"  gateway / bare paho subscriber: {ratio}")


def _measure(args: argparse.Namespace, work: Path, batch: int) -> dict[str, RateSearch]:
    """Start everything, run the interleaved searches, stop everything."""
    start, resolution, _ = DEFAULTS[args.mode]
    with contextlib.ExitStack() as stack:
        servers = stack.enter_context(
            Servers(work, brokers=1 if args.no_baseline else 2, sink=args.sink)
        )
        gateway = GatewayProcess(
            work,
            servers.brokers[0],
            servers.store,
            batch_max=args.batch_max,
            batch_wait_ms=args.batch_wait_ms,
        )
        print(
            f"mode {args.mode}: {batch} reading(s) per message, {args.publishers} publisher "
            f"processes x {args.devices} devices, {args.duration:.0f} s per step, grace "
            f"{args.grace:.1f} s; gateway batch_max {gateway.batch_max}, batch_wait_ms "
            f"{gateway.batch_wait_ms}, into {servers.store.title}",
            flush=True,
        )
        consumers: dict[str, Consumer] = {
            "gateway": GatewayConsumer(stack.enter_context(gateway), servers.store)
        }
        if not args.no_baseline:
            bare = stack.enter_context(BareSubscriber(servers.brokers[1]))
            consumers[bare.name] = bare
        searches = {
            name: RateSearch(
                args.start or start, args.factor, args.refine, args.max_rate, resolution
            )
            for name in consumers
        }

        def run(name: str, rate: float, number: int) -> Step:
            load = load_for(
                rate,
                args.duration,
                batch,
                f"s{number}",
                publishers=args.publishers,
                devices=args.devices,
                persons=args.persons,
                suspicious=args.suspicious,
            )
            return run_step(
                consumers[name], load, grace_s=args.grace, drain_timeout_s=args.drain_timeout
            )

        interleave(searches, run, args.confirm)
    return searches


def main() -> None:
    args = _arguments()
    stop_on_sigterm()
    batch = 1 if args.mode == "single" else (args.batch or DEFAULTS[args.mode][2])
    with tempfile.TemporaryDirectory(prefix="thermogate-bench-") as tmp:
        searches = _measure(args, Path(tmp), batch)
    _summary(batch, searches)


if __name__ == "__main__":
    main()
