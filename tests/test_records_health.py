"""The records service answers ``GET /health`` over real HTTP, served by uvicorn on a port."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from servers import free_port

import thermogate
from thermogate.config import RecordsSettings, Settings
from thermogate.records import build_server

pytestmark = pytest.mark.timeout(20)

START_TIMEOUT_S = 10.0


@pytest.fixture
def records_url(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> Iterator[str]:
    """The base URL of a records service running in a thread, stopped afterwards."""
    caplog.set_level(logging.INFO)
    settings = Settings(
        records=RecordsSettings(host="127.0.0.1", port=free_port(), state_dir=tmp_path)
    )
    server = build_server(settings)
    thread = threading.Thread(target=server.run, name="records-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive(), "uvicorn exited while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{settings.records.port}"
    server.should_exit = True
    thread.join(START_TIMEOUT_S)
    assert not thread.is_alive()


def test_health_answers_ok_with_the_service_and_version(records_url: str) -> None:
    response = httpx.get(f"{records_url}/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "service": "thermogate-records",
        "version": thermogate.__version__,
    }


def test_unknown_paths_are_404_and_health_is_in_the_openapi_document(records_url: str) -> None:
    assert httpx.get(f"{records_url}/no-such-thing").status_code == 404
    document = httpx.get(f"{records_url}/openapi.json").json()
    assert document["info"]["title"] == "thermogate-records"
    assert "/health" in document["paths"]


def test_uvicorn_logs_through_our_root_logger(
    records_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Another test may have set our quiet level on uvicorn's access log (configure_logging
    # does): this test is about where uvicorn's lines go, so it listens at INFO.
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    httpx.get(f"{records_url}/health").raise_for_status()

    def events() -> list[str]:
        records = caplog.get_records("setup") + caplog.get_records("call")
        return [r.getMessage() for r in records if r.name.startswith("uvicorn")]

    # uvicorn logs the access line after the response has gone out: give it a moment.
    deadline = time.monotonic() + 10
    while not any('"GET /health HTTP/1.1" 200' in e for e in events()):
        assert time.monotonic() < deadline, events()
        time.sleep(0.05)
    assert "Application startup complete." in events()
