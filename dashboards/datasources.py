"""The two data sources every dashboard names by uid: InfluxDB (InfluxQL) and the records
service's PostgreSQL database.

InfluxQL is the one query language InfluxDB 1.x, 2.x (through a DBRP mapping) and 3.x all
answer, so one set of dashboards serves every supported database. The same definitions feed
``thermogate dashboards push``; the files in ``provisioning/datasources/`` say the same with
the secrets taken from Grafana's environment (a test checks that they agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from thermogate.config import DashboardsSettings
from thermogate.dashboards.model import DataSourceRef

INFLUX: Final = DataSourceRef("influxdb", "thermogate-influxdb")
POSTGRES: Final = DataSourceRef("grafana-postgresql-datasource", "thermogate-records")
INFLUX_NAME: Final = "thermogate InfluxDB"
POSTGRES_NAME: Final = "thermogate records"
MIN_INTERVAL: Final = "10s"
"""The smallest ``$__interval`` Grafana picks: metrics arrive every 10 s at most."""


@dataclass(frozen=True, slots=True)
class DataSourceSpec:
    """A data source as Grafana's API takes it; secrets kept apart (Grafana never returns
    them, so they cannot be compared, only set)."""

    ref: DataSourceRef
    name: str
    url: str
    json_data: dict[str, Any]
    user: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    is_default: bool = False

    def visible(self) -> dict[str, Any]:
        """What Grafana shows back of it (everything but the secrets)."""
        return {
            "uid": self.ref.uid,
            "name": self.name,
            "type": self.ref.type,
            "access": "proxy",
            "url": self.url,
            "user": self.user,
            "isDefault": self.is_default,
            "jsonData": self.json_data,
        }

    def body(self) -> dict[str, Any]:
        """The create or update body, secrets included."""
        return {**self.visible(), "secureJsonData": dict(self.secrets)}


def influx_source(settings: DashboardsSettings) -> DataSourceSpec:
    """InfluxDB with InfluxQL: a token header for 2.x/3.x, or user and password for 1.x."""
    json_data: dict[str, Any] = {
        "version": "InfluxQL",
        "dbName": settings.influx_database,
        "httpMode": "POST",
        "timeInterval": MIN_INTERVAL,
    }
    secrets: dict[str, str] = {}
    if settings.influx_token is not None and settings.influx_token.get_secret_value():
        # 2.x and 3.x take an API token on the 1.x-compatible /query endpoint in this header.
        json_data["httpHeaderName1"] = "Authorization"
        secrets["httpHeaderValue1"] = f"Token {settings.influx_token.get_secret_value()}"
    if settings.influx_password is not None and settings.influx_password.get_secret_value():
        secrets["password"] = settings.influx_password.get_secret_value()
    return DataSourceSpec(
        ref=INFLUX,
        name=INFLUX_NAME,
        url=settings.influx_url,
        user=settings.influx_user or "",
        json_data=json_data,
        secrets=secrets,
        is_default=True,
    )


def postgres_source(settings: DashboardsSettings) -> DataSourceSpec:
    """The records database, read through a role that may only SELECT."""
    secrets = {}
    if settings.postgres_password is not None:
        secrets["password"] = settings.postgres_password.get_secret_value()
    return DataSourceSpec(
        ref=POSTGRES,
        name=POSTGRES_NAME,
        url=settings.postgres_host,
        user=settings.postgres_user,
        json_data={
            "database": settings.postgres_database,
            "sslmode": settings.postgres_sslmode,
            "postgresVersion": 1500,
            "timescaledb": False,
            "maxOpenConns": 5,
        },
        secrets=secrets,
    )


def data_sources(settings: DashboardsSettings) -> list[DataSourceSpec]:
    """Every data source the dashboards use."""
    return [influx_source(settings), postgres_source(settings)]
