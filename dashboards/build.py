"""Write the dashboards' JSON into ``dashboards/json`` (kept in git, read by Grafana's file
provisioning) and tell whether the files on disk are what the code generates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from thermogate.dashboards.catalog import dashboards

JSON_DIR = Path(__file__).resolve().parent / "json"


def render(document: dict[str, Any]) -> str:
    """The canonical text of a dashboard: sorted keys would scramble Grafana's reading order,
    so keys keep the model's order; two-space indent, UTF-8, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """file name -> the text the code generates."""
    return {board.file_name: render(board.to_json()) for board in dashboards()}


def stale_files(directory: Path = JSON_DIR) -> list[str]:
    """Files missing, differing from the code, or left over from a removed dashboard."""
    expected = expected_files()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]
    stale += sorted(p.name for p in directory.glob("*.json") if p.name not in expected)
    return stale


def write_files(directory: Path = JSON_DIR) -> list[Path]:
    """Write every dashboard; remove JSON files of dashboards that no longer exist."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = expected_files()
    for path in directory.glob("*.json"):
        if path.name not in expected:
            path.unlink()
    written = []
    for name, text in expected.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
