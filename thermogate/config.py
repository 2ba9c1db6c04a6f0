"""The one configuration file: a TOML document validated into typed settings at start-up.

Every process reads the same file (``thermogate.toml``) and takes the sections it needs.
Unknown keys are refused and every error names the key and its line. Environment variables
override single values: ``THERMOGATE_<SECTION>__<KEY>=value`` (for example
``THERMOGATE_MQTT__PORT=1884`` or ``THERMOGATE_GATEWAY__THRESHOLD_C=37.5``); arrays of tables
(devices, edges, sinks) come only from the file. See docs/configuration.md.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from thermogate.contract.messages import (
    DEVICE_ID_PATTERN,
    SLUG_PATTERN,
    DeviceKind,
    Placement,
    Site,
)

ENV_PREFIX: Final = "THERMOGATE_"
CONFIG_PATH_VARIABLE: Final = "THERMOGATE_CONFIG"
"""Names the configuration file when ``--config`` is not given (not an override)."""
DEVELOPMENT_PSEUDONYM_KEY: Final = "development-only-pseudonym-key"
DEVELOPMENT_LINK_SECRET: Final = "development-only-alert-link-secret"  # noqa: S105
DEVELOPMENT_JWT_SECRET: Final = "development-only-records-jwt-secret"  # noqa: S105


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, values are checked."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class BuildingSettings(Section):
    """A dorm building and its entrances."""

    id: Annotated[str, Field(pattern=SLUG_PATTERN, description="Slug used in topics and tags.")]
    name: Annotated[str, Field(description="Display name, e.g. 'Wenyuan Building 2'.")]
    entrances: Annotated[
        list[Annotated[str, Field(pattern=SLUG_PATTERN)]],
        Field(min_length=1, description="Entrance slugs, e.g. ['main']."),
    ]


class DeviceSettings(Section):
    """One device in the registry: a thermometer or a card reader."""

    id: Annotated[str, Field(pattern=DEVICE_ID_PATTERN, description="Unique device id.")]
    kind: Annotated[
        Literal["handheld", "kiosk", "card-reader"], Field(description="What the device is.")
    ]
    building: Annotated[str, Field(pattern=SLUG_PATTERN, description="Building id.")]
    entrance: Annotated[str, Field(pattern=SLUG_PATTERN, description="Entrance of the building.")]
    site: Annotated[Site, Field(description="Measurement site (a kiosk defaults to canthus).")] = (
        Site.FOREHEAD
    )
    placement: Annotated[
        Placement, Field(description="door, lobby or room (a kiosk defaults to lobby).")
    ] = Placement.DOOR
    port: Annotated[
        str | None, Field(description="Serial port of a handheld or card reader, /dev/ttyUSB0.")
    ] = None
    baudrate: Annotated[int, Field(gt=0, description="Serial speed (8N1).")] = 9600

    @model_validator(mode="before")
    @classmethod
    def _kiosk_defaults(cls, data: Any) -> Any:
        """A kiosk looks at the inner eye corner in the lobby unless told otherwise."""
        if isinstance(data, dict) and data.get("kind") == "kiosk":
            data = {"site": Site.CANTHUS, "placement": Placement.LOBBY, **data}
        return data

    @model_validator(mode="after")
    def _handheld_site(self) -> DeviceSettings:
        if self.kind == "handheld" and self.site not in (Site.FOREHEAD, Site.WRIST):
            raise ValueError(f"a handheld measures the forehead or the wrist, not {self.site}")
        return self

    @property
    def wire_kind(self) -> DeviceKind | None:
        """The wire's device kind, or None for a card reader (it takes no readings)."""
        return None if self.kind == "card-reader" else DeviceKind(self.kind)


class EdgeAgentSettings(Section):
    """One edge agent: the devices it reads at one entrance."""

    id: Annotated[str, Field(pattern=SLUG_PATTERN, description="`thermogate edge --id` value.")]
    building: Annotated[str, Field(pattern=SLUG_PATTERN, description="Building id.")]
    entrance: Annotated[str, Field(pattern=SLUG_PATTERN, description="Entrance it serves.")]
    devices: Annotated[list[str], Field(min_length=1, description="Device ids it reads.")]


