"""One building's simulated devices, wired up: its ptys, its kiosk and its simulation.

The demo and ``thermogate sim`` both need exactly this; :func:`open_building` builds it and
registers every teardown on the caller's exit stack, in the right order.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from thermogate.config import Settings
from thermogate.firmware_sim.kiosk import KioskRunner
from thermogate.firmware_sim.pty_port import VirtualSerialPort
from thermogate.firmware_sim.runner import BuildingSimulation, create_ports
from thermogate.firmware_sim.scenario import ScenarioConfig


@dataclass(frozen=True, slots=True)
class Traffic:
    """How residents move through a building in a simulation."""

    rate_per_s: float
    fever_rate: float
    malformed_every: int | None
    seed: int
    scenario: ScenarioConfig | None = None


@dataclass(frozen=True, slots=True)
class BuildingRig:
    """What :func:`open_building` started (the simulation itself is not started yet)."""

    ports: dict[str, VirtualSerialPort]
    kiosk: KioskRunner | None
    simulation: BuildingSimulation


def open_building(
    settings: Settings,
    building_id: str,
    ports_dir: Path,
    state_dir: Path,
    *,
    traffic: Traffic,
    stack: contextlib.ExitStack,
) -> BuildingRig:
    """Create the building's ptys (linked as ``ports_dir/<device id>``), start its kiosk."""
    ports = create_ports(settings, building_id, ports_dir)
    for port in ports.values():
        stack.callback(port.close)
    kiosk_ids = [d.id for d in settings.devices if d.building == building_id and d.kind == "kiosk"]
    kiosk = None
    if kiosk_ids:
        kiosk = KioskRunner.from_settings(settings, kiosk_ids[0], state_dir)
        kiosk.start()
        stack.callback(kiosk.stop)
    simulation = BuildingSimulation(
        settings,
        building_id,
        ports,
        kiosk,
        traffic.rate_per_s,
        traffic.fever_rate,
        traffic.malformed_every,
        None,
        traffic.seed,
        threshold_c=settings.gateway.threshold_c,
        scenario=traffic.scenario,
    )
    stack.callback(simulation.join, 5)
    stack.callback(simulation.stop)
    return BuildingRig(ports, kiosk, simulation)
