"""Writer for the InfluxDB v2 write API (InfluxDB 2.x/3.x, 1.8+, VictoriaMetrics).

Uses influxdb-client's synchronous write API with our own line protocol. The client's own
batching and retries are off: the gateway hands whole batches and the ingestor retries, so a
batch is acknowledged exactly when this call returns.
"""

from __future__ import annotations

import logging
from typing import cast

import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from thermogate.ingest.line_protocol import encode_points
from thermogate.ingest.points import ScreeningPoints
from thermogate.ingest.writer import WriteError, excerpt, http_status_retryable

log = logging.getLogger(__name__)


class InfluxV2Writer:
    """Stores batches in one bucket through ``POST /api/v2/write`` (precision ns)."""

    def __init__(
        self,
        url: str,
        *,
        token: str = "",
        org: str = "thermogate",
        bucket: str = "screening",
        measurement: str = "screening",
        timeout_s: float = 10.0,
        name: str | None = None,
    ) -> None:
        self.name = name or f"influxdb-v2 {url.rstrip('/')}/{bucket}"
        self._bucket = bucket
        self._org = org
        self._measurement = measurement
        self._client = InfluxDBClient(
            url=url,
            token=token,  # may be empty (VictoriaMetrics): no Authorization header then
            org=org,
            timeout=max(1, int(timeout_s * 1000)),  # influxdb-client takes milliseconds
            retries=False,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, points: ScreeningPoints) -> None:
        """Store the batch; :class:`WriteError` says whether a retry may help."""
        if len(points) == 0:
            return
        self.write_lines(encode_points(self._measurement, points))

    def write_lines(self, body: bytes) -> None:
        """Store ready line protocol (the gateway's own metrics); same errors as :meth:`write`."""
        try:
            self._write_api.write(
                bucket=self._bucket,
                org=self._org,
                record=body,
                write_precision=cast(WritePrecision, WritePrecision.NS),
            )
        except ApiException as exc:
            raise _api_error(self.name, exc) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise WriteError(
                self.name, f"cannot reach the server: {type(exc).__name__}: {exc}", retryable=True
            ) from exc

    def close(self) -> None:
        """Close the HTTP connections."""
        self._write_api.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]


def _api_error(sink: str, exc: ApiException) -> WriteError:
    status = int(exc.status or 0)
    if status == 0:  # no HTTP answer (TLS failure and the like)
        return WriteError(sink, f"request failed: {exc.reason}", retryable=True)
    return WriteError(
        sink,
        f"HTTP {status} {exc.reason or ''}: {excerpt(exc.body)}".rstrip(": "),
        retryable=http_status_retryable(status),
    )
