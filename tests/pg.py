"""A PostgreSQL database of the test's own on the machine's server (trust auth on 5432).

Each call to :func:`scratch_database` creates a database with a unique name and drops it
afterwards, so test runs (and tests) never see each other's rows. The server is taken from
``THERMOGATE_TEST_PG`` (a libpq URL of a maintenance database) or
``postgresql://postgres@127.0.0.1:5432/postgres``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    """The libpq URL of the maintenance database the tests create their databases from."""
    return os.environ.get("THERMOGATE_TEST_PG", DEFAULT_ADMIN_URL)


@contextmanager
def scratch_database(prefix: str = "thermogate_test") -> Iterator[str]:
    """Create a fresh database, yield its SQLAlchemy URL (psycopg 3 driver), drop it after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    base = admin_url()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(base)
    user = info.get("user", "postgres")
    host = info.get("host", "127.0.0.1")
    port = info.get("port", "5432")
    try:
        yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