class MqttSettings(Section):
    """How every component reaches the broker."""

    host: Annotated[str, Field(description="Broker host name or address.")] = "127.0.0.1"
    port: Annotated[int, Field(gt=0, lt=65536, description="Broker TCP port.")] = 1883
    username: Annotated[str | None, Field(description="User name, when the broker asks.")] = None
    password: Annotated[
        SecretStr | None, Field(description="Password; set it through the environment.")
    ] = None
    protocol: Annotated[
        Literal["5", "3.1.1"], Field(description="MQTT version; amqtt speaks only 3.1.1.")
    ] = "5"
    keepalive_s: Annotated[
        int, Field(ge=5, le=3600, description="Seconds between pings; the will fires after 1.5x.")
    ] = 30
    connect_timeout_s: Annotated[
        float, Field(gt=0, description="How long start-up waits for the first CONNACK.")
    ] = 10.0
    tls_ca_file: Annotated[
        Path | None,
        Field(
            description="CA certificate (PEM) the broker's certificate must chain to; set: "
            "connect with TLS (port 8883 of the stack), checking the broker's name."
        ),
    ] = None


class EdgeSettings(Section):
    """Behaviour shared by all edge agents."""

    pairing_window_s: Annotated[
        float, Field(gt=0, le=120, description="A swipe pairs with a reading this soon after.")
    ] = 8.0
    pseudonym_key: Annotated[
        SecretStr, Field(description="HMAC key turning card ids into pseudonymous ids.")
    ] = SecretStr(DEVELOPMENT_PSEUDONYM_KEY)
    data_dir: Annotated[Path, Field(description="Where the edge keeps its durable state.")] = Path(
        "var/edge"
    )
    read_timeout_s: Annotated[
        float, Field(gt=0, le=5, description="Serial read timeout; bounds how fast it stops.")
    ] = 0.2
    buffer_capacity: Annotated[
        int,
        Field(ge=100, le=50_000_000, description="Readings the disk buffer holds at most."),
    ] = 1_000_000
    replay_rate_per_s: Annotated[
        float,
        Field(gt=0, description="Backlog readings sent per second after an outage."),
    ] = 200.0
    replay_batch_max: Annotated[
        int,
        Field(ge=1, le=5000, description="Readings per batched message when replaying."),
    ] = 200
    status_interval_s: Annotated[
        float, Field(gt=0, description="How often the edge republishes its statuses.")
    ] = 30.0
    clock_jump_s: Annotated[
        float,
        Field(gt=0, description="Wall clock moving this far from the monotonic clock is a jump."),
    ] = 2.0


class GatewaySettings(Section):
    """The gateway: validation, batching and the fever rule."""

    id: Annotated[
        str, Field(pattern=SLUG_PATTERN, description="Client id, dead-letter source, status id.")
    ] = "gateway-1"
    threshold_c: Annotated[
        float, Field(ge=35.0, le=40.0, description="A reading at or above this is a fever.")
    ] = 37.3
    batch_max: Annotated[
        int, Field(ge=1, le=50_000, description="Most messages decided and stored together.")
    ] = 2000
    batch_wait_ms: Annotated[
        int, Field(ge=1, le=10_000, description="Longest wait for a batch to fill.")
    ] = 25
    queue_max: Annotated[
        int,
        Field(ge=10, le=1_000_000, description="Intake queue; also the MQTT 5 Receive Maximum."),
    ] = 20_000
    queue_max_bytes: Annotated[
        int,
        Field(
            ge=1024 * 1024,
            description="Payload bytes the intake holds; past it the receive path waits.",
        ),
    ] = 8 * 1024 * 1024
    batch_max_bytes: Annotated[
        int,
        Field(ge=64 * 1024, description="Payload bytes decided and stored together, at most."),
    ] = 2 * 1024 * 1024
    max_payload_bytes: Annotated[
        int, Field(ge=1024, le=16 * 1024 * 1024, description="Larger messages are refused.")
    ] = 2 * 1024 * 1024
    max_future_skew_s: Annotated[
        float,
        Field(gt=0, description="Readings further ahead of the gateway clock are flagged."),
    ] = 300.0
    max_past_skew_s: Annotated[
        float,
        Field(gt=0, description="Readings older than this on arrival are flagged (kept)."),
    ] = 86_400.0
    state_dir: Annotated[
        Path, Field(description="Where the gateway keeps its durable state (alert outbox).")
    ] = Path("var/gateway")
    screening_hours: Annotated[
        str,
        Field(
            pattern=r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$",
            description="Local hours when a silent device is alerted, e.g. 06:00-23:30.",
        ),
    ] = "06:00-23:30"
    timezone: Annotated[str, Field(description="IANA time zone of the screening hours.")] = (
        "Asia/Shanghai"
    )
    metrics_interval_s: Annotated[
        float,
        Field(gt=0, description="How often the gateway's and edges' metrics are written."),
    ] = 10.0
    metrics_port: Annotated[
        int | None,
        Field(
            ge=0,
            lt=65536,
            description="Port of the Prometheus /metrics endpoint; empty: off; 0: any free port.",
        ),
    ] = None
    metrics_host: Annotated[
        str, Field(description="Address /metrics binds (0.0.0.0 inside a container).")
    ] = "127.0.0.1"
    device_silence_s: Annotated[
        float,
        Field(gt=0, description="A device unheard for this long is offline (heartbeats count)."),
    ] = 120.0
    accept_unknown_devices: Annotated[
        bool, Field(description="Store readings of devices missing from [[devices]].")
    ] = False
    records_refresh_s: Annotated[
        float,
        Field(gt=0, description="How often the device registry is fetched from records.url."),
    ] = 300.0
    shared_group: Annotated[
        str | None,
        Field(
            pattern=SLUG_PATTERN,
            description="Share readings with the gateways of this group ($share); empty: alone.",
        ),
    ] = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name like Asia/Shanghai)"
            ) from None
        return value


