"""What the end-to-end benchmarks share: real servers, the gateway as its own process, exact
counts in its database (VictoriaMetrics or InfluxDB 1.x), and the consumers a load is offered to
(the gateway, a bare paho subscriber).

Imported by ``bench/bench_throughput.py``, ``bench/bench_alert_latency.py`` and
``bench/bench_backlog_rss.py`` (with ``_load.py``, the publishers, and ``_search.py``, the
stepped search for the highest sustained rate); not a test and not part of the package. Every
process started here runs in its own process group and is stopped in a ``finally`` (the
servers of ``tests/servers.py`` also on interpreter exit).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Final, Protocol

import paho.mqtt.client as paho
import urllib3
from _load import READY_TIMEOUT_S, SPAWN, Load, mqtt_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import HOST, InfluxDB1Server, MosquittoServer, VictoriaMetricsServer, free_port

from thermogate.config import GatewaySettings
from thermogate.contract.topics import READINGS_FILTER

AUTOSAVE_INTERVAL_S: Final = 60
SINKS: Final = ("victoria-metrics", "influxdb-v1")
"""The databases a benchmark can put behind the gateway (``--sink``)."""
INFLUX_DATABASE: Final = "screening"
HTTP: Final = urllib3.PoolManager(timeout=urllib3.Timeout(total=30.0), retries=False)


class Store:
    """The time-series database the gateway writes to, and exact counts of a step in it."""

    def __init__(self, work: Path, kind: str) -> None:
        if kind not in SINKS:
            raise ValueError(f"sink {kind!r} is not one of {', '.join(SINKS)}")
        self.kind = kind
        self.server: VictoriaMetricsServer | InfluxDB1Server = (
            VictoriaMetricsServer(work / "vm")
            if kind == "victoria-metrics"
            else InfluxDB1Server(work / "influxdb")
        )

    def sink_toml(self) -> str:
        """The gateway's ``[[ingest.sinks]]`` entry for this database."""
        if isinstance(self.server, VictoriaMetricsServer):
            return (
                f'[[ingest.sinks]]\nkind = "influxdb-v2"\nurl = "{self.server.url}"\n'
                'org = "bench"\nbucket = "bench"\n'
            )
        return (
            f'[[ingest.sinks]]\nkind = "influxdb-v1"\nurl = "{self.server.url}"\n'
            f'database = "{INFLUX_DATABASE}"\n'
        )

    def count(self, entrance: str) -> int:
        """Readings of one entrance stored in the database."""
        if isinstance(self.server, VictoriaMetricsServer):
            return _vm_count(self.server, entrance)
        if INFLUX_DATABASE not in self.server.databases():
            return 0
        body = self.server.query(
            f'SELECT count("seq") FROM "screening" WHERE "entrance" = \'{entrance}\'',
            INFLUX_DATABASE,
        )
        rows = [row for r in body["results"] for s in r.get("series", []) for row in s["values"]]
        return int(rows[0][1]) if rows else 0

    def settled_count(self, entrance: str, expected: int, timeout_s: float = 20.0) -> int:
        """Poll until ``expected`` readings are visible (VictoriaMetrics shows a sample about 1 s
        after its write), then count again a moment later, so late extras would show; the last
        count on timeout."""
        deadline = time.monotonic() + timeout_s
        count = self.count(entrance)
        while count < expected and time.monotonic() < deadline:
            time.sleep(0.5)
            count = self.count(entrance)
        if count == expected:
            time.sleep(1.0)
            count = self.count(entrance)
        return count

    @property
    def title(self) -> str:
        """Its name in figures."""
        return "VictoriaMetrics" if self.kind == "victoria-metrics" else "InfluxDB 1.x"


