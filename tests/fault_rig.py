"""A real deployment in miniature for the fault-injection tests.

Mosquitto, InfluxDB 1.x and a local alert inbox run as real servers; the gateway and the edge
run as real ``thermogate`` processes (so they can be killed with SIGKILL); the handheld and
the card reader are virtual serial ports driven by a producer thread that knows every reading
it produced. The edge may reach the broker through a TCP proxy the test controls.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mqtt_probe import MqttProbe
from servers import InfluxDB1Server, MosquittoServer, ServerError
from tcp_proxy import TcpProxy

from thermogate.alerts import LocalInbox
from thermogate.firmware_sim.card_reader import CardReader
from thermogate.firmware_sim.handheld import HandheldThermometer
from thermogate.firmware_sim.pty_port import VirtualSerialPort

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD = 37.3
EDGE_ID = "edge-w2-main"
READING_ALERTS = frozenset({"fever", "fever_unconfirmed", "recheck"})


def temperature(index: int) -> float:
    """The value the handheld shows for the n-th entrant: every 7th is a fever."""
    return 38.1 if index % 7 == 3 else round(36.2 + (index % 9) / 10, 1)


@dataclass
class Figures:
    """What a fault test measured."""

    produced: int = 0
    stored: int = 0
    distinct_stored: int = 0
    wire_duplicates: int = 0
    fevers: int = 0
    alerts_delivered: int = 0
    distinct_alerts: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.produced - self.distinct_stored

    def line(self, fault: str) -> str:
        extra = "".join(f", {k} {v:g}" for k, v in self.extra.items())
        return (
            f"FAULT {fault}: produced {self.produced}, stored {self.distinct_stored}, "
            f"lost {self.lost}, duplicated in storage {self.stored - self.distinct_stored}, "
            f"duplicates on the wire absorbed {self.wire_duplicates}, fevers {self.fevers}, "
            f"alerts delivered {self.alerts_delivered} ({self.distinct_alerts} distinct){extra}"
        )


class Process:
    """One ``thermogate`` subcommand as a child process."""

    def __init__(self, log_path: Path, *args: str) -> None:
        self.args = args
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "thermogate.cli", *self.args],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Producer(threading.Thread):
    """Entrants at a steady rate: a swipe, then a reading; pauses on request."""

    def __init__(
        self, handheld: HandheldThermometer, reader: CardReader, count: int, rate_per_s: float
    ) -> None:
        super().__init__(name="producer", daemon=True)
        self.handheld = handheld
        self.reader = reader
        self.count = count
        self.interval = 1.0 / rate_per_s
        self.produced: list[float] = []
        self.resume = threading.Event()
        self.resume.set()
        self.done = threading.Event()
        self.finish = threading.Event()

    def run(self) -> None:
        for index in range(self.count):
            while not self.resume.wait(0.05):
                self.handheld.service()
            self.reader.swipe(f"CARD{index:05d}")
            value = temperature(index)
            assert self.handheld.measure(value) is not None, "the pty dropped a frame"
            self.produced.append(value)
            self.handheld.service()
            time.sleep(self.interval)
        self.done.set()
        # A handheld with memory keeps sending what the edge has not acknowledged.
        while not self.finish.wait(0.1):
            self.handheld.service()


class FaultRig:
    """Everything one fault test needs; ``close()`` stops it all."""

    def __init__(
        self,
        tmp: Path,
        *,
        edge_via_proxy: bool = False,
        replay_rate_per_s: float = 500.0,
    ) -> None:
        self.tmp = tmp
        self.broker = MosquittoServer(tmp / "mosquitto").start()
        self.proxy = TcpProxy("127.0.0.1", self.broker.port).start() if edge_via_proxy else None
        self.influx = InfluxDB1Server(tmp / "influx").start()
        self.inbox = LocalInbox().start()
        self.handheld_port = VirtualSerialPort(tmp / "dev" / "hh-w2-main-1")
        self.reader_port = VirtualSerialPort(tmp / "dev" / "cr-w2-main-1")
        self.probe = MqttProbe(self.broker.mqtt_settings(), "thermogate/v1/readings/#")
        gateway_config = self._config("gateway.toml", self.broker.port, replay_rate_per_s)
        edge_config = self._config(
            "edge.toml", self.proxy.port if self.proxy else self.broker.port, replay_rate_per_s
        )
        self.gateway = Process(tmp / "gateway.log", "gateway", "--config", str(gateway_config))
        self._producers: list[Producer] = []
        self.edge = Process(tmp / "edge.log", "edge", "--config", str(edge_config), "--id", EDGE_ID)

    def _config(self, name: str, mqtt_port: int, replay_rate_per_s: float) -> Path:
        text = f"""
[[buildings]]
id = "wenyuan-2"
name = "Wenyuan Building 2"
entrances = ["main"]

[[devices]]
id = "hh-w2-main-1"
kind = "handheld"
building = "wenyuan-2"
entrance = "main"
port = "{self.handheld_port.device}"

[[devices]]
id = "cr-w2-main-1"
kind = "card-reader"
building = "wenyuan-2"
entrance = "main"
port = "{self.reader_port.device}"

[[edges]]
id = "{EDGE_ID}"
building = "wenyuan-2"
entrance = "main"
devices = ["hh-w2-main-1", "cr-w2-main-1"]

