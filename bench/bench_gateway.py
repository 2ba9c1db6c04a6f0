"""End-to-end gateway throughput: real Mosquitto, real VictoriaMetrics, the gateway as its own
process, readings published at QoS 1 as fast as one publisher can.

    python bench/bench_gateway.py --readings 20000             # single-reading messages
    python bench/bench_gateway.py --readings 200000 --batch 500  # batched messages

Prints publish rate, end-to-end rate (first publish to last reading stored in
VictoriaMetrics, counted through its export API) and whether anything was lost. Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import MosquittoServer, VictoriaMetricsServer

from thermogate.contract.topics import readings_topic

DEVICES = [f"ks-bench-{i:02d}" for i in range(20)]


def _config(path: Path, mqtt_port: int, vm_url: str) -> None:
    path.write_text(
        f"""
[mqtt]
port = {mqtt_port}
[gateway]
state_dir = "{path.parent / 'gateway'}"
accept_unknown_devices = true
batch_max = 2000
batch_wait_ms = 50
[[ingest.sinks]]
kind = "influxdb-v2"
url = "{vm_url}"
org = "bench"
bucket = "bench"
[log]
level = "WARNING"
""",
        encoding="utf-8",
    )


def _reading(index: int, base: dt.datetime) -> dict[str, object]:
    device = DEVICES[index % len(DEVICES)]
    ts = base + dt.timedelta(milliseconds=index)
    return {
        "v": 1,
        "device_id": device,
        "seq": index + 1,
        "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        # Mostly normal, one in a hundred suspicious: a realistic alert load.
        "temp_c": 38.0 if index % 100 == 7 else 36.0 + (index % 13) / 10,
        "site": "canthus",
        "device_kind": "kiosk",
        "placement": "lobby",
        "building": "bench",
        "entrance": "main",
    }


def _messages(count: int, batch: int) -> list[tuple[str, bytes]]:
    base = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    out: list[tuple[str, bytes]] = []
    if batch <= 1:
        for i in range(count):
            reading = _reading(i, base)
            topic = readings_topic("bench", "main", str(reading["device_id"]))
            out.append((topic, orjson.dumps(reading)))
        return out
    for start in range(0, count, batch):
        # One device per batched message, as an edge replaying its backlog sends it.
        device_offset = (start // batch) % len(DEVICES)
        readings = []
        for i in range(start, min(start + batch, count)):
            reading = _reading(i, base)
            reading["device_id"] = DEVICES[device_offset]
            readings.append(reading)
        topic = readings_topic("bench", "main", DEVICES[device_offset])
        out.append((topic, orjson.dumps({"v": 1, "readings": readings})))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1, help="readings per message")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="thermogate-bench-") as tmp:
        work = Path(tmp)
        broker = MosquittoServer(work / "mosquitto").start()
        vm = VictoriaMetricsServer(work / "vm").start()
        config = work / "thermogate.toml"
        _config(config, broker.port, vm.url)
        gateway = subprocess.Popen(
            [sys.executable, "-m", "thermogate.cli", "gateway", "--config", str(config)]
        )
        try:
            time.sleep(2.0)  # connect and subscribe
            messages = _messages(args.readings, args.batch)
            client = paho.Client(
                CallbackAPIVersion.VERSION2, "bench-publisher", protocol=paho.MQTTv5
            )
            client.max_inflight_messages_set(1000)
            client.max_queued_messages_set(0)
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            began = time.perf_counter()
            infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
            for info in infos:
                info.wait_for_publish(args.timeout)
            published_s = time.perf_counter() - began
            stored = 0
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                vm.force_flush()
                stored = vm.count_samples("screening_seq")
                if stored >= args.readings:
                    break
                time.sleep(0.5)
            total_s = time.perf_counter() - began
            client.disconnect()
            client.loop_stop()
        finally:
            gateway.terminate()
            gateway.wait(20)
            vm.stop()
            broker.stop()
    mode = "single-reading messages" if args.batch <= 1 else f"batches of {args.batch}"
    print(f"gateway end to end, {mode}, QoS 1, Mosquitto -> gateway -> VictoriaMetrics")
    print(f"  readings      {args.readings}")
    print(f"  published in  {published_s:8.2f} s  ({args.readings / published_s:10.0f} readings/s)")
    print(f"  stored in     {total_s:8.2f} s  ({stored / total_s:10.0f} readings/s end to end)")
    print(f"  lost          {args.readings - stored}")


if __name__ == "__main__":
    main()
