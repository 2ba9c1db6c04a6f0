"""``thermogate sim``: the simulated devices of one building, for a real edge to read.

Every serial device of the building gets a pty linked as ``<ports-dir>/<device id>`` (point
the device's ``port`` in the configuration there), every kiosk of the building publishes to
the configured broker, and residents enter at ``--rate`` per second until ``--duration`` or a
signal.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading
from pathlib import Path

from thermogate.config import Settings
from thermogate.firmware_sim.kiosk import KioskRunner
from thermogate.firmware_sim.runner import BuildingSimulation, create_ports

log = logging.getLogger(__name__)


def run_sim(settings: Settings, args: argparse.Namespace, stop: threading.Event) -> int:
    """Run one building's devices; 0 when it ran, 2 when the building is not configured."""
    if args.building not in {b.id for b in settings.buildings}:
        log.error("unknown building", extra={"building": args.building})
        return 2
    ports_dir: Path = args.ports_dir
    with contextlib.ExitStack() as stack:
        ports = create_ports(settings, args.building, ports_dir)
        for device_id, port in ports.items():
            stack.callback(port.close)
            configured = settings.device(device_id)
            if configured is not None and configured.port != port.device:
                log.warning(
                    "configured port differs from the simulated one",
                    extra={
                        "device_id": device_id,
                        "configured": configured.port,
                        "simulated": port.device,
                    },
                )
            log.info(
                "virtual serial port ready",
                extra={"device_id": device_id, "port": port.device, "pty": port.path},
            )
        kiosk_ids = [
            d.id for d in settings.devices if d.building == args.building and d.kind == "kiosk"
        ]
        kiosk = None
        if kiosk_ids:
            kiosk = KioskRunner.from_settings(settings, kiosk_ids[0], ports_dir / "state")
            kiosk.start()
            stack.callback(kiosk.stop)
        simulation = BuildingSimulation(
            settings,
            args.building,
            ports,
            kiosk,
            args.rate,
            args.fever_rate,
            args.malformed_every,
            None,
            args.seed,
            threshold_c=settings.gateway.threshold_c,
        )
        simulation.start()
        stop.wait(args.duration)
        simulation.stop()
        simulation.join(5)
        log.info("simulation ended", extra={"counters": str(simulation.counters)})
    return 0
