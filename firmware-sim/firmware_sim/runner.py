"""A building's doors in motion: passages turned into swipes, frames and kiosk readings.

For each passage at a door the card reader sees the swipe (most residents swipe, some
forget), the handheld measures a moment later, and sometimes a swipe comes with no reading
after it. Handhelds send heartbeats, a malformed frame is injected every N passages when
asked, and lobby passages go to the kiosk. Counters say what was put on the lines, so a test
or the demo can compare them with what the edge and the gateway made of it.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from thermogate.config import Settings
from thermogate.firmware_sim.body import handheld_model_for
from thermogate.firmware_sim.card_reader import CardReader
from thermogate.firmware_sim.handheld import MALFORMED_FAULTS, Fault, HandheldThermometer
from thermogate.firmware_sim.kiosk import KioskMeasurement, KioskRunner
from thermogate.firmware_sim.population import DEFAULT_POPULATION_SEED, Population
from thermogate.firmware_sim.pty_port import VirtualSerialPort
from thermogate.firmware_sim.scenario import (
    Passage,
    ScenarioConfig,
    Station,
    Target,
    passages,
)

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD_C: Final = 37.3
SWIPE_DELAY_S: Final = (0.2, 1.0)
STRAY_SWIPE_SHARE: Final = 0.03
HEARTBEAT_EVERY_S: Final = 5.0
SERIAL_KINDS: Final = frozenset({"handheld", "card-reader"})

PassageObserver = Callable[[Passage, bool], None]
"""Called after each passage with whether its reading reached the line (or the kiosk)."""


@dataclass(slots=True)
class SimulationCounters:
    """What the simulation put out. Handheld counters count frames the edge will accept."""

    passages: int = 0
    readings_sent: int = 0
    """Valid handheld reading frames on the line, LO/HI/ERR included."""
    error_readings: int = 0
    """Of ``readings_sent``, those showing LO/HI/ERR."""
    fevers_sent: int = 0
    """Of ``readings_sent``, those showing a value at or above the threshold."""
    malformed_sent: int = 0
    """Injected faults the edge must refuse (one each, whatever the refusals it logs)."""
    swipes: int = 0
    heartbeats: int = 0
    kiosk_readings: int = 0
    kiosk_fevers: int = 0
    frames_dropped: int = 0
    """Frames lost because a serial buffer was full (nobody reading)."""
    unidentified: int = 0
    """Readings with no swipe before them (forgotten cards, strangers)."""
    truly_febrile: int = 0
    """Passages whose true core was a fever."""
    per_entrance: dict[str, int] = field(default_factory=dict)
    """Passages per entrance."""


def default_population(
    settings: Settings, seed: int = DEFAULT_POPULATION_SEED, *, building_id: str | None = None
) -> Population:
    """The residents of every configured building, as every component rebuilds them.

    Without ``[[buildings]]`` in the settings, the residents of ``building_id`` alone.
    """
    buildings = [b.id for b in settings.buildings] or ([building_id] if building_id else [])
    key = settings.edge.pseudonym_key.get_secret_value().encode("utf-8")
    return Population.generate(buildings, key, seed=seed)


def create_ports(
    settings: Settings, building_id: str, directory: Path
) -> dict[str, VirtualSerialPort]:
    """A pty for every serial device of a building, each linked as ``directory/<device id>``."""
    ports: dict[str, VirtualSerialPort] = {}
    for device in settings.devices:
        if device.building == building_id and device.kind in SERIAL_KINDS:
            ports[device.id] = VirtualSerialPort(directory / device.id)
    return ports


class BuildingSimulation:
    """Runs one building's passages in a thread at ``rate_per_s`` passages per real second."""

    # The positional signature is what the demo and the end-to-end tests call.
    def __init__(  # noqa: PLR0917
        self,
        settings: Settings,
        building_id: str,
        ports: dict[str, VirtualSerialPort],
        kiosk: KioskRunner | None,
        rate_per_s: float,
        fever_rate: float,
        malformed_every: int | None,
        max_passages: int | None,
        seed: int,
        *,
        speed: float = 1.0,
        threshold_c: float = DEFAULT_THRESHOLD_C,
        heartbeat_every_s: float = HEARTBEAT_EVERY_S,
        stray_swipe_share: float = STRAY_SWIPE_SHARE,
        population: Population | None = None,
        scenario: ScenarioConfig | None = None,
        on_passage: PassageObserver | None = None,
    ) -> None:
        if rate_per_s <= 0 or speed <= 0:
            raise ValueError("rate_per_s and speed must be positive")
        if malformed_every is not None and malformed_every < 1:
            raise ValueError("malformed_every must be at least 1")
        self.building_id = building_id
        self.kiosk = kiosk
        self.rate_per_s = rate_per_s
        self.malformed_every = malformed_every
        self.max_passages = max_passages
        self.speed = speed
        self.threshold_c = threshold_c
        self.heartbeat_every_s = heartbeat_every_s
        self.stray_swipe_share = stray_swipe_share
        self.population = population or default_population(settings, building_id=building_id)
        self.scenario = dataclasses.replace(scenario or ScenarioConfig(), fever_rate=fever_rate)
        self._on_passage = on_passage
        self._seed = seed
        self.handhelds: dict[str, HandheldThermometer] = {}
        self.readers: dict[str, CardReader] = {}
        stations: list[Station] = []
        for device in settings.devices:
            if device.building != building_id:
                continue
            port = ports.get(device.id)
            if device.kind == "handheld" and port is not None:
                self.handhelds[device.id] = HandheldThermometer(
                    port, device.site, device_id=device.id
                )
                stations.append(
                    Station(
                        device.id,
                        building_id,
                        device.entrance,
                        Target.HANDHELD,
                        device.site,
                        handheld_model_for(device.id),
                    )
                )
            elif device.kind == "card-reader" and port is not None:
                self.readers.setdefault(device.entrance, CardReader(port, device_id=device.id))
            elif device.kind in SERIAL_KINDS:
                log.warning("device has no port, skipped", extra={"device_id": device.id})
        if kiosk is not None and kiosk.device.building == building_id:
            stations.append(
                Station(
                    kiosk.device_id,
                    building_id,
                    kiosk.device.entrance,
                    Target.KIOSK,
                    kiosk.device.site,
                )
            )
        if not self.handhelds:
            raise ValueError(f"building {building_id!r} has no handheld with a port")
        self._stations = stations
        self._counters = SimulationCounters()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.finished = threading.Event()
        """Set when the run ended (stopped or ``max_passages`` reached)."""
        self._thread: threading.Thread | None = None

    @property
    def counters(self) -> SimulationCounters:
        """A consistent copy of the counters."""
        with self._lock:
            copy = dataclasses.replace(self._counters)
            copy.per_entrance = dict(self._counters.per_entrance)
            return copy

    def start(self) -> None:
        """Start the simulation thread."""
        if self._thread is not None:
            raise RuntimeError("simulation already started")
        self._thread = threading.Thread(
            target=self._run, name=f"sim-{self.building_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (it does within a second)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._counters, name, getattr(self._counters, name) + delta)

    def _run(self) -> None:
        rng = np.random.default_rng([self._seed, 0x5117])
        faults = itertools.cycle(MALFORMED_FAULTS)
        stream: Iterator[Passage] = passages(
            self.population, self._stations, self.building_id, self.scenario, self._seed
        )
        log.info(
            "building simulation started",
            extra={
                "building": self.building_id,
                "handhelds": sorted(self.handhelds),
                "rate_per_s": self.rate_per_s,
            },
        )
        next_heartbeat = time.monotonic()
        next_arrival = time.monotonic()
        try:
            for passage in stream:
                if self.max_passages is not None and self._counters.passages >= self.max_passages:
                    break
                next_arrival += float(rng.exponential(1.0 / self.rate_per_s))
                while not self._stop.is_set():
                    now = time.monotonic()
                    if now >= next_heartbeat:
                        self._heartbeats()
                        next_heartbeat = now + self.heartbeat_every_s
                    wait = min(next_arrival, next_heartbeat) - now
                    if wait <= 0 or now >= next_arrival:
                        break
                    self._stop.wait(wait)
                if self._stop.is_set():
                    break
                number = self._counters.passages + 1
                if self.malformed_every is not None and number % self.malformed_every == 0:
                    self._inject(passage, next(faults))
                self._pass(passage, rng)
        finally:
            self.finished.set()
            log.info(
                "building simulation ended",
                extra={"building": self.building_id, **_public(self.counters)},
            )

    def _heartbeats(self) -> None:
        for handheld in self.handhelds.values():
            if handheld.heartbeat():
                self._count(heartbeats=1)
            else:
                self._count(frames_dropped=1)

    def _inject(self, passage: Passage, fault: Fault) -> None:
        handheld = self.handhelds.get(passage.device_id) or next(iter(self.handhelds.values()))
        before = handheld.counters.heartbeats_sent
        if handheld.inject(fault):
            self._count(malformed_sent=1)
        self._count(heartbeats=handheld.counters.heartbeats_sent - before)

    def _pass(self, passage: Passage, rng: np.random.Generator) -> None:
        with self._lock:
            self._counters.passages += 1
            self._counters.per_entrance[passage.entrance] = (
                self._counters.per_entrance.get(passage.entrance, 0) + 1
            )
            self._counters.truly_febrile += int(passage.truth_febrile)
        if passage.target is Target.KIOSK and self.kiosk is not None:
            delivered = self._kiosk_pass(passage)
        else:
            delivered = self._door_pass(passage, rng)
        if self._on_passage is not None:
            self._on_passage(passage, delivered)

    def _door_pass(self, passage: Passage, rng: np.random.Generator) -> bool:
        reader = self.readers.get(passage.entrance)
        swiped = False
        if passage.card_id is not None and reader is not None:
            swiped = reader.swipe(passage.card_id)
            self._count(swipes=int(swiped), frames_dropped=int(not swiped))
            self._stop.wait(float(rng.uniform(*SWIPE_DELAY_S)) / self.speed)
        handheld = self.handhelds[passage.device_id]
        display = passage.display
        frame = handheld.measure(display.temp_c, display.error)
        if frame is None:
            self._count(frames_dropped=1)
        else:
            fever = frame.temp_c is not None and frame.temp_c >= self.threshold_c
            self._count(
                readings_sent=1,
                error_readings=int(frame.error is not None),
                fevers_sent=int(fever),
                unidentified=int(not swiped),
            )
        if reader is not None and rng.random() < self.stray_swipe_share:
            residents = self.population.in_building(self.building_id)
            if residents:
                stray = residents[int(rng.integers(len(residents)))]
                ok = reader.swipe(stray.card_id)
                self._count(swipes=int(ok), frames_dropped=int(not ok))
        return frame is not None

    def _kiosk_pass(self, passage: Passage) -> bool:
        assert self.kiosk is not None
        display = passage.display
        self.kiosk.submit(
            KioskMeasurement(display.temp_c, display.error, passage.card_id, passage.ambient_c)
        )
        fever = display.temp_c is not None and display.temp_c >= self.threshold_c
        self._count(kiosk_readings=1, kiosk_fevers=int(fever))
        return True


def _public(counters: SimulationCounters) -> dict[str, object]:
    return {k: v for k, v in dataclasses.asdict(counters).items() if k != "per_entrance"}
