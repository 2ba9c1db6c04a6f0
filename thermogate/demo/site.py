"""The demo's embedded site: two buildings, their devices and edges, as a settings document.

Each building has a main entrance with a handheld forehead thermometer and a card reader at
the door (read by the building's edge agent over two virtual serial ports) and a canthus kiosk
in the lobby that publishes by itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BUILDINGS = (("wenyuan-2", "Wenyuan Building 2", "w2"), ("wenyuan-3", "Wenyuan Building 3", "w3"))


def demo_document(workdir: Path, ports_dir: Path) -> dict[str, Any]:
    """The settings document of the demo site (before broker, sinks and alert targets)."""
    buildings: list[dict[str, Any]] = []
    devices: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for building_id, name, short in BUILDINGS:
        buildings.append({"id": building_id, "name": name, "entrances": ["main"]})
        handheld, reader, kiosk = f"hh-{short}-main-1", f"cr-{short}-main-1", f"ks-{short}-lobby-1"
        common = {"building": building_id, "entrance": "main"}
        devices += [
            {
                "id": handheld,
                "kind": "handheld",
                "site": "forehead",
                "placement": "door",
                "port": str(ports_dir / handheld),
                **common,
            },
            {"id": reader, "kind": "card-reader", "port": str(ports_dir / reader), **common},
            {"id": kiosk, "kind": "kiosk", "site": "canthus", "placement": "lobby", **common},
        ]
        edges.append({"id": f"edge-{short}-main", **common, "devices": [handheld, reader]})
    return {
        "buildings": buildings,
        "devices": devices,
        "edges": edges,
        "edge": {"data_dir": str(workdir / "edge")},
        "ingest": {"sinks": [{"kind": "sqlite", "path": str(workdir / "screening.sqlite3")}]},
    }