class CalibrationSettings(Section):
    """Maps a device's displayed value to the core-equivalent scale the threshold applies to:
    ``offset_c + slope * displayed + ambient_coef * (ambient_c - ambient_ref_c)``."""

    kind: Annotated[Literal["handheld", "kiosk"], Field(description="Device kind.")]
    site: Annotated[Site, Field(description="Measurement site.")]
    placement: Annotated[
        Placement | None, Field(description="Placement; empty applies to every placement.")
    ] = None
    offset_c: Annotated[float, Field(ge=-40, le=40, description="Offset in °C.")] = 0.0
    slope: Annotated[float, Field(gt=0, le=3, description="Gain on the displayed value.")] = 1.0
    ambient_coef: Annotated[
        float, Field(ge=-1, le=1, description="°C per °C of ambient above the reference.")
    ] = 0.0
    ambient_ref_c: Annotated[
        float, Field(ge=-20, le=50, description="Ambient at which the term is zero.")
    ] = 23.0


class ThresholdSettings(Section):
    """A threshold for readings of one device kind, site and/or placement (core-equivalent)."""

    kind: Annotated[
        Literal["handheld", "kiosk"] | None,
        Field(description="Device kind; empty matches every kind."),
    ] = None
    site: Annotated[Site | None, Field(description="Site; empty matches every site.")] = None
    placement: Annotated[
        Placement | None, Field(description="Placement; empty matches every placement.")
    ] = None
    threshold_c: Annotated[float, Field(ge=35.0, le=40.0, description="The threshold.")]


