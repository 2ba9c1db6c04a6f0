"""The ``thermogate records ...`` actions (parsed in thermogate.cli): migrate, create a user,
import a CSV, seed."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session, sessionmaker

from thermogate.config import Settings
from thermogate.records.db.engine import make_engine, make_sessions
from thermogate.records.db.migrate import upgrade_to_head
from thermogate.records.security.pseudonyms import pseudonym_key
from thermogate.records.security.roles import Role
from thermogate.records.services.importer import ImportFailedError, import_csv
from thermogate.records.services.users import UserError, create_user

log = logging.getLogger(__name__)

Action = Callable[[Settings, sessionmaker[Session], argparse.Namespace], int]


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the chosen action on the configured database; the exit status of the command."""
    name = getattr(args, "records_command", None)
    if name in (None, "serve"):
        from thermogate.records.server import serve  # noqa: PLC0415 - only when serving

        serve(settings)
        return 0
    engine = make_engine(settings.records.sqlalchemy_url)
    try:
        upgrade_to_head(engine)
        return ACTIONS[name](settings, make_sessions(engine), args)
    finally:
        engine.dispose()


def _migrate(
    _settings: Settings, _sessions: sessionmaker[Session], _args: argparse.Namespace
) -> int:
    print("migrated to head")  # noqa: T201 - the command's answer
    return 0


def _create_user(
    _settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace
) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
    with sessions() as session:
        try:
            create_user(
                session,
                args.username,
                password,
                Role(args.role),
                unit=args.unit,
                grid_unit=args.grid_unit,
            )
        except UserError as exc:
            print(f"thermogate records create-user: {exc}", file=sys.stderr)  # noqa: T201
            return 1
        session.commit()
    print(f"created {args.username} ({args.role})")  # noqa: T201
    return 0


def _import(settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace) -> int:
    """Import one CSV file; every error is printed with its row and column."""
    path: Path = args.file
    text = path.read_text(encoding="utf-8-sig")
    with sessions() as session:
        try:
            result = import_csv(session, args.kind, text, pseudonym_key(settings))
        except ImportFailedError as exc:
            for error in exc.errors:
                print(f"{path}: {error}", file=sys.stderr)  # noqa: T201
            print(f"{path}: nothing imported", file=sys.stderr)  # noqa: T201
            return 1
        session.commit()
    print(f"{path}: {result.created} created, {result.updated} updated")  # noqa: T201
    return 0


def _seed(settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace) -> int:
    from thermogate.records.seed import seed_site  # noqa: PLC0415 - only when seeding

    with sessions() as session:
        summary = seed_site(
            session, settings, per_building=args.students_per_building, days=args.days
        )
        session.commit()
    print(summary)  # noqa: T201
    return 0


ACTIONS: Final[dict[str, Action]] = {
    "migrate": _migrate,
    "create-user": _create_user,
    "import": _import,
    "seed": _seed,
}
