"""The ``thermogate`` command: one entry point, a subcommand per job.

Each subcommand builds its settings in ``main`` (never at import), configures logging, runs
until done or until SIGINT/SIGTERM, and exits with a status a supervisor can act on:
0 done, 1 failure, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from thermogate import __version__
from thermogate.config import CONFIG_PATH_VARIABLE, ConfigError, Settings, load_settings
from thermogate.log import configure_logging

log = logging.getLogger("thermogate")

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


def _stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so every command shuts down cleanly."""
    stop = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    level = args.log_level or settings.log.level
    configure_logging(level, args.log_format or settings.log.format)
    return settings


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a configuration file without starting anything."""
    settings = load_settings(args.file)
    print(  # noqa: T201 - the command's answer
        f"{args.file}: valid ({len(settings.buildings)} buildings, {len(settings.devices)} "
        f"devices, {len(settings.edges)} edges, {len(settings.ingest.sinks)} sinks, "
        f"environment {settings.environment})"
    )
    return EXIT_OK


def cmd_edge(args: argparse.Namespace) -> int:
    """Run one edge agent."""
    from thermogate.edge.agent import run_edge  # noqa: PLC0415 - load only what runs

    settings = _settings(args)
    run_edge(settings, args.id, _stop_on_signals())
    return EXIT_OK


def cmd_gateway(args: argparse.Namespace) -> int:
    """Run the gateway."""
    from thermogate.gateway.service import run_gateway  # noqa: PLC0415

    settings = _settings(args)
    run_gateway(settings, _stop_on_signals())
    return EXIT_OK


def cmd_sim(args: argparse.Namespace) -> int:
    """Run simulated devices for one building."""
    from thermogate.firmware_sim.cli import run_sim  # noqa: PLC0415

    settings = _settings(args)
    return run_sim(settings, args, _stop_on_signals())


def cmd_records(args: argparse.Namespace) -> int:
    """Run the records service (or migrate, create-user, import, seed)."""
    from thermogate.records.commands import run  # noqa: PLC0415

    return run(_settings(args), args)


def cmd_dashboards(args: argparse.Namespace) -> int:
    """Build the Grafana dashboards' JSON, or push dashboards and data sources to Grafana."""
    from thermogate.dashboards.cli import run_build, run_push  # noqa: PLC0415

    if args.dashboards_command == "build":
        return run_build(args)
    return run_push(args, _settings(args).dashboards)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run Wenyuan Building 2 and 3 end to end on this machine."""
    from thermogate.demo.runner import run_demo  # noqa: PLC0415

    configure_logging(args.log_level or "WARNING", args.log_format or "console")
    return run_demo(args, _stop_on_signals())


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a recorded CSV through the decision engine, in time order."""
    from thermogate.replay import run_replay  # noqa: PLC0415

    settings = load_settings(args.config)
    configure_logging(args.log_level or "WARNING", args.log_format or "console")
    return run_replay(args.input, args.out, settings, strict=args.strict)