class EngineSettings(Section):
    """The fever decision: calibration, thresholds, validity and the re-check protocol."""

    calibration: list[CalibrationSettings] = Field(
        default_factory=list,
        description="Overrides of the built-in calibrations (docs/detection.md).",
    )
    thresholds: list[ThresholdSettings] = Field(
        default_factory=list,
        description="Thresholds per site/placement; otherwise gateway.threshold_c.",
    )
    very_high_c: Annotated[
        float, Field(ge=37.5, le=42.0, description="At or above this: fever at once.")
    ] = 38.5
    assess_min_c: Annotated[
        float, Field(ge=25, le=36, description="Below this (core-equivalent): not assessable.")
    ] = 34.0
    assess_max_c: Annotated[
        float, Field(ge=40, le=46, description="Above this: physiologically impossible.")
    ] = 43.0
    recheck_window_s: Annotated[
        float, Field(gt=0, description="A suspicious reading waits this long for a re-check.")
    ] = 1800.0
    recheck_min_wait_s: Annotated[
        float,
        Field(ge=0, description="A re-check clears only this long after (time indoors)."),
    ] = 600.0
    device_baseline: list[Placement] = Field(
        default_factory=list,
        description="Placements whose readings the per-device baseline corrects (off if empty).",
    )
    baseline_window: Annotated[
        int, Field(ge=10, le=5000, description="Ordinary readings a device baseline keeps.")
    ] = 200
    baseline_warmup: Annotated[
        int, Field(ge=5, le=5000, description="Readings before a device baseline corrects.")
    ] = 30
    baseline_reference_c: Annotated[
        float,
        Field(ge=35, le=38, description="Where a device's median of ordinary readings belongs."),
    ] = 36.6
    baseline_max_correction_c: Annotated[
        float, Field(gt=0, le=8, description="Largest correction a device baseline applies.")
    ] = 4.0
    personal_baseline: Annotated[
        bool, Field(description="Compare each person with their own recent ordinary readings.")
    ] = True
    personal_window: Annotated[
        int, Field(ge=3, le=100, description="Ordinary readings kept per person and place.")
    ] = 10
    personal_warmup: Annotated[
        int, Field(ge=1, le=100, description="Readings before a personal baseline corrects.")
    ] = 3
    personal_max_correction_c: Annotated[
        float, Field(gt=0, le=4, description="Largest correction a personal baseline applies.")
    ] = 1.0
    personal_min_age_h: Annotated[
        float,
        Field(ge=0, description="Only readings at least this old form a personal baseline."),
    ] = 6.0
    personal_max_age_days: Annotated[
        float, Field(gt=0, description="A personal baseline older than this starts over.")
    ] = 14.0
    personal_max_people: Annotated[
        int, Field(ge=100, description="People (and places) remembered; the least recent go.")
    ] = 200_000
    cold_placements: list[Placement] = Field(
        default_factory=lambda: [Placement.DOOR],
        description="Where people are read on arrival: corrected for the outdoor cold.",
    )
    cold_indoor_c: Annotated[
        float, Field(ge=10, le=30, description="Indoor temperature the cold is measured from.")
    ] = 20.0
    cold_gain_forehead_per_c: Annotated[
        float,
        Field(ge=0, le=0.3, description="Forehead deficit per °C colder outside, on arrival."),
    ] = 0.05
    cold_gain_wrist_per_c: Annotated[
        float, Field(ge=0, le=0.3, description="Wrist deficit per °C colder outside, on arrival.")
    ] = 0.017
    outdoor_max_age_s: Annotated[
        float, Field(gt=0, description="An outdoor reading older than this is not used.")
    ] = 10_800.0
    stuck_run: Annotated[
        int,
        Field(
            ge=0,
            le=1000,
            description="Identical readings in a row that mean a stuck sensor (0: off).",
        ),
    ] = 8
    drift_window: Annotated[
        int, Field(ge=10, le=5000, description="Recent readings per device for the peer check.")
    ] = 100
    drift_min_readings: Annotated[
        int, Field(ge=5, le=5000, description="Readings a device needs before it is judged.")
    ] = 30
    drift_warn_c: Annotated[
        float, Field(gt=0, le=5, description="Median this far from its peers: device warned.")
    ] = 0.8
    drift_invalid_c: Annotated[
        float, Field(gt=0, le=10, description="This far from its peers: readings invalid.")
    ] = 1.5


class InfluxV2SinkSettings(Section):
    """InfluxDB 2.x/3.x, 1.8+ or VictoriaMetrics through influxdb-client's v2 write API."""

    kind: Annotated[Literal["influxdb-v2"], Field(description="Selects this kind of sink.")]
    url: Annotated[str, Field(description="Base URL, e.g. http://influxdb:8086.")]
    token: Annotated[SecretStr, Field(description="API token (empty for VictoriaMetrics).")] = (
        SecretStr("")
    )
    org: Annotated[str, Field(description="Organisation (ignored by VictoriaMetrics).")] = (
        "thermogate"
    )
    bucket: Annotated[str, Field(description="Bucket (ignored by VictoriaMetrics).")] = "screening"


class InfluxV1SinkSettings(Section):
    """InfluxDB 1.x through its ``/write`` endpoint."""

    kind: Annotated[Literal["influxdb-v1"], Field(description="Selects this kind of sink.")]
    url: Annotated[str, Field(description="Base URL, e.g. http://127.0.0.1:8086.")]
    database: Annotated[str, Field(description="Database; created when missing.")] = "screening"
    username: Annotated[str | None, Field(description="User, when auth is on.")] = None
    password: Annotated[SecretStr | None, Field(description="Password, when auth is on.")] = None


class SqliteSinkSettings(Section):
    """The embedded time-series store of the demo (one SQLite file)."""

    kind: Annotated[Literal["sqlite"], Field(description="Selects this kind of sink.")]
    path: Annotated[Path, Field(description="The SQLite file.")] = Path("var/screening.sqlite3")


