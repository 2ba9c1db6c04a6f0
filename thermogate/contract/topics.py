"""MQTT topic names of wire contract v1: built and parsed here, nowhere else.

::

    thermogate/v1/readings/{building}/{entrance}/{device_id}   readings, QoS 1
    thermogate/v1/status/{component}/{id}                      retained status, QoS 1
    thermogate/v1/alerts/{building}                            alerts, QoS 1
    thermogate/v1/deadletter/{source}                          refused inputs, QoS 1
    thermogate/v1/weather/{building}                           retained outdoor temperature
    thermogate/v1/engine/{group}/{gateway_id}                  engine state shared by gateways
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from thermogate.contract.errors import ContractError
from thermogate.contract.messages import (
    DEVICE_ID_PATTERN,
    SLUG_PATTERN,
    WIRE_VERSION,
    ComponentKind,
)

ROOT: Final = f"thermogate/v{WIRE_VERSION}"
READINGS_FILTER: Final = f"{ROOT}/readings/+/+/+"
STATUS_FILTER: Final = f"{ROOT}/status/#"
ALERTS_FILTER: Final = f"{ROOT}/alerts/+"
DEADLETTER_FILTER: Final = f"{ROOT}/deadletter/+"
WEATHER_FILTER: Final = f"{ROOT}/weather/+"
SHARE_PREFIX: Final = "$share"

_SLUG = re.compile(SLUG_PATTERN)
_DEVICE = re.compile(DEVICE_ID_PATTERN)


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise ContractError(f"{what} {value!r} is not a valid topic level ({pattern.pattern})")
    return value


def readings_topic(building: str, entrance: str, device_id: str) -> str:
    """Where a device's readings are published."""
    return (
        f"{ROOT}/readings/{_check(building, _SLUG, 'building')}/"
        f"{_check(entrance, _SLUG, 'entrance')}/{_check(device_id, _DEVICE, 'device id')}"
    )


def status_topic(component: ComponentKind, component_id: str) -> str:
    """Where a component's retained status lives."""
    return f"{ROOT}/status/{component.value}/{_check(component_id, _DEVICE, 'component id')}"


def alerts_topic(building: str) -> str:
    """Where alerts for one building are published."""
    return f"{ROOT}/alerts/{_check(building, _SLUG, 'building')}"


def deadletter_topic(source: str) -> str:
    """Where a component publishes what it refused."""
    return f"{ROOT}/deadletter/{_check(source, _SLUG, 'source')}"


def weather_topic(building: str) -> str:
    """Where a building's outdoor temperature is published (retained)."""
    return f"{ROOT}/weather/{_check(building, _SLUG, 'building')}"


def engine_topic(group: str, gateway_id: str) -> str:
    """Where a gateway of a shared-subscription group publishes its engine's changes."""
    return f"{ROOT}/engine/{_check(group, _SLUG, 'group')}/{_check(gateway_id, _SLUG, 'gateway')}"


def engine_filter(group: str) -> str:
    """Every engine change of a group's gateways."""
    return f"{ROOT}/engine/{_check(group, _SLUG, 'group')}/+"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT v5 shared subscription: the broker gives each message to one group member."""
    return f"{SHARE_PREFIX}/{_check(group, _SLUG, 'group')}/{topic_filter}"


@dataclass(frozen=True, slots=True)
class ReadingsTopic:
    """The parts of a readings topic."""

    building: str
    entrance: str
    device_id: str


def parse_readings_topic(topic: str) -> ReadingsTopic:
    """Split a readings topic, refusing anything that is not exactly one."""
    prefix = f"{ROOT}/readings/"
    if not topic.startswith(prefix):
        raise ContractError(f"not a v{WIRE_VERSION} readings topic: {topic!r}")
    parts = topic[len(prefix) :].split("/")
    if len(parts) != 3:
        raise ContractError(f"readings topic must end in building/entrance/device: {topic!r}")
    building, entrance, device_id = parts
    return ReadingsTopic(
        _check(building, _SLUG, "building"),
        _check(entrance, _SLUG, "entrance"),
        _check(device_id, _DEVICE, "device id"),
    )
