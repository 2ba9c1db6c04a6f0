"""What every time-series sink offers the ingestor, and how it reports failure."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from thermogate.ingest.points import ScreeningPoints

BODY_EXCERPT_CHARS = 300
"""How much of a server's error body goes into an error message."""


class WriteError(Exception):
    """A batch was not stored by one sink.

    ``retryable`` tells the ingestor whether trying again may help (server down, timeout,
    overload: 5xx and 429) or not (the request itself is wrong: other 4xx).
    """

    def __init__(self, sink: str, message: str, *, retryable: bool) -> None:
        kind = "retryable" if retryable else "not retryable"
        super().__init__(f"{sink}: {message} ({kind})")
        self.sink = sink
        self.reason = message
        self.retryable = retryable


@runtime_checkable
class TimeSeriesWriter(Protocol):
    """A sink that stores whole batches; ``write`` returns only once the batch is stored."""

    name: str
    """Identifies the sink in logs and counters, e.g. ``influxdb-v1 http://db:8086/screening``."""

    def write(self, points: ScreeningPoints) -> None:
        """Store every point of the batch, or raise :class:`WriteError`."""
        ...

    def write_lines(self, body: bytes) -> None:
        """Store line protocol built elsewhere (metrics), or raise :class:`WriteError`."""
        ...

    def close(self) -> None:
        """Release connections and files; the writer is not used afterwards."""
        ...


def http_status_retryable(status: int) -> bool:
    """Whether an HTTP error status may succeed later: 5xx, 429 (and 408, request timeout)."""
    return status >= 500 or status in (408, 429)


def excerpt(body: bytes | str | None) -> str:
    """The start of a server's error body, on one line, for messages."""
    if body is None:
        return ""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "…"
    return text