SinkSettings = Annotated[
    InfluxV2SinkSettings | InfluxV1SinkSettings | SqliteSinkSettings, Field(discriminator="kind")
]


def _default_sinks() -> list[InfluxV2SinkSettings | InfluxV1SinkSettings | SqliteSinkSettings]:
    return [SqliteSinkSettings(kind="sqlite")]


class IngestSettings(Section):
    """Where readings are stored; a batch is acknowledged only once every sink has it."""

    sinks: list[SinkSettings] = Field(
        default_factory=_default_sinks,
        description="Every sink stores every batch (default: one SQLite file).",
    )
    measurement: Annotated[
        str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Measurement name.")
    ] = "screening"
    timeout_s: Annotated[float, Field(gt=0, description="HTTP timeout of one write.")] = 10.0
    retry_initial_s: Annotated[
        float, Field(gt=0, description="First wait after a failed write; doubles.")
    ] = 0.5
    retry_max_s: Annotated[float, Field(gt=0, description="Longest wait between retries.")] = 30.0


class AlertSettings(Section):
    """Alert delivery: MQTT always, push channels through apprise URLs."""

    push_urls: Annotated[
        list[SecretStr], Field(description="apprise URLs, e.g. json://clinic.example/hook")
    ] = Field(default_factory=list)
    retries: Annotated[int, Field(ge=0, le=20, description="Retries of a failed push.")] = 5
    retry_initial_s: Annotated[
        float, Field(gt=0, description="First wait after a failed push; doubles.")
    ] = 0.5
    escalation_minutes: Annotated[
        float,
        Field(
            gt=0,
            description="Lifecycle: an alert not acknowledged this long escalates, and again "
            "every period until acknowledged.",
        ),
    ] = 5.0
    episode_hours: Annotated[
        float,
        Field(
            gt=0,
            description="Lifecycle: a later alert of the same person (device, edge) joins the "
            "open alert when it comes within this long of its readings.",
        ),
    ] = 24.0
    link_secret: Annotated[
        SecretStr,
        Field(description="Lifecycle: HMAC key signing the acknowledge and open links."),
    ] = SecretStr(DEVELOPMENT_LINK_SECRET)
    link_ttl_minutes: Annotated[
        float, Field(gt=0, description="Lifecycle: how long a signed link stays valid.")
    ] = 1440.0
    public_base_url: Annotated[
        str,
        Field(
            pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
            description="Lifecycle: where the records service is reached, for signed links.",
        ),
    ] = "http://127.0.0.1:8080"


