"""Schemathesis against the records service's OpenAPI document, over real HTTP, logged in as
an admin (every endpoint reachable): no input makes any endpoint answer 500, and every
answer's status, content type and body are the documented ones. Examples are limited so the
run fits CI; each backend gets its own service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from records_rig import BACKEND_PARAMS, RecordsRig, database_url, make_site, running_records
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from thermogate.config import Settings
from thermogate.records.app import create_app

pytestmark = pytest.mark.timeout(600)

MAX_EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RecordsRig, str]]:
    tmp_path: Path = tmp_path_factory.mktemp(f"records-{request.param}")
    with database_url(request.param, tmp_path) as url, running_records(url, tmp_path) as rig:
        with rig.client() as admin:
            make_site(admin)
            token = admin.headers["Authorization"]
        yield rig, token


def send(case: schemathesis.Case, base_url: str, token: str) -> httpx.Response:
    """Send a generated case with httpx (schemathesis' requests transport does not work with
    the urllib3 build installed here), as schemathesis would have sent it."""
    kwargs = case.as_transport_kwargs(base_url=base_url, headers={"Authorization": token})
    body = kwargs.get("data")
    return httpx.request(
        kwargs["method"],
        kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params"),
        cookies=kwargs.get("cookies"),
        json=kwargs.get("json"),
        content=body if isinstance(body, bytes | str) else None,
        data=body if isinstance(body, dict) else None,
        files=kwargs.get("files"),
        timeout=30,
    )


SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
"""The app's OpenAPI document (building the app touches no database)."""
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations() if isinstance(result, Ok)]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_endpoint_fails_or_breaks_its_documented_contract(
    operation: APIOperation, service: tuple[RecordsRig, str]
) -> None:
    rig, token = service

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        case.validate_response(send(case, rig.url, token), checks=CHECKS)

    check()


def test_every_operation_of_the_document_is_valid_and_tested() -> None:
    results = list(SCHEMA.get_all_operations())
    assert all(isinstance(r, Ok) for r in results)
    assert len(OPERATIONS) == len(results) > 30
