"""Turn the engine's events into alerts: who is told what, with ids that survive redelivery.

``recheck:<reading>`` asks the entrance and the unit's staff to measure the person again;
``fever:<suspicious reading>`` tells the clinic of a confirmed (or very high) fever;
``fever_unconfirmed:<suspicious reading>`` says a suspicious reading could not be confirmed
(nobody identified, or no re-check in the window). Cleared re-checks raise nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from thermogate.config import DeviceSettings
from thermogate.contract import Alert, AlertKind, Reading, Severity, utc_now
from thermogate.gateway.engine import EngineEvent, EventKind

_KINDS = {
    EventKind.FEVER: (AlertKind.FEVER, Severity.CRITICAL),
    EventKind.UNCONFIRMED: (AlertKind.FEVER_UNCONFIRMED, Severity.WARNING),
    EventKind.RECHECK: (AlertKind.RECHECK, Severity.INFO),
    EventKind.DEVICE_FAULT: (AlertKind.DEVICE_FAULT, Severity.WARNING),
    EventKind.DEVICE_RECOVERED: (AlertKind.DEVICE_RECOVERED, Severity.INFO),
}


def alert_for(
    event: EngineEvent,
    reading: Reading | None,
    registry: Mapping[str, DeviceSettings],
) -> Alert | None:
    """The alert of one event (None for a cleared re-check)."""
    if event.kind not in _KINDS:
        return None
    kind, severity = _KINDS[event.kind]
    device = registry.get(event.device_id)
    building = reading.building if reading else device.building if device else "unknown"
    entrance = reading.entrance if reading else device.entrance if device else None
    if event.detail is not None:  # a device's health changed
        return Alert(
            alert_id=f"{kind.value}:{event.reading_id}",
            kind=kind,
            severity=severity,
            building=building,
            entrance=entrance,
            device_id=event.device_id,
            ts=dt.datetime.fromtimestamp(event.ts_ms / 1000, dt.UTC),
            raised_at=utc_now(),
            message=event.detail,
        )
    who = f"person {event.person_id}" if event.person_id else "person not identified"
    value = f"{event.adjusted_c:.1f} °C (threshold {event.threshold_c:.1f} °C)"
    message = {
        EventKind.FEVER: f"fever {value} at {building}/{entrance}, {who}"
        + (f"; confirmed by {event.confirming_reading_id}" if event.confirming_reading_id else ""),
        EventKind.UNCONFIRMED: f"suspicious reading {value} at {building}/{entrance}, {who}, "
        + ("not confirmed in time" if event.row is None else "cannot be re-checked"),
        EventKind.RECHECK: f"re-check {who}: {value} at {building}/{entrance}",
    }[event.kind]
    return Alert(
        alert_id=f"{kind.value}:{event.reading_id}",
        kind=kind,
        severity=severity,
        building=building,
        entrance=entrance,
        device_id=event.device_id,
        edge_id=reading.edge_id if reading else None,
        reading_id=event.reading_id,
        person_id=event.person_id,
        temp_c=reading.temp_c if reading else None,
        adjusted_c=round(event.adjusted_c, 2),
        threshold_c=event.threshold_c,
        ts=dt.datetime.fromtimestamp(event.ts_ms / 1000, dt.UTC),
        raised_at=utc_now(),
        message=message,
    )
