"""The gateway's view of the records service: the device registry and the places of people,
fetched over HTTP, cached on disk, and answered from the cache while the service is down.

Each successful fetch replaces the cache file atomically (written to a temporary file,
flushed to disk, then renamed), so a crash never leaves half a file. When the service cannot
be reached, or answers an error, the last cached copy is returned with ``from_cache=True``;
only when there is no cache at all does :class:`RecordsUnavailableError` reach the caller.
It also sends decided readings and alerts (:meth:`RecordsClient.send_readings`,
:meth:`RecordsClient.send_alert`); those are not cached and raise when the service is down.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from thermogate.contract.messages import Alert, encode
from thermogate.records.wire import AlertTaken, People, ReadingsIn, ReadingsResult, Registry

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
DEFAULT_TIMEOUT_S: Final = 5.0
REGISTRY_FILE: Final = "registry.json"
PEOPLE_FILE: Final = "people.json"


class RecordsUnavailableError(Exception):
    """The service cannot be reached and nothing is cached yet."""


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """A document and whether it came from the cache (the service being unreachable)."""

    value: T
    from_cache: bool


class RecordsClient:
    """Fetches ``/integration/registry`` and ``/integration/people`` as a ``gateway`` account."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        cache_dir: Path,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)
        self._username = username
        self._password = password
        self._cache_dir = cache_dir
        self._token: str | None = None

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> RecordsClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def registry(self) -> Fetched[Registry]:
        """The device registry (kind, site, placement, entrance, calibration of each device)."""
        return self._fetch("/integration/registry", REGISTRY_FILE, Registry)

    def people(self) -> Fetched[People]:
        """Pseudonymous id -> building, unit, grid unit (no names, no cards)."""
        return self._fetch("/integration/people", PEOPLE_FILE, People)

    def send_readings(self, readings: ReadingsIn) -> ReadingsResult:
        """Post decided readings (daily checks, returns from leave); raises on failure.

        Not cached: the caller keeps what it could not send and tries again later (the
        service counts each reading id once, so a resend changes nothing).
        """
        body = readings.model_dump_json().encode("utf-8")
        return ReadingsResult.model_validate_json(self._post("/integration/readings", body))

    def send_alert(self, alert: Alert) -> AlertTaken:
        """Post an alert (to the lifecycle and the person's case); raises on failure."""
        return AlertTaken.model_validate_json(self._post("/integration/alerts", encode(alert)))

    def _post(self, path: str, body: bytes) -> bytes:
        return self._authorised("POST", path, body)

    def _fetch(self, path: str, name: str, model: type[T]) -> Fetched[T]:
        try:
            value = model.model_validate_json(self._get(path))
        except (httpx.HTTPError, ValidationError) as exc:
            log.warning(
                "records service unavailable, answering from the cache",
                extra={"path": path, "error": f"{type(exc).__name__}: {exc}"},
            )
            return Fetched(self._cached(name, model), from_cache=True)
        _write_atomically(self._cache_dir / name, value.model_dump_json().encode("utf-8"))
        return Fetched(value, from_cache=False)

    def _get(self, path: str) -> bytes:
        return self._authorised("GET", path, None)

    def _authorised(self, method: str, path: str, body: bytes | None) -> bytes:
        for attempt in range(2):
            if self._token is None:
                self._token = self._login()
            headers = {"Authorization": f"Bearer {self._token}"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            response = self._http.request(method, path, content=body, headers=headers)
            if response.status_code == httpx.codes.UNAUTHORIZED and attempt == 0:
                self._token = None  # expired: log in again once
                continue
            response.raise_for_status()
            return response.content
        raise httpx.HTTPError("not authorised after logging in again")

    def _login(self) -> str:
        response = self._http.post(
            "/auth/token", data={"username": self._username, "password": self._password}
        )
        response.raise_for_status()
        token = response.json().get("access_token")
        if not isinstance(token, str):
            raise httpx.HTTPError("no access token in the answer")
        return token

    def _cached(self, name: str, model: type[T]) -> T:
        path = self._cache_dir / name
        try:
            return model.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise RecordsUnavailableError(
                f"records service unreachable and no usable cache at {path}: {exc}"
            ) from None


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def age(fetched: Fetched[Registry] | Fetched[People], now: dt.datetime) -> dt.timedelta:
    """How old the document is (for a log line or a metric when serving from the cache)."""
    return now - fetched.value.generated_at
