"""Writer for InfluxDB 1.x: ``POST /write?db=..&precision=ns`` over urllib3.

The database is created (``CREATE DATABASE``, idempotent) before the first write and again
whenever the server says it is missing (a wiped server), so a fresh InfluxDB needs no setup.
A user without admin rights may not create databases (HTTP 403): the writer then assumes
the database exists and only writes. HTTP 204 means the batch is stored.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import urllib3

from thermogate.ingest.line_protocol import encode_points
from thermogate.ingest.points import ScreeningPoints
from thermogate.ingest.writer import WriteError, excerpt, http_status_retryable

log = logging.getLogger(__name__)


class InfluxV1Writer:
    """Stores batches in one InfluxDB 1.x database, with optional basic auth."""

    def __init__(
        self,
        url: str,
        *,
        database: str = "screening",
        username: str | None = None,
        password: str | None = None,
        measurement: str = "screening",
        timeout_s: float = 10.0,
        name: str | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self.name = name or f"influxdb-v1 {self._url}/{database}"
        self._database = database
        self._measurement = measurement
        self._headers: dict[str, str] = {}
        if username is not None:
            self._headers.update(urllib3.make_headers(basic_auth=f"{username}:{password or ''}"))
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(total=timeout_s), retries=False, maxsize=2
        )
        self._database_ready = False
        self._may_create = True

    def write(self, points: ScreeningPoints) -> None:
        """Store the batch; :class:`WriteError` says whether a retry may help."""
        if len(points) == 0:
            return
        self.write_lines(encode_points(self._measurement, points))

    def write_lines(self, body: bytes) -> None:
        """Store ready line protocol (the gateway's own metrics); same errors as :meth:`write`."""
        if not self._database_ready:
            self._create_database()
        response = self._request(
            "POST",
            "/write",
            fields={"db": self._database, "precision": "ns"},
            body=body,
        )
        if 200 <= response.status < 300:
            return
        message = _error_message(response)
        if response.status == 404 and "database not found" in message and self._may_create:
            self._database_ready = False  # re-created before the next attempt
            raise WriteError(self.name, f"HTTP 404: {message}", retryable=True)
        raise WriteError(
            self.name,
            f"HTTP {response.status}: {message}",
            retryable=http_status_retryable(response.status),
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._pool.clear()

    def _create_database(self) -> None:
        name = self._database.replace("\\", "\\\\").replace('"', '\\"')
        response = self._request("POST", "/query", fields={"q": f'CREATE DATABASE "{name}"'})
        message = _error_message(response)
        if response.status == 403:  # a writer without admin rights: the database must exist
            log.warning(
                "not allowed to create the influx database, assuming it exists",
                extra={"sink": self.name, "database": self._database, "error": message},
            )
            self._may_create = False
            self._database_ready = True
            return
        if response.status != 200 or message:
            raise WriteError(
                self.name,
                f"CREATE DATABASE failed: HTTP {response.status}: {message}",
                retryable=http_status_retryable(response.status),
            )
        self._database_ready = True
        log.info("influx database ready", extra={"sink": self.name, "database": self._database})

    def _request(
        self, method: str, path: str, *, fields: dict[str, str], body: bytes | None = None
    ) -> urllib3.BaseHTTPResponse:
        url = f"{self._url}{path}"
        try:
            if body is None:
                return self._pool.request_encode_body(
                    method, url, fields=fields, headers=self._headers, encode_multipart=False
                )
            return self._pool.request(
                method,
                f"{url}?{urlencode(fields)}",
                body=body,
                headers={**self._headers, "Content-Type": "text/plain; charset=utf-8"},
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise WriteError(
                self.name, f"cannot reach the server: {type(exc).__name__}: {exc}", retryable=True
            ) from exc


def _error_message(response: urllib3.BaseHTTPResponse) -> str:
    """The ``error`` of an Influx answer (top level or of any statement), else the body."""
    data = response.data or b""
    try:
        document: Any = json.loads(data)
    except ValueError:
        return excerpt(data) if response.status >= 300 else ""
    if not isinstance(document, dict):
        return excerpt(data) if response.status >= 300 else ""
    errors = [document.get("error")]
    errors += [r.get("error") for r in document.get("results", []) if isinstance(r, dict)]
    found = "; ".join(str(e) for e in errors if e)
    return excerpt(found) if found else (excerpt(data) if response.status >= 300 else "")
