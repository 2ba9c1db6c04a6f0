"""The ``thermogate dashboards`` subcommands: ``build`` writes (or checks) the JSON files,
``push`` uploads everything into a running Grafana."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Final

from grafana_client.client import GrafanaException

from thermogate.config import DashboardsSettings
from thermogate.dashboards.build import JSON_DIR, stale_files, write_files
from thermogate.dashboards.catalog import dashboards
from thermogate.dashboards.push import connect, push

log = logging.getLogger(__name__)

TOKEN_VARIABLE: Final = "GRAFANA_TOKEN"  # noqa: S105 - a variable name, not a secret


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``build`` and ``push`` under ``thermogate dashboards``."""
    sub = parser.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="write dashboards/json from the code")
    build.add_argument("--out", type=Path, default=JSON_DIR, help="directory of the JSON files")
    build.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the files are stale"
    )
    upload = sub.add_parser("push", help="upsert folder, data sources and dashboards in Grafana")
    upload.add_argument("--url", required=True, help="Grafana's base URL, e.g. http://grafana:3000")
    upload.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE),
        help=f"service account token (Editor or Admin); default ${TOKEN_VARIABLE}",
    )
    upload.add_argument(
        "--force", action="store_true", help="rewrite every data source (rotated secrets)"
    )


def run_build(args: argparse.Namespace) -> int:
    """Write the JSON files, or with ``--check`` report the stale ones."""
    if args.check:
        stale = stale_files(args.out)
        for name in stale:
            print(f"{args.out / name}: differs from the code", file=sys.stderr)  # noqa: T201
        return 1 if stale else 0
    for path in write_files(args.out):
        print(path)  # noqa: T201 - the command's answer
    return 0


def run_push(args: argparse.Namespace, settings: DashboardsSettings) -> int:
    """Push to Grafana; 1 when Grafana refused or could not be reached."""
    if not args.token:
        print(f"thermogate: --token or ${TOKEN_VARIABLE} is required", file=sys.stderr)  # noqa: T201
        return 2
    try:
        report = push(connect(args.url, args.token), settings, dashboards(), force=args.force)
    except (GrafanaException, OSError) as exc:
        print(f"thermogate: Grafana at {args.url} refused the push: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    for kind, names in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
    ):
        for name in names:
            print(f"{kind:9} {name}")  # noqa: T201
    print(report.summary())  # noqa: T201
    return 0
