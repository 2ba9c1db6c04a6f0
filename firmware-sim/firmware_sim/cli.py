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
from thermogate.firmware_sim.rig import Traffic, open_building

log = logging.getLogger(__name__)


def run_sim(settings: Settings, args: argparse.Namespace, stop: threading.Event) -> int:
    """Run one building's devices; 0 when it ran, 2 when the building is not configured."""
    if args.building not in {b.id for b in settings.buildings}:
        log.error("unknown building", extra={"building": args.building})
        return 2
    ports_dir: Path = args.ports_dir
    traffic = Traffic(args.rate, args.fever_rate, args.malformed_every, args.seed)
    with contextlib.ExitStack() as stack:
        rig = open_building(
            settings, args.building, ports_dir, ports_dir / "state", traffic=traffic, stack=stack
        )
        for device_id, port in rig.ports.items():
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
        rig.simulation.start()
        stop.wait(args.duration)
    log.info("simulation ended", extra={"counters": str(rig.simulation.counters)})
    return 0
