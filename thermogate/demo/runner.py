"""``thermogate demo``: the whole path on one machine with embedded defaults.

An MQTT broker (Mosquitto when installed, amqtt otherwise), the simulated devices of Wenyuan
Building 2 and 3 on virtual serial ports and a kiosk per lobby, one edge agent per building,
the gateway, an embedded SQLite time-series store (and the InfluxDB sinks of ``--config``),
alert delivery to a local inbox, the records service with the alert lifecycle and the clinic
and duty desk (:mod:`thermogate.demo.records`), the clinic robot that answers fever
notifications on the web pages (:mod:`thermogate.demo.robot`), and a live terminal view.
A febrile resident of Wenyuan Building 2 passes the door twice in the first seconds, so a
confirmed fever happens early whatever the fever rate. ``--duration`` ends it with a summary;
Ctrl-C does too.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.live import Live

from thermogate.alerts import LocalInbox
from thermogate.config import Settings, load_settings
from thermogate.contract.topics import readings_topic
from thermogate.demo.broker import EmbeddedBroker
from thermogate.demo.records import DemoRecords, DeskAccount, free_local_socket, prepare
from thermogate.demo.robot import ClinicRobot
from thermogate.demo.site import demo_document
from thermogate.demo.view import DeskView, EntranceRow, Snapshot, render
from thermogate.edge.agent import EdgeAgent
from thermogate.firmware_sim.kiosk import KioskRunner
from thermogate.firmware_sim.rig import Traffic, open_building
from thermogate.firmware_sim.runner import BuildingSimulation
from thermogate.firmware_sim.scenario import FebrileVisit, ScenarioConfig, Weather
from thermogate.gateway.service import Gateway
from thermogate.ingest import SqliteStore
from thermogate.log import configure_logging

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S: Final = 20.0
REFRESH_S: Final = 0.5
BAD_PAYLOAD_EVERY_S: Final = 15.0
BAD_PAYLOADS: Final = (
    b'{"v":1,"device_id":"broken',  # malformed JSON
    b'{"v":1,"device_id":"hh-w2-main-1","seq":"x"}',  # wrong types, missing fields
    b"\xff\xfe not UTF-8",
)
"""A misbehaving client publishes one of these now and then, to show the dead-letter path."""
EARLY_FEVER: Final = tuple(FebrileVisit(index=i, resident=0, core_c=40.5) for i in (4, 12, 20, 28))
"""The first resident of the first building passes the door febrile four times in the first
15 seconds or so, very high (the door shows about 38.9 °C or more): a fever at once, and the
re-check confirms besides (even if the edge pairs one reading with another swipe, as a busy
door can), so an alert of an identified person, with a case, comes early."""
PHONES_PATH: Final = "/phones"


@dataclass(slots=True)
class DemoParts:
    """Everything the demo started, so that it can stop it in reverse order."""

    broker: EmbeddedBroker
    inbox: LocalInbox
    phones: LocalInbox
    """Where every staff member's lifecycle notifications arrive (``phones.jsonl``)."""
    records: DemoRecords
    accounts: tuple[DeskAccount, DeskAccount]
    robot: ClinicRobot | None
    settings: Settings
    store: SqliteStore
    gateway: Gateway
    edges: list[EdgeAgent]
    kiosks: list[KioskRunner]
    sims: list[BuildingSimulation]


def demo_settings(
    args: argparse.Namespace,
    workdir: Path,
    broker: EmbeddedBroker,
    inbox: LocalInbox,
    records_port: int,
) -> Settings:
    """The embedded site, pointed at the embedded broker and inbox, plus ``--config`` sinks;
    the records service on ``records_port`` with SQLite in the work dir and the lifecycle."""
    document = demo_document(workdir, workdir / "dev")
    document["mqtt"] = {"host": broker.host, "port": broker.port, "protocol": broker.protocol}
    document["alerts"] = {
        "push_urls": [inbox.apprise_url],
        "retry_initial_s": 0.2,
        "public_base_url": f"http://127.0.0.1:{records_port}",
    }
    document["records"] = {
        "host": "127.0.0.1",
        "port": records_port,
        "state_dir": str(workdir / "records"),
        "alert_lifecycle": "mqtt",
    }
    document["gateway"] = {"batch_wait_ms": 100, "state_dir": str(workdir / "gateway")}
    if args.config is not None:
        user = load_settings(args.config)
        document["ingest"]["sinks"] += [s for s in user.ingest.sinks if s.kind != "sqlite"]
        document["alerts"]["push_urls"] += user.alerts.push_urls
        document["gateway"]["threshold_c"] = user.gateway.threshold_c
    return Settings.model_validate(document)


