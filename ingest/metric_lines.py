"""One line of line protocol for the gateway's own metrics (edge backlogs, later its own
throughput), built from plain dicts with the same escaping as the readings."""

from __future__ import annotations

from collections.abc import Mapping

from thermogate.ingest.line_protocol import escape_key, escape_measurement, format_float


def metric_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, int | float],
    ts_ns: int,
) -> bytes:
    """``measurement,tag=v field=1i,other=0.5 ts``; empty tags and absent fields left out."""
    tag_text = "".join(
        f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()) if v != ""
    )
    parts = []
    for key, value in fields.items():
        text = f"{value}i" if isinstance(value, int) else format_float(value)
        parts.append(f"{escape_key(key)}={text}")
    if not parts:
        raise ValueError("a metric line needs at least one field")
    return f"{escape_measurement(measurement)}{tag_text} {','.join(parts)} {ts_ns}".encode()
