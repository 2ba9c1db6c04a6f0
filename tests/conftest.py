"""Shared fixtures: real servers started by the tests themselves, on free ports.

The server fixtures are function-scoped: each test gets a fresh server in its own
``tmp_path`` and the server is stopped afterwards; tests using them are marked ``servers``.
A missing binary fails the test with the Debian package to install (CI installs them);
nothing is silently skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from pg import scratch_database
from servers import (
    BinaryMissingError,
    InfluxDB1Server,
    MosquittoServer,
    Server,
    VictoriaMetricsServer,
)

S = TypeVar("S", bound=Server)
SERVER_FIXTURES = frozenset({"mosquitto", "influxdb1", "victoria_metrics", "postgres_url"})


@pytest.hookimpl(tryfirst=True)  # before `-m "not servers"` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a server fixture with ``servers``."""
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


def _run(factory: type[S], base_dir: Path) -> Iterator[S]:
    try:
        server = factory(base_dir)
    except BinaryMissingError as exc:
        pytest.fail(str(exc), pytrace=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    """A Mosquitto broker of its own (MQTT 3.1.1 and 5, anonymous, persistent)."""
    yield from _run(MosquittoServer, tmp_path / "mosquitto")


@pytest.fixture
def influxdb1(tmp_path: Path) -> Iterator[InfluxDB1Server]:
    """An InfluxDB 1.x server of its own (no databases yet)."""
    yield from _run(InfluxDB1Server, tmp_path / "influxdb1")


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetricsServer]:
    """A VictoriaMetrics server of its own (Influx line protocol at /api/v2/write)."""
    yield from _run(VictoriaMetricsServer, tmp_path / "victoria-metrics")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database of this test's own (SQLAlchemy URL), dropped afterwards."""
    with scratch_database() as url:
        yield url