def _start(
    args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack, began: float
) -> DemoParts:
    broker = EmbeddedBroker(workdir, prefer=args.broker)
    broker.start()
    stack.callback(broker.stop)
    inbox = LocalInbox(jsonl_path=workdir / "inbox.jsonl").start()
    stack.callback(inbox.stop)
    phones = LocalInbox(path=PHONES_PATH, jsonl_path=workdir / "phones.jsonl").start()
    stack.callback(phones.stop)
    sock = free_local_socket()
    settings = demo_settings(args, workdir, broker, inbox, sock.getsockname()[1])
    clinic, duty = _records_accounts(settings, phones)
    records = DemoRecords(settings, sock)
    records.start()
    stack.callback(records.stop)
    robot = None
    if not args.no_robot:
        robot = ClinicRobot(phones, records.url, clinic, began=began).start()
        stack.callback(robot.stop)
    gateway = Gateway(settings)
    gateway.start()
    stack.callback(gateway.stop)
    sims: list[BuildingSimulation] = []
    kiosks: list[KioskRunner] = []
    for building in settings.buildings:
        traffic = Traffic(
            rate_per_s=args.rate,
            fever_rate=args.fever_rate,
            malformed_every=args.malformed_every,
            seed=args.seed + len(sims),
            scenario=ScenarioConfig(
                weather=Weather.constant(args.outdoor_c),
                febrile_visits=() if sims else EARLY_FEVER,
            ),
        )
        rig = open_building(
            settings, building.id, workdir / "dev", workdir / "kiosk", traffic=traffic, stack=stack
        )
        sims.append(rig.simulation)
        kiosks.extend([rig.kiosk] if rig.kiosk is not None else [])
    edges = [EdgeAgent(settings, edge.id) for edge in settings.edges]
    for edge in edges:
        edge.start()
        stack.callback(edge.stop)
    components: list[Gateway | EdgeAgent] = [gateway, *edges]
    for component in components:
        if not component.wait_connected(10):
            raise RuntimeError("could not connect to the embedded broker")
    # The gateway's embedded sink, read here by the live view.
    store = SqliteStore(workdir / "screening.sqlite3")
    stack.callback(store.close)
    return DemoParts(
        broker,
        inbox,
        phones,
        records,
        (clinic, duty),
        robot,
        settings,
        store,
        gateway,
        edges,
        kiosks,
        sims,
    )


def _records_accounts(settings: Settings, phones: LocalInbox) -> tuple[DeskAccount, DeskAccount]:
    clinic, duty, summary = prepare(settings, phones.apprise_url)
    log.info("demo records seeded", extra={"summary": summary})
    return clinic, duty