class Servers:
    """Mosquitto brokers and a time-series database in a work directory; stopped on exit."""

    def __init__(
        self,
        work: Path,
        brokers: int = 1,
        extra_config: tuple[str, ...] = (),
        sink: str = "victoria-metrics",
    ) -> None:
        self.work = work
        self.brokers = [
            # Persistence saved every 60 s as shipped (thermogate/defaults/mosquitto.conf), not
            # every second as the tests need for kill tests: a save rewrites every queued message.
            MosquittoServer(
                work / f"mosquitto-{i}",
                extra_config=extra_config,
                autosave_interval_s=AUTOSAVE_INTERVAL_S,
            )
            for i in range(brokers)
        ]
        self.store = Store(work, sink)

    def __enter__(self) -> Servers:
        try:
            for broker in self.brokers:
                broker.start()
            self.store.server.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.server.stop()
        for broker in self.brokers:
            broker.stop()


class GatewayProcess:
    """``thermogate gateway`` as its own process, configured for a broker and a database.

    Batching settings left as ``None`` keep the defaults of the gateway in the tree, so the
    figures are those of the code as shipped. ``/metrics`` is on, for its counters.
    """

    def __init__(
        self,
        work: Path,
        broker: MosquittoServer,
        store: Store,
        *,
        gateway_id: str = "bench-gw",
        batch_max: int | None = None,
        batch_wait_ms: int | None = None,
    ) -> None:
        self.work = work
        self.broker = broker
        self.gateway_id = gateway_id
        self.metrics_port = free_port()
        defaults = GatewaySettings()
        self.batch_max = batch_max if batch_max is not None else defaults.batch_max
        self.batch_wait_ms = batch_wait_ms if batch_wait_ms is not None else defaults.batch_wait_ms
        self.config = work / "gateway.toml"
        self.log_path = work / "gateway.log"
        batching = "".join(
            f"{key} = {value}\n"
            for key, value in (("batch_max", batch_max), ("batch_wait_ms", batch_wait_ms))
            if value is not None
        )
        self.config.write_text(
            f"""[mqtt]
host = "{broker.host}"
port = {broker.port}
[gateway]
id = "{gateway_id}"
accept_unknown_devices = true
state_dir = "{work / "gateway-state"}"
metrics_port = {self.metrics_port}
{batching}{store.sink_toml()}[log]
level = "WARNING"
""",
            encoding="utf-8",
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """The gateway's process id (it must be running)."""
        if self._process is None:
            raise RuntimeError("the gateway is not running")
        return self._process.pid

    def start(self, wait: bool = True) -> None:
        """Start the process; with ``wait``, return once it is subscribed and serving /metrics."""
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "thermogate.cli", "gateway", "--config", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait for the retained ``online`` status (sent after subscribing) and for /metrics."""
        topic = f"thermogate/v1/status/gateway/{self.gateway_id}"
        online = threading.Event()
        client = mqtt_client(f"bench-watch-{os.getpid()}")

        def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
            with contextlib.suppress(ValueError):
                if json.loads(message.payload).get("state") == "online":
                    online.set()

        client.on_message = on_message
        client.connect(self.broker.host, self.broker.port)
        client.subscribe(topic, 0)
        client.loop_start()
        try:
            deadline = time.monotonic() + timeout_s
            while not online.wait(0.1):
                self._check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the gateway did not come online; {self.log_tail()}")
            while self.counter("stored") is None:
                self._check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the gateway's /metrics did not answer; {self.log_tail()}")
                time.sleep(0.1)
        finally:
            client.disconnect()
            client.loop_stop()

    def _check_alive(self) -> None:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError(f"the gateway exited; {self.log_tail()}")

    def counter(self, name: str) -> int | None:
        """A counter of the gateway's /metrics (``stored``, ``dead_letters``, ...), or None."""
        try:
            response = HTTP.request(
                "GET", f"http://{HOST}:{self.metrics_port}/metrics", timeout=5.0
            )
        except urllib3.exceptions.HTTPError:
            return None
        prefix = f"thermogate_gateway_{name}_total"
        for line in response.data.decode().splitlines():
            if line.startswith(prefix) and line[len(prefix)] in " {":
                return int(float(line.rsplit(" ", 1)[1]))
        return None

    def memory_kb(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the gateway process in kB, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text(encoding="ascii").splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
        return fields["VmRSS"], fields["VmHWM"]

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (a clean stop keeps the persistent session); SIGKILL its group if stuck."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(10.0)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 20) -> str:
        """The end of the gateway's log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no gateway log)"
        return "gateway log:\n" + "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> GatewayProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _vm_count(vm: VictoriaMetricsServer, entrance: str) -> int:
    """Readings of one entrance stored in VictoriaMetrics (samples of ``screening_seq``).

    A PromQL count over the last 3 hours (synthetic event times lie up to an hour back),
    uncached; cheaper than exporting millions of samples.
    """
    query = f'sum(count_over_time(screening_seq{{entrance="{entrance}"}}[3h]))'
    HTTP.request("GET", f"{vm.url}/internal/force_flush")
    response = HTTP.request(
        "GET", f"{vm.url}/api/v1/query", fields={"query": query, "nocache": "1"}
    )
    if response.status != 200:
        raise RuntimeError(f"VictoriaMetrics query failed ({response.status}): {response.data!r}")
    result = json.loads(response.data)["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


class Consumer(Protocol):
    """Something that drains readings from a broker and says how many it has taken."""

    name: str
    broker: MosquittoServer

    def taken(self, batch: int) -> int:
        """Readings taken so far (stored, for the gateway; received, for a bare client)."""
        ...

    def confirm(self, load: Load) -> int:
        """The exact number of this step's readings that arrived (after the step)."""
        ...


class GatewayConsumer:
    """The gateway: readings count when stored; confirmed by counting in the database."""

    name = "gateway"

    def __init__(self, gateway: GatewayProcess, store: Store) -> None:
        self.gateway = gateway
        self.broker = gateway.broker
        self.store = store

    def taken(self, batch: int) -> int:
        """The gateway's ``stored`` counter (a busy gateway may answer /metrics late)."""
        for _ in range(10):
            stored = self.gateway.counter("stored")
            if stored is not None:
                return stored
            time.sleep(0.5)
        raise RuntimeError(f"the gateway's /metrics did not answer; {self.gateway.log_tail()}")

    def confirm(self, load: Load) -> int:
        """Readings of the step found in the database."""
        return self.store.settled_count(load.entrance, load.readings)


def _bare_main(host: str, port: int, ready: Any, received: Any) -> None:
    """A minimal QoS 1 subscriber: count each message; paho acknowledges it on return."""
    client = mqtt_client(f"bench-bare-{os.getpid()}")
    subscribed = threading.Event()

    def on_message(_c: paho.Client, _u: object, _m: paho.MQTTMessage) -> None:
        received.value += 1

    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect(host, port)
    client.subscribe(READINGS_FILTER, 1)
    client.loop_start()
    subscribed.wait(READY_TIMEOUT_S)
    ready.set()
    parent = os.getppid()
    while os.getppid() == parent:  # until killed, or orphaned
        time.sleep(1.0)


class BareSubscriber:
    """A bare paho-mqtt subscriber in its own process: the ceiling of a Python consumer."""

    name = "bare paho"

    def __init__(self, broker: MosquittoServer) -> None:
        self.broker = broker
        self._received: Any = SPAWN.RawValue("q", 0)
        self._ready: Any = SPAWN.Event()
        self._process: Any = SPAWN.Process(
            target=_bare_main,
            args=(broker.host, broker.port, self._ready, self._received),
            daemon=True,
        )

    def taken(self, batch: int) -> int:
        """Messages received so far, in readings."""
        return int(self._received.value) * batch

    def confirm(self, load: Load) -> int:
        """Counting is exact already (one session, no redelivery)."""
        return -1

    def __enter__(self) -> BareSubscriber:
        self._process.start()
        if not self._ready.wait(READY_TIMEOUT_S):
            self.__exit__()
            raise RuntimeError("the bare subscriber did not subscribe")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5.0)


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so every ``finally`` stops what the benchmark started."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
