"""Alert latency: from a very high reading's event time to its ``fever`` alert on MQTT.

    python bench/bench_alert_latency.py --rate 8000   # runs at half of the given rate
    python bench/bench_alert_latency.py               # first finds the highest rate itself

Real Mosquitto and VictoriaMetrics (``--sink influxdb-v1``: InfluxDB 1.x), the gateway as its
own process (batching defaults of the tree), publisher processes offering single-reading
messages at QoS 1 at half of ``--rate`` (the highest sustained single-reading rate, from
``bench_throughput.py --mode single``; without it, a short ramp of the gateway alone finds it
first). Among normal readings, a share ``--very-high`` are at 41.0 °C, above
``engine.very_high_c``, so the engine raises ``fever`` at once; their ``ts`` is the wall clock
when published. A subscriber to ``thermogate/v1/alerts/+`` notes when each alert arrives. Prints
the step's figures (every reading stored?), the number of alerts expected and received, and the
latency p50, p95, p99 and max. Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import paho.mqtt.client as paho
from _harness import SINKS, GatewayConsumer, GatewayProcess, Servers, stop_on_sigterm
from _load import PERSONS, mqtt_client
from _search import RateSearch, interleave, load_for, print_step, run_step
from servers import MosquittoServer

from thermogate.contract.topics import ALERTS_FILTER


class AlertListener:
    """Receives every alert and notes the wall clock of its arrival."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.arrivals: list[tuple[float, dict[str, object]]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt_client("bench-alerts")
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._broker = broker

    def _on_message(self, _c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        arrived = time.time()
        alert = orjson.loads(message.payload)
        with self._lock:
            self.arrivals.append((arrived, alert))

    def fever_arrivals(self) -> dict[str, tuple[float, str]]:
        """``fever`` alerts by reading id: (arrival time, the alert's ``ts``), first arrival."""
        out: dict[str, tuple[float, str]] = {}
        with self._lock:
            for arrived, alert in self.arrivals:
                if alert.get("kind") == "fever":
                    out.setdefault(str(alert.get("reading_id")), (arrived, str(alert["ts"])))
        return out

    def __enter__(self) -> AlertListener:
        self._client.connect(self._broker.host, self._broker.port)
        self._client.subscribe(ALERTS_FILTER, 1)
        self._client.loop_start()
        if not self._subscribed.wait(30.0):
            raise RuntimeError("the alert listener did not subscribe")
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _event_time(ts: str) -> float:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, help="highest sustained single-reading rate")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--very-high", type=float, default=0.01, help="share at 41.0 °C")
    parser.add_argument("--suspicious", type=float, default=0.0, help="share at 38.0 °C")
    parser.add_argument("--publishers", type=int, default=4, help="publisher processes")
    parser.add_argument("--devices", type=int, default=50, help="devices per publisher")
    parser.add_argument("--persons", type=int, default=PERSONS, help="people (0: none)")
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for alerts")
    parser.add_argument("--search-start", type=float, default=3000.0)
    parser.add_argument("--search-duration", type=float, default=10.0)
    parser.add_argument("--sink", choices=SINKS, default="victoria-metrics", help="database")
    parser.add_argument("--batch-max", type=int, help="gateway.batch_max (default: the tree's)")
    parser.add_argument("--batch-wait-ms", type=int, help="gateway.batch_wait_ms (the tree's)")
    return parser.parse_args()


def _measure_rate(args: argparse.Namespace, consumer: GatewayConsumer) -> float:
    """The gateway's highest sustained single-reading rate, by a short ramp."""
    print("no --rate: finding the highest sustained single-reading rate first", flush=True)
    search = RateSearch(args.search_start, 1.3, 2, 1_000_000.0, 100.0)
    interleave(
        {consumer.name: search},
        lambda _name, rate, number: run_step(
            consumer,
            load_for(rate, args.search_duration, 1, f"r{number}", publishers=args.publishers),
            grace_s=2.0,
            drain_timeout_s=60.0,
        ),
        confirm=1,
    )
    if search.best is None:
        raise SystemExit("no rate passed; give --rate")
    print(f"highest sustained rate: {search.best:,.0f} readings/s", flush=True)
    return search.best


def main() -> None:
    args = _arguments()
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="thermogate-bench-") as tmp:
        work = Path(tmp)
        with Servers(work, sink=args.sink) as servers:
            broker = servers.brokers[0]
            gateway = GatewayProcess(
                work,
                broker,
                servers.store,
                batch_max=args.batch_max,
                batch_wait_ms=args.batch_wait_ms,
            )
            with gateway, AlertListener(broker) as listener:
                consumer = GatewayConsumer(gateway, servers.store)
                highest = args.rate if args.rate else _measure_rate(args, consumer)
                rate = highest / 2
                print(
                    f"alert latency at {rate:,.0f} readings/s (half of {highest:,.0f}), "
                    f"{args.duration:.0f} s, {args.very_high:.1%} at 41.0 °C; gateway batch_max "
                    f"{gateway.batch_max}, batch_wait_ms {gateway.batch_wait_ms}",
                    flush=True,
                )
                load = load_for(
                    rate,
                    args.duration,
                    1,
                    "latency",
                    publishers=args.publishers,
                    devices=args.devices,
                    persons=args.persons,
                    suspicious=args.suspicious,
                    very_high=args.very_high,
                    live_ts=True,
                )
                step = run_step(consumer, load, grace_s=2.0, drain_timeout_s=60.0)
                print_step(step)
                expected = step.sent.very_high_ids
                deadline = time.monotonic() + args.wait
                while time.monotonic() < deadline:
                    if expected <= listener.fever_arrivals().keys():
                        break
                    time.sleep(0.2)
                arrivals = listener.fever_arrivals()
    latencies = np.asarray(
        [
            (arrived - _event_time(ts)) * 1000
            for reading_id, (arrived, ts) in arrivals.items()
            if reading_id in expected
        ]
    )
    print(f"fever alerts: {len(latencies)} of {len(expected)} expected", end="")
    print(f" ({len(arrivals) - len(latencies)} others)")
    if len(latencies):
        p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
        print(
            f"event time -> alert on MQTT, ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  "
            f"max {latencies.max():.1f}  (n = {len(latencies)})"
        )


if __name__ == "__main__":
    main()