def _records_actions(records: argparse.ArgumentParser) -> None:
    """``thermogate records [serve|migrate|create-user|import|seed]`` (serve by default)."""
    sub = records.add_subparsers(dest="records_command", metavar="ACTION")
    sub.add_parser("serve", help="serve the API (the default)")
    sub.add_parser("migrate", help="bring the database to the newest schema")
    user = sub.add_parser("create-user", help="add an account (the password is asked for)")
    user.add_argument("username")
    user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    user.add_argument(
        "--role",
        required=True,
        choices=["admin", "duty", "unit_supervisor", "grid_leader", "clinic", "gateway"],
    )
    user.add_argument("--unit", help="dorm unit code of a unit_supervisor")
    user.add_argument("--grid-unit", help="grid unit code of a grid_leader")
    load = sub.add_parser("import", help="import a CSV in one transaction (idempotent)")
    load.add_argument("kind", choices=["rooms", "roster", "staff", "students"])
    load.add_argument("file", type=Path)
    seed = sub.add_parser("seed", help="fill the database with the fictional demo site")
    seed.add_argument("--students-per-building", type=int, default=240)
    seed.add_argument("--days", type=int, default=7, help="days of roster from today")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="thermogate",
        description="Open fever-screening gateway: devices, edge, MQTT, fever rules, storage, "
        "alerts.",
    )
    parser.add_argument("--version", action="version", version=f"thermogate {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    common.add_argument("--log-format", choices=["json", "console"])
    configured = argparse.ArgumentParser(add_help=False, parents=[common])
    configured.add_argument(
        "--config",
        "-c",
        type=Path,
        default=Path(os.environ[CONFIG_PATH_VARIABLE])
        if CONFIG_PATH_VARIABLE in os.environ
        else None,
        help=f"TOML configuration file (default: ${CONFIG_PATH_VARIABLE}; built-in defaults apply "
        "when neither is set)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", parents=[configured], help=cmd_demo.__doc__)
    demo.add_argument("--duration", type=float, help="seconds to run, then stop with a summary")
    demo.add_argument("--rate", type=float, default=2.0, help="entries per second per building")
    demo.add_argument("--fever-rate", type=float, default=0.05, help="share of febrile person-days")
    demo.add_argument(
        "--outdoor-c",
        type=float,
        default=8.0,
        help="outdoor temperature: cold arrivals read low at the door (issue 4 corrects it)",
    )
    demo.add_argument("--malformed-every", type=int, default=25, help="inject a bad frame every N")
    demo.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "amqtt"],
        default="auto",
        help="embedded broker: Mosquitto when on PATH (auto), or amqtt in-process",
    )
    demo.add_argument("--no-view", action="store_true", help="no live terminal view")
    demo.add_argument(
        "--no-robot",
        action="store_true",
        help="leave fever alerts to a person at the desk (no clinic robot)",
    )
    demo.add_argument("--workdir", type=Path, help="keep state here (default: a temp dir)")
    demo.add_argument("--seed", type=int, default=2020)
    demo.set_defaults(handler=cmd_demo)

    sim = sub.add_parser("sim", parents=[configured], help=cmd_sim.__doc__)
    sim.add_argument("--building", required=True, help="building id, e.g. wenyuan-2")
    sim.add_argument("--ports-dir", type=Path, required=True, help="where to link the ptys")
    sim.add_argument("--rate", type=float, default=1.0, help="entries per second")
    sim.add_argument("--fever-rate", type=float, default=0.01)
    sim.add_argument("--malformed-every", type=int, help="inject a bad frame every N entries")
    sim.add_argument("--duration", type=float, help="seconds to run")
    sim.add_argument("--seed", type=int, default=2020)
    sim.set_defaults(handler=cmd_sim)

    edge = sub.add_parser("edge", parents=[configured], help=cmd_edge.__doc__)
    edge.add_argument("--id", required=True, help="the [[edges]] id to run")
    edge.set_defaults(handler=cmd_edge)

    gateway = sub.add_parser("gateway", parents=[configured], help=cmd_gateway.__doc__)
    gateway.set_defaults(handler=cmd_gateway)

    records = sub.add_parser("records", parents=[configured], help=cmd_records.__doc__)
    records.set_defaults(handler=cmd_records)
    _records_actions(records)

    replay = sub.add_parser("replay", parents=[configured], help=cmd_replay.__doc__)
    replay.add_argument("input", type=Path, metavar="IN", help="recorded readings (CSV, UTF-8)")
    replay.add_argument("--out", type=Path, required=True, help="the CSV written, with decisions")
    replay.add_argument(
        "--strict", action="store_true", help="stop at the first bad row (exit status 2)"
    )
    replay.set_defaults(handler=cmd_replay)

    dashboards = sub.add_parser("dashboards", parents=[configured], help=cmd_dashboards.__doc__)
    from thermogate.dashboards.cli import add_arguments  # noqa: PLC0415 - load only what runs

    add_arguments(dashboards)
    dashboards.set_defaults(handler=cmd_dashboards)

    check = sub.add_parser("check-config", parents=[common], help=cmd_check_config.__doc__)
    check.add_argument("file", type=Path)
    check.set_defaults(handler=cmd_check_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``thermogate`` console script."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"thermogate: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
