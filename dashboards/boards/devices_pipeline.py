"""Devices and pipeline: is every thermometer alive and sane, is every reading getting through.

Device figures come from the readings (``screening``); edge backlogs from the edges' statuses
(``thermogate_edge``); throughput, lag, dead letters and messages in flight from the gateway's
own metrics (``thermogate_gateway``).
"""

from __future__ import annotations

from typing import Final

from thermogate.dashboards.datasources import INFLUX
from thermogate.dashboards.influxql import EDGES, GATEWAYS, READINGS, variables, where
from thermogate.dashboards.model import Dashboard, InfluxQuery, Panel
from thermogate.dashboards.panels import BOARD_LINKS, join_by, stat, table, timeseries

UID: Final = "thermogate-devices-pipeline"
THRESHOLD_C: Final = 37.3
"""The fever threshold as shipped (``gateway.threshold_c``), drawn as a line: change both."""
_DEVICES = ("building", "entrance", "device")
_BY_GATEWAY = 'GROUP BY time($__interval), "gateway_id" fill(none)'


def _gateway(select: str, ref_id: str = "A", group: str = _BY_GATEWAY) -> InfluxQuery:
    return InfluxQuery(
        INFLUX,
        f'SELECT {select} FROM "{GATEWAYS}" WHERE $timeFilter {group}',
        ref_id=ref_id,
        alias="$tag_gateway_id $col",
    )


def _device_status() -> Panel:
    by_device = f'FROM "{READINGS}" {where(*_DEVICES)} GROUP BY "device_id"'
    return table(
        "Device status",
        "One row per device: when it last sent a reading (last seen), its last battery "
        "level, how many readings it sent in the time range and what share of them were "
        "error codes (LO, HI, ERR). A device that has gone quiet in screening hours is "
        "also alerted (device offline).",
        InfluxQuery(INFLUX, f'SELECT last("seq") AS "last_seq" {by_device}', result_format="table"),
        InfluxQuery(
            INFLUX,
            f'SELECT last("battery_pct") AS "battery_pct" {by_device}',
            ref_id="B",
            result_format="table",
        ),
        InfluxQuery(
            INFLUX,
            'SELECT count("seq") AS "readings", count("error") AS "errors", '
            f'count("error") / count("seq") * 100 AS "error_pct" {by_device}',
            ref_id="C",
            result_format="table",
        ),
        width=18,
        units=(("^Time 1$|^time$", "dateTimeFromNow"), ("battery_pct|error_pct", "percent")),
        transformations=(join_by("device_id"),),
    )


def panels() -> tuple[Panel, ...]:
    """The panels, in reading order."""
    return (
        stat(
            "Devices offline",
            "Registered devices the gateway has not heard (reading or heartbeat) for longer "
            "than gateway.device_silence_s, as counted by each gateway.",
            _gateway('last("devices_offline")', group='GROUP BY "gateway_id"'),
            calc="lastNotNull",
            width=6,
        ),
        _device_status(),
        timeseries(
            "Temperature per device",
            "Mean displayed temperature per device. A device reading lower or higher than its "
            "neighbours points at placement or calibration; the red line is the threshold as "
            "shipped (gateway.threshold_c = 37.3): change both together.",
            InfluxQuery(
                INFLUX,
                f'SELECT mean("temp_c") FROM "{READINGS}" {where(*_DEVICES)} '
                'GROUP BY time($__interval), "device_id" fill(none)',
                alias="$tag_device_id",
            ),
            unit="celsius",
            threshold_line=THRESHOLD_C,
        ),
        timeseries(
            "Battery per device",
            "Battery level of each handheld thermometer as reported with its readings "
            "(kiosks are mains-powered and report none). Swap below 20 %.",
            InfluxQuery(
                INFLUX,
                f'SELECT last("battery_pct") FROM "{READINGS}" {where(*_DEVICES)} '
                'GROUP BY time($__interval), "device_id" fill(previous)',
                alias="$tag_device_id",
            ),
            unit="percent",
            minimum=0,
            maximum=100,
        ),
        timeseries(
            "Error readings per device",
            "Share of readings per 10 minutes that were error codes (LO, HI, ERR): a handheld "
            "held too far away, a dirty lens, a failing sensor.",
            InfluxQuery(
                INFLUX,
                'SELECT count("error") / count("seq") * 100 AS "error_pct" '
                f'FROM "{READINGS}" {where(*_DEVICES)} GROUP BY time(10m), "device_id" fill(0)',
                alias="$tag_device_id",
            ),
            unit="percent",
        ),
        timeseries(
            "Edge backlog",
            "Readings waiting in each edge's disk buffer (not yet taken by the broker). It "
            "grows while the network or the broker is down and drains afterwards; at 80 % "
            "of the buffer the duty desk is alerted.",
            InfluxQuery(
                INFLUX,
                f'SELECT last("buffer_pending") AS "pending" FROM "{EDGES}" '
                f"{where('building')} "
                'GROUP BY time($__interval), "edge_id" fill(previous)',
                alias="$tag_edge_id",
            ),
        ),
        timeseries(
            "Gateway throughput",
            "Readings per second received and stored by each gateway (stored falls behind "
            "received only while a database is down or refuses).",
            _gateway(
                'non_negative_derivative(last("readings_in"), 1s) AS "received", '
                'non_negative_derivative(last("stored"), 1s) AS "stored"'
            ),
            unit="reqps",
            width=8,
        ),
        timeseries(
            "Gateway lag",
            "Age of the oldest reading in each batch when it arrived (event time to gateway): "
            "a growing lag is a backlog (broker queue, an edge catching up) or a wrong clock.",
            _gateway('max("lag_ms_max") AS "lag"'),
            unit="ms",
            width=8,
        ),
        timeseries(
            "Dead letters per minute",
            "Messages the gateway refused (malformed, unknown device, impossible values) per "
            "minute; each is on the dead-letter topic with its reason.",
            _gateway('non_negative_derivative(last("dead_letters"), 1m) AS "dead_letters"'),
            width=8,
        ),
        timeseries(
            "Messages in flight",
            "Messages received but not yet acknowledged (queued or in the batch being "
            "stored): near gateway.queue_max the broker holds the rest back.",
            _gateway('max("in_flight") AS "in_flight"'),
            width=12,
        ),
        timeseries(
            "Batch size",
            "Readings decided and stored together in the latest batch: large batches mean "
            "a backlog is being replayed.",
            _gateway('max("batch_readings") AS "batch"'),
            width=12,
        ),
    )


def dashboard() -> Dashboard:
    """Devices and pipeline."""
    return Dashboard(
        uid=UID,
        title="thermogate devices and pipeline",
        description="Is every thermometer alive and sane, and is every reading getting "
        "through: device status, edge backlogs, gateway throughput, lag and dead letters.",
        file_name="devices-pipeline.json",
        variables=variables(),
        links=BOARD_LINKS,
        panels=panels(),
        time_from="now-6h",
    )