[mqtt]
port = {mqtt_port}

[edge]
data_dir = "{self.tmp / "edge"}"
replay_rate_per_s = {replay_rate_per_s}
status_interval_s = 2.0

[gateway]
threshold_c = {THRESHOLD}
batch_wait_ms = 50
state_dir = "{self.tmp / "gateway"}"
screening_hours = "00:00-24:00"
device_silence_s = 3600

[ingest]
retry_initial_s = 0.2
retry_max_s = 1.0

[[ingest.sinks]]
kind = "influxdb-v1"
url = "{self.influx.url}"
database = "screening"

[alerts]
push_urls = ["{self.inbox.apprise_url}"]
retry_initial_s = 0.1

[log]
level = "INFO"
format = "json"
"""
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def start(self) -> None:
        # The gateway first: until its persistent session exists, the broker has nobody to
        # keep readings for (in production it exists from the gateway's first start).
        self.gateway.start()
        self.wait_for(
            lambda: self.broker_has_status("thermogate/v1/status/gateway/gateway-1", "online"),
            20,
            "the gateway never came online",
        )
        self.edge.start()
        self.wait_for(self._edge_seen, 20, "the edge never came online")

    def _edge_seen(self) -> bool:
        return self.broker_has_status(f"thermogate/v1/status/edge/{EDGE_ID}", "online")

    def broker_has_status(self, topic: str, state: str) -> bool:
        probe = MqttProbe(self.broker.mqtt_settings(), topic)
        try:
            return probe.wait_until(
                lambda: any(m.json().get("state") == state for m in probe.messages()), 1.0
            )
        finally:
            probe.close()

    def producer(self, count: int, rate_per_s: float) -> Producer:
        producer = Producer(
            HandheldThermometer(self.handheld_port, device_id="hh-w2-main-1", retransmit_s=1.0),
            CardReader(self.reader_port),
            count,
            rate_per_s,
        )
        producer.start()
        self._producers.append(producer)
        return producer

    def stored_rows(self) -> list[dict[str, object]]:
        try:
            return self.influx.select_all("screening", "screening")
        except ServerError:
            return []  # the database appears with the first write

    def stored_count(self) -> int:
        try:
            return self.influx.count("screening", "screening", "seq")
        except ServerError:
            return 0

    @staticmethod
    def wait_for(condition: object, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise AssertionError(message)

    def settle(self, producer: Producer, timeout: float) -> Figures:
        """Wait until everything produced is stored and alerted, then measure."""
        assert producer.done.wait(timeout), "the producer did not finish"
        fevers = sum(value >= THRESHOLD for value in producer.produced)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (
                self.stored_count() >= len(producer.produced)
                and len({a["alert_id"] for a in self.inbox.alerts()}) >= fevers
            ):
                break
            time.sleep(0.25)
        time.sleep(1.5)  # anything extra would arrive now
        rows = self.stored_rows()
        ids = [str(row["reading_id"]) for row in rows]
        wire = Counter(
            m.json()["seq"] for m in self.probe.messages() if b'"readings"' not in m.payload
        )
        for message in self.probe.messages():
            if b'"readings"' in message.payload:
                wire.update(r["seq"] for r in message.json()["readings"])
        alerts = self.fever_alerts()
        figures = Figures(
            produced=len(producer.produced),
            stored=len(rows),
            distinct_stored=len(set(ids)),
            wire_duplicates=sum(n - 1 for n in wire.values()),
            fevers=fevers,
            alerts_delivered=len(alerts),
            distinct_alerts=len({a["alert_id"] for a in alerts}),
        )
        stored_values = Counter(float(row["temp_c"]) for row in rows)  # type: ignore[arg-type]
        produced_values = Counter(producer.produced)
        assert stored_values == produced_values, (
            f"missing {produced_values - stored_values}, extra {stored_values - produced_values}"
            f"\nedge log:\n{self.edge.log_tail()}\ngateway log:\n{self.gateway.log_tail()}"
        )
        return figures

    def fever_alerts(self) -> list[dict[str, object]]:
        """Pushed alerts raised by readings: re-check prompts, unconfirmed and confirmed
        fevers (liveness alerts of the fault itself are counted apart)."""
        return [a for a in self.inbox.alerts() if a.get("kind") in READING_ALERTS]

    def liveness_alerts(self) -> list[str]:
        """Kinds of the device and edge alerts pushed, in order."""
        return [str(a["kind"]) for a in self.inbox.alerts() if a.get("kind") not in READING_ALERTS]

    def close(self) -> None:
        for producer in self._producers:
            producer.finish.set()
            producer.join(5)
        for process in (self.edge, self.gateway):
            process.stop()
        self.probe.close()
        self.inbox.stop()
        for port in (self.handheld_port, self.reader_port):
            port.close()
        if self.proxy is not None:
            self.proxy.stop()
        for server in (self.influx, self.broker):
            server.stop()


def assert_exactly_once(figures: Figures) -> None:
    """The guarantee every fault test checks."""
    assert figures.lost == 0, figures
    assert figures.stored == figures.produced, figures
    assert figures.distinct_alerts == figures.fevers, figures
    assert figures.alerts_delivered == figures.fevers, figures
