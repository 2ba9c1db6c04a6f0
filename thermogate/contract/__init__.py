"""The wire contract v1: the only thing components share on the wire.

Everything that crosses MQTT (readings, statuses, alerts, dead letters) and the serial
line protocol of the simulated devices is defined here once and imported by the edge,
the gateway, the alerts and the simulators. See docs/wire.md.
"""

from thermogate.contract.errors import ContractError
from thermogate.contract.messages import (
    MAX_BATCH_READINGS,
    WIRE_VERSION,
    Alert,
    AlertKind,
    ComponentKind,
    DeadLetter,
    DeviceKind,
    ErrorCode,
    Placement,
    Reading,
    ReadingBatch,
    Severity,
    Site,
    Status,
    StatusState,
    Weather,
    decode_readings,
    encode,
    utc_now,
)

__all__ = [
    "MAX_BATCH_READINGS",
    "WIRE_VERSION",
    "Alert",
    "AlertKind",
    "ComponentKind",
    "ContractError",
    "DeadLetter",
    "DeviceKind",
    "ErrorCode",
    "Placement",
    "Reading",
    "ReadingBatch",
    "Severity",
    "Site",
    "Status",
    "StatusState",
    "Weather",
    "decode_readings",
    "encode",
    "utc_now",
]