class RecordsSettings(Section):
    """The companion records service."""

    host: Annotated[str, Field(description="Address the HTTP server binds.")] = "127.0.0.1"
    port: Annotated[int, Field(gt=0, lt=65536, description="HTTP port.")] = 8080
    state_dir: Annotated[
        Path, Field(description="Where the embedded SQLite database lives (demo).")
    ] = Path("var/records")
    database_url: Annotated[
        SecretStr | None,
        Field(
            description="SQLAlchemy URL, e.g. postgresql+psycopg://records@db/records; "
            "empty: SQLite in state_dir."
        ),
    ] = None
    jwt_secret: Annotated[
        SecretStr, Field(description="HS256 key signing access tokens; set it in production.")
    ] = SecretStr(DEVELOPMENT_JWT_SECRET)
    token_minutes: Annotated[
        int, Field(ge=1, le=1440, description="Lifetime of an access token.")
    ] = 30
    timezone: Annotated[
        str, Field(description="IANA time zone of the daily checks and reports.")
    ] = "Asia/Shanghai"
    morning_deadline: Annotated[
        str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Morning check due by.")
    ] = "10:00"
    noon_deadline: Annotated[
        str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Noon check due by.")
    ] = "14:00"
    bootstrap_admin: Annotated[
        str | None, Field(description="Admin user created at start when there is no user.")
    ] = None
    bootstrap_password: Annotated[
        SecretStr | None, Field(description="Its password; set it through the environment.")
    ] = None
    cache_dir: Annotated[
        Path, Field(description="Where the gateway's records client caches the registry.")
    ] = Path("var/records-cache")
    url: Annotated[
        str | None,
        Field(description="Base URL clients (the gateway) reach the service at; empty: none."),
    ] = None
    client_username: Annotated[
        str | None, Field(description="Account (role gateway) the records client logs in as.")
    ] = None
    client_password: Annotated[
        SecretStr | None, Field(description="Its password; set it through the environment.")
    ] = None
    alert_lifecycle: Annotated[
        Literal["off", "api", "mqtt"],
        Field(
            description="Run the alert lifecycle in the service: alerts from POST "
            "/integration/alerts (api) or also from the broker (mqtt)."
        ),
    ] = "off"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return GatewaySettings._known_timezone(value)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL: the configured one, or the SQLite file in ``state_dir``."""
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.state_dir / 'records.sqlite3'}"


class DashboardsSettings(Section):
    """Grafana's data sources as ``thermogate dashboards push`` creates them: addresses as
    Grafana reaches them, read-only credentials."""

    folder_title: Annotated[str, Field(description="Grafana folder of the dashboards.")] = (
        "thermogate"
    )
    influx_url: Annotated[str, Field(description="InfluxDB as Grafana reaches it.")] = (
        "http://influxdb:8086"
    )
    influx_database: Annotated[
        str, Field(description="InfluxQL database: the 1.x database, or the 2.x/3.x DBRP name.")
    ] = "screening"
    influx_token: Annotated[
        SecretStr | None, Field(description="InfluxDB 2.x/3.x token (read); empty for 1.x.")
    ] = None
    influx_user: Annotated[
        str | None, Field(description="InfluxDB 1.x user, when authentication is on.")
    ] = None
    influx_password: Annotated[SecretStr | None, Field(description="Its password.")] = None
    postgres_host: Annotated[
        str, Field(description="The records database as Grafana reaches it, host:port.")
    ] = "postgres:5432"
    postgres_database: Annotated[str, Field(description="The records database.")] = "records"
    postgres_user: Annotated[
        str, Field(description="A read-only role for Grafana (SELECT on the tables).")
    ] = "grafana"
    postgres_password: Annotated[SecretStr | None, Field(description="Its password.")] = None
    postgres_sslmode: Annotated[
        Literal["disable", "require", "verify-ca", "verify-full"],
        Field(description="TLS to PostgreSQL."),
    ] = "disable"


class LogSettings(Section):
    """Structured logging."""

    level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], Field(description="Lowest level logged.")
    ] = "INFO"
    format: Annotated[
        Literal["json", "console"], Field(description="JSON lines, or a readable console form.")
    ] = "json"


class Settings(Section):
    """Everything a thermogate process can be told."""

    environment: Annotated[
        Literal["development", "production"],
        Field(description="production refuses development secrets."),
    ] = "development"
    buildings: list[BuildingSettings] = Field(
        default_factory=list, description="The buildings and their entrances."
    )
    devices: list[DeviceSettings] = Field(default_factory=list, description="The device registry.")
    edges: list[EdgeAgentSettings] = Field(
        default_factory=list, description="One edge agent per entrance."
    )
    mqtt: MqttSettings = MqttSettings()
    edge: EdgeSettings = EdgeSettings()
    gateway: GatewaySettings = GatewaySettings()
    engine: EngineSettings = EngineSettings()
    ingest: IngestSettings = IngestSettings()
    alerts: AlertSettings = AlertSettings()
    records: RecordsSettings = RecordsSettings()
    dashboards: DashboardsSettings = DashboardsSettings()
    log: LogSettings = LogSettings()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        entrances = {(b.id, e) for b in self.buildings for e in b.entrances}
        device_ids = [d.id for d in self.devices]
        duplicates = {d for d in device_ids if device_ids.count(d) > 1}
        if duplicates:
            raise ValueError(f"duplicate device ids: {sorted(duplicates)}")
        for device in self.devices:
            if entrances and (device.building, device.entrance) not in entrances:
                raise ValueError(
                    f"device {device.id}: entrance {device.building}/{device.entrance} "
                    "is not declared in [[buildings]]"
                )
        for edge in self.edges:
            unknown = set(edge.devices) - set(device_ids)
            if unknown:
                raise ValueError(f"edge {edge.id}: unknown devices {sorted(unknown)}")
        if self.environment == "production" and (
            self.edge.pseudonym_key.get_secret_value() == DEVELOPMENT_PSEUDONYM_KEY
        ):
            raise ValueError("edge.pseudonym_key must be set to a secret outside development")
        if self.environment == "production" and (
            self.records.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET
        ):
            raise ValueError("records.jwt_secret must be set to a secret outside development")
        return self

    def device(self, device_id: str) -> DeviceSettings | None:
        """The registry entry of a device, if any."""
        return next((d for d in self.devices if d.id == device_id), None)

    def edge_agent(self, edge_id: str) -> EdgeAgentSettings:
        """The settings of one edge agent, or a clear error."""
        for edge in self.edges:
            if edge.id == edge_id:
                return edge
        known = ", ".join(e.id for e in self.edges) or "none"
        raise ConfigError([f"no [[edges]] entry with id {edge_id!r} (configured: {known})"])


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` are one line each, naming key and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge environment overrides into, and validate the configuration."""
    environ = os.environ if environ is None else environ
    text = ""
    document: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
            document = tomllib.loads(text)
        except FileNotFoundError:
            raise ConfigError([f"{path}: no such file"]) from None
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError([f"{path}: {exc}"]) from None
    overrides: dict[tuple[str | int, ...], str] = {}
    problems = _apply_environment(document, environ, overrides)
    if problems:
        raise ConfigError(problems)
    try:
        return Settings.model_validate(document)
    except ValidationError as exc:
        lines = _key_lines(text)
        where = str(path) if path is not None else "<defaults>"
        found = []
        for error in exc.errors():
            loc = _key_path(document, tuple(error["loc"]))
            key = ".".join(str(p) for p in loc) or "(top level)"
            variable = next((v for k, v in overrides.items() if loc[: len(k)] == k), None)
            line = _line_of(lines, loc)
            if variable is not None:  # the value came from the environment, not the file
                prefix = f"environment variable {variable}"
            else:
                prefix = f"{where}:{line}" if line else where
            found.append(f"{prefix}: {key}: {error['msg']}")
        raise ConfigError(found) from None