@contextlib.contextmanager
def _workdir(requested: Path | None) -> Iterator[Path]:
    if requested is not None:
        requested.mkdir(parents=True, exist_ok=True)
        yield requested
        return
    path = Path(tempfile.mkdtemp(prefix="thermogate-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _snapshot(parts: DemoParts, elapsed: float) -> Snapshot:
    stored = parts.store.counts_by_entrance()
    alerts = parts.inbox.alerts()
    rows = []
    for sim in parts.sims:
        counters = sim.counters
        for entrance in sorted(
            {d.entrance for d in parts.settings.devices if d.building == sim.building_id}
        ):
            rows.append(
                EntranceRow(
                    building=sim.building_id,
                    entrance=entrance,
                    sent=counters.readings_sent + counters.kiosk_readings,
                    stored=stored.get((sim.building_id, entrance), 0),
                    fevers_sent=counters.fevers_sent + counters.kiosk_fevers,
                    alerts=sum(a.get("building") == sim.building_id for a in alerts),
                )
            )
    gateway = parts.gateway.stats
    desk = DeskView(
        url=parts.records.desk_url,
        counts=parts.records.counts(),
        robot=parts.robot.steps if parts.robot is not None else None,
    )
    return Snapshot(
        elapsed_s=elapsed,
        broker=parts.broker.kind,
        rows=rows,
        stored_total=gateway.stored,
        dead_letters_edge=sum(sum(e.stats.rejected.values()) for e in parts.edges),
        dead_letters_gateway=gateway.dead_letters,
        alerts_raised=gateway.alerts,
        alerts_delivered=len(alerts),
        recent_alerts=alerts,
        desk=desk,
    )


class _Misbehaver:
    """A client that sometimes publishes garbage, as a faulty or hostile device would."""

    def __init__(self, settings: Settings) -> None:
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id="demo-misbehaving-client",
            protocol=paho.MQTTv5 if settings.mqtt.protocol == "5" else paho.MQTTv311,
        )
        self._client.connect(settings.mqtt.host, settings.mqtt.port)
        self._client.loop_start()
        self._topic = readings_topic("wenyuan-2", "main", "hh-w2-main-1")
        self._sent = 0
        self._last = time.monotonic()

    def tick(self) -> None:
        if time.monotonic() - self._last >= BAD_PAYLOAD_EVERY_S:
            self._last = time.monotonic()
            payload = BAD_PAYLOADS[self._sent % len(BAD_PAYLOADS)]
            self._client.publish(self._topic, payload, qos=1)
            self._sent += 1

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _expected(parts: DemoParts) -> int:
    return sum(s.counters.readings_sent + s.counters.kiosk_readings for s in parts.sims)


def _drain(parts: DemoParts) -> None:
    """Wait until everything sent is stored (or the drain timeout)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        if parts.gateway.stats.stored >= _expected(parts) and parts.gateway.alerts.wait_idle(0.1):
            return
        time.sleep(0.2)


def run_demo(args: argparse.Namespace, stop: threading.Event) -> int:
    """Run the demo; 0 when every reading sent was stored, 1 otherwise."""
    console = Console()
    began = time.monotonic()
    with _workdir(args.workdir) as workdir, contextlib.ExitStack() as stack:
        console.print(f"[bold]thermogate demo[/] starting in {workdir} …")
        if args.log_level is None:
            # Keep the terminal for the live view; the logs go to a file in the work dir.
            configure_logging("INFO", args.log_format or "json", (workdir / "demo.log").open("a"))
        parts = _start(args, workdir, stack, began)
        misbehaver = _Misbehaver(parts.settings)
        stack.callback(misbehaver.close)
        startup_s = time.monotonic() - began
        for sim in parts.sims:
            sim.start()
        console.print(
            f"started in {startup_s:.2f} s: broker {parts.broker.kind} on port "
            f"{parts.broker.port}, {len(parts.edges)} edges, {len(parts.kiosks)} kiosks, "
            f"inbox {parts.inbox.url}"
        )
        clinic, duty = parts.accounts
        console.print(
            f"clinic and duty desk: [bold]{parts.records.desk_url}[/]  "
            f"(demo-only accounts: {clinic.username} / {clinic.password}, "
            f"{duty.username} / {duty.password}); notifications: {parts.phones.url}"
            + ("" if parts.robot is None else "; the clinic robot answers fevers (--no-robot)")
        )
        run_began = time.monotonic()
        deadline = None if args.duration is None else run_began + args.duration
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                misbehaver.tick()
                if not args.no_view:
                    live.update(render(_snapshot(parts, time.monotonic() - run_began)))
                stop.wait(REFRESH_S)
        for sim in parts.sims:
            sim.stop()
        for sim in parts.sims:
            sim.join(5)
        _drain(parts)
        if parts.robot is not None:
            parts.robot.stop()
        elapsed = time.monotonic() - run_began
        summary = _summary(parts, elapsed, startup_s)
        console.print()
        for line in summary:
            console.print(line)
        return 0 if parts.gateway.stats.stored >= _expected(parts) else 1


def _summary(parts: DemoParts, elapsed: float, startup_s: float) -> list[Any]:
    snapshot = _snapshot(parts, elapsed)
    sent = _expected(parts)
    handheld = sum(s.counters.readings_sent for s in parts.sims)
    stored = parts.gateway.stats.stored
    return [
        f"[bold]summary[/] after {elapsed:.1f} s (broker {parts.broker.kind}, "
        f"started in {startup_s:.2f} s)",
        f"  readings sent     {sent:6d}  (handheld {handheld}, kiosk {sent - handheld})",
        f"  readings stored   {stored:6d}  ({parts.store.count()} in the embedded store)"
        + ("" if stored >= sent else f"  [red]{sent - stored} missing[/]"),
        f"  alerts raised     {snapshot.alerts_raised:6d}  "
        f"(delivered to the inbox {snapshot.alerts_delivered})",
        f"  dead letters      {snapshot.dead_letters_edge + snapshot.dead_letters_gateway:6d}"
        f"  (edge {snapshot.dead_letters_edge} bad frames, gateway "
        f"{snapshot.dead_letters_gateway} bad payloads)",
        f"  throughput        {stored / max(elapsed, 1e-9):6.1f} readings/s",
        *_desk_summary(parts, snapshot),
    ]


def _desk_summary(parts: DemoParts, snapshot: Snapshot) -> list[str]:
    """The lifecycle's and the cases' figures, and what the clinic robot did, with times."""
    if snapshot.desk is None:
        return []
    counts = snapshot.desk.counts
    lines = [
        f"  lifecycle alerts  {counts.alerts:6d}  ({counts.acknowledged} acknowledged, "
        f"{counts.cleared} cleared; {counts.notifications_sent} notifications sent)",
        f"  fever cases       {counts.open_cases + counts.closed_cases:6d}  "
        f"({counts.open_cases} open, {counts.closed_cases} cleared)",
        f"  desk              {parts.records.desk_url}",
    ]
    if parts.robot is not None:
        steps = parts.robot.steps
        lines.append(
            f"  clinic robot      {len(steps):6d}  steps"
            + (" (seconds since start):" if steps else "")
        )
        lines += [f"    {step.at_s:7.1f} s  {step.text}" for step in steps]
    return lines