def _key_path(document: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """An error location as keys of the document: without the tag pydantic inserts for a
    discriminated union (``ingest.sinks.1.influxdb-v2.url`` is ``ingest.sinks.1.url``)."""
    path: list[str | int] = []
    node: Any = document
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("kind") == part:
            continue
        path.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(path)


def _apply_environment(
    document: dict[str, Any],
    environ: Mapping[str, str],
    overrides: dict[tuple[str | int, ...], str],
) -> list[str]:
    """Merge the overrides into ``document``; record in ``overrides`` which key each set."""
    problems = []
    sections = {
        name for name, field in Settings.model_fields.items() if _is_section(field.annotation)
    }
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_PATH_VARIABLE:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if len(path) == 1 and path[0] == "environment":
            document["environment"] = value
            overrides[("environment",)] = name
            continue
        if len(path) != 2 or path[0] not in sections:
            problems.append(
                f"environment variable {name}: expected {ENV_PREFIX}<SECTION>__<KEY> "
                f"with SECTION one of {sorted(sections)}"
            )
            continue
        section = document.setdefault(path[0], {})
        if not isinstance(section, dict):
            problems.append(f"environment variable {name}: [{path[0]}] is not a table")
            continue
        section[path[1]] = _env_value(value)
        overrides[(path[0], path[1])] = name
    return problems


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Section)


def _env_value(raw: str) -> Any:
    """An array, table or quoted string written as TOML, else the text itself.

    Numbers and booleans stay text: the field's type converts them ("1884" for a port,
    "true" for a flag), while a text field keeps them as written (a password "123456", the
    MQTT protocol "5"), which it would refuse as a TOML integer.
    """
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw
    return value if isinstance(value, str | list | dict) else raw


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"]+)\s*=")


def _key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each key path in a TOML text to its line number (1-based), for error messages."""
    lines: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    array_counts: dict[tuple[str | int, ...], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            parts: tuple[str | int, ...] = tuple(
                p.strip().strip('"') for p in header.group(2).split(".")
            )
            if header.group(1) == "[[":
                index = array_counts.get(parts, -1) + 1
                array_counts[parts] = index
                parts = (*parts, index)
            table = parts
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            path = (*table, *(p.strip('"') for p in key.group(1).split(".")))
            lines.setdefault(path, number)
    return lines


def _line_of(lines: dict[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    """The line of the deepest known prefix of an error location."""
    for end in range(len(loc), 0, -1):
        found = lines.get(loc[:end])
        if found is not None:
            return found
    return None
