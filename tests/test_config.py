"""The configuration file: typed settings, environment overrides, errors naming key and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from thermogate.config import (
    DEVELOPMENT_PSEUDONYM_KEY,
    ConfigError,
    InfluxV1SinkSettings,
    InfluxV2SinkSettings,
    Settings,
    SqliteSinkSettings,
    load_settings,
)
from thermogate.contract import DeviceKind, Placement, Site

FULL_EXAMPLE = """\
# Two dorm buildings under closed management, one entrance each in use.
environment = "development"

[[buildings]]
id = "wenyuan-2"
name = "Wenyuan Building 2"
entrances = ["main", "east"]

[[buildings]]
id = "wenyuan-3"
name = "Wenyuan Building 3"
entrances = ["main"]

[[devices]]
id = "hh-w2-main-1"
kind = "handheld"
building = "wenyuan-2"
entrance = "main"
site = "wrist"
port = "/dev/ttyUSB0"

[[devices]]
id = "cr-w2-main-1"
kind = "card-reader"
building = "wenyuan-2"
entrance = "main"
port = "/dev/ttyUSB1"
baudrate = 19200

[[devices]]
id = "kiosk-w3-main-1"
kind = "kiosk"
building = "wenyuan-3"
entrance = "main"
site = "canthus"
placement = "lobby"

[[edges]]
id = "edge-w2-main"
building = "wenyuan-2"
entrance = "main"
devices = ["hh-w2-main-1", "cr-w2-main-1"]

[mqtt]
host = "broker.campus.example"
port = 8883
username = "thermogate"
password = "broker-secret"
protocol = "3.1.1"
keepalive_s = 60

[edge]
pairing_window_s = 5.0
pseudonym_key = "edge-secret"
data_dir = "/var/lib/thermogate/edge"

[gateway]
id = "gateway-1"
threshold_c = 37.3
batch_max = 1000
accept_unknown_devices = false

[ingest]
measurement = "screening"

[[ingest.sinks]]
kind = "sqlite"
path = "var/screening.sqlite3"

[[ingest.sinks]]
kind = "influxdb-v2"
url = "http://127.0.0.1:8428"

[[ingest.sinks]]
kind = "influxdb-v1"
url = "http://127.0.0.1:8086"
database = "screening"

[alerts]
push_urls = ["json://clinic.example/hook"]
retries = 3

[records]
port = 8081
jwt_secret = "records-secret"

[log]
level = "DEBUG"
format = "console"
"""

MINIMAL = """\
[[buildings]]
id = "wenyuan-2"
name = "Wenyuan Building 2"
entrances = ["main"]

[[devices]]
id = "hh-1"
kind = "handheld"
building = "wenyuan-2"
entrance = "main"

[[devices]]
id = "hh-2"
kind = "handheld"
building = "wenyuan-2"
entrance = "main"

[mqtt]
host = "127.0.0.1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thermogate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based number of the line holding the n-th occurrence of ``needle``."""
    found = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return found[occurrence - 1]


def problems(path: Path | None, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ or {})
    assert str(info.value).startswith("invalid configuration:\n  ")
    return info.value.problems


def insert_after(text: str, needle: str, addition: str, occurrence: int = 1) -> str:
    """``text`` with ``addition`` as a new line after the n-th line holding ``needle``."""
    lines = text.splitlines()
    lines.insert(line_of(text, needle, occurrence), addition)
    return "\n".join(lines) + "\n"


# --- a valid file ----------------------------------------------------------------------------


def test_the_full_example_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, FULL_EXAMPLE), {})

    assert [b.id for b in settings.buildings] == ["wenyuan-2", "wenyuan-3"]
    assert settings.buildings[0].entrances == ["main", "east"]
    handheld = settings.device("hh-w2-main-1")
    assert handheld is not None
    assert (handheld.site, handheld.placement, handheld.port) == (
        Site.WRIST,
        Placement.DOOR,
        "/dev/ttyUSB0",
    )
    assert handheld.wire_kind is DeviceKind.HANDHELD
    reader = settings.device("cr-w2-main-1")
    assert reader is not None
    assert (reader.wire_kind, reader.baudrate) == (None, 19200)
    kiosk = settings.device("kiosk-w3-main-1")
    assert kiosk is not None
    assert (kiosk.wire_kind, kiosk.site, kiosk.placement) == (
        DeviceKind.KIOSK,
        Site.CANTHUS,
        Placement.LOBBY,
    )
    assert settings.device("nope") is None
    assert settings.edge_agent("edge-w2-main").devices == ["hh-w2-main-1", "cr-w2-main-1"]

    assert (settings.mqtt.host, settings.mqtt.port, settings.mqtt.protocol) == (
        "broker.campus.example",
        8883,
        "3.1.1",
    )
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "broker-secret"
    assert settings.edge.pseudonym_key.get_secret_value() == "edge-secret"
    assert settings.edge.data_dir == Path("/var/lib/thermogate/edge")
    assert settings.gateway.threshold_c == 37.3
    assert [type(s) for s in settings.ingest.sinks] == [
        SqliteSinkSettings,
        InfluxV2SinkSettings,
        InfluxV1SinkSettings,
    ]
    assert [u.get_secret_value() for u in settings.alerts.push_urls] == [
        "json://clinic.example/hook"
    ]
    assert (settings.records.port, settings.log.level, settings.log.format) == (
        8081,
        "DEBUG",
        "console",
    )


def test_no_file_gives_the_defaults() -> None:
    settings = load_settings(None, {})
    assert settings == Settings()
    assert settings.environment == "development"
    assert settings.mqtt.port == 1883
    assert settings.gateway.threshold_c == 37.3
    assert settings.edge.pseudonym_key.get_secret_value() == DEVELOPMENT_PSEUDONYM_KEY
    assert [type(s) for s in settings.ingest.sinks] == [SqliteSinkSettings]


def test_secrets_do_not_show_in_repr(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, FULL_EXAMPLE), {})
    assert "broker-secret" not in repr(settings)
    assert "edge-secret" not in repr(settings)


def test_an_unknown_edge_id_names_the_configured_ones(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, FULL_EXAMPLE), {})
    with pytest.raises(ConfigError) as info:
        settings.edge_agent("edge-w9")
    assert info.value.problems == [
        "no [[edges]] entry with id 'edge-w9' (configured: edge-w2-main)"
    ]


# --- unknown keys: the line and the key path -------------------------------------------------


def test_unknown_top_level_key(tmp_path: Path) -> None:
    text = insert_after(FULL_EXAMPLE, 'environment = "development"', "threshold = 37.3")
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:{line_of(text, 'threshold = 37.3')}: threshold: Extra inputs are not permitted"
    ]


def test_unknown_key_in_a_table(tmp_path: Path) -> None:
    text = insert_after(FULL_EXAMPLE, "keepalive_s = 60", "keep_alive = 60")
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:{line_of(text, 'keep_alive = 60')}: mqtt.keep_alive: "
        "Extra inputs are not permitted"
    ]


def test_unknown_key_in_the_second_of_an_array_of_tables(tmp_path: Path) -> None:
    text = insert_after(FULL_EXAMPLE, 'kind = "card-reader"', 'colour = "grey"')
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:{line_of(text, 'colour')}: devices.1.colour: Extra inputs are not permitted"
    ]


def test_unknown_key_in_a_nested_array_of_tables(tmp_path: Path) -> None:
    text = insert_after(FULL_EXAMPLE, 'url = "http://127.0.0.1:8428"', 'bucket_name = "x"')
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:{line_of(text, 'bucket_name')}: ingest.sinks.1.bucket_name: "
        "Extra inputs are not permitted"
    ]


def test_unknown_key_in_an_inline_table_points_at_its_line(tmp_path: Path) -> None:
    text = 'log = { level = "INFO", colour = true }\n'
    path = write(tmp_path, text)
    assert problems(path) == [f"{path}:1: log.colour: Extra inputs are not permitted"]


def test_unknown_table(tmp_path: Path) -> None:
    text = FULL_EXAMPLE + "\n[clinic]\nphone = 110\n"
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:{line_of(text, '[clinic]')}: clinic: Extra inputs are not permitted"
    ]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = insert_after(FULL_EXAMPLE, "keepalive_s = 60", "keep_alive = 60")
    text = insert_after(text, "retries = 3", "retry = 3")
    found = problems(write(tmp_path, text))
    assert [p.split(": ")[1] for p in found] == ["mqtt.keep_alive", "alerts.retry"]


# --- wrong types and values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ("port = 8883", 'port = "high"', "mqtt.port", "Input should be a valid integer"),
        ("port = 8883", "port = 70000", "mqtt.port", "Input should be less than 65536"),
        ("threshold_c = 37.3", "threshold_c = 50", "gateway.threshold_c", "less than or equal"),
        ('protocol = "3.1.1"', 'protocol = "4"', "mqtt.protocol", "Input should be '5' or"),
        (
            'kind = "kiosk"',
            'kind = "thermometer"',
            "devices.2.kind",
            "Input should be 'handheld', 'kiosk' or 'card-reader'",
        ),
        ('site = "wrist"', 'site = "ear"', "devices.0.site", "Input should be 'forehead'"),
        (
            'id = "wenyuan-3"',
            'id = "Wenyuan 3"',
            "buildings.1.id",
            "String should match pattern",
        ),
        ('entrances = ["main"]', "entrances = []", "buildings.1.entrances", "at least 1 item"),
        ("retries = 3", 'retries = "three"', "alerts.retries", "valid integer"),
        (
            'level = "DEBUG"',
            'level = "debug"',
            "log.level",
            "Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        ),
        (
            'database = "screening"',
            "database = 1",
            "ingest.sinks.2.database",
            "Input should be a valid string",
        ),
    ],
)
def test_wrong_values_name_the_key_and_the_line(
    tmp_path: Path, old: str, new: str, key: str, message: str
) -> None:
    text = FULL_EXAMPLE.replace(old, new, 1)
    path = write(tmp_path, text)
    [problem] = problems(path)
    assert problem.startswith(f"{path}:{line_of(text, new)}: {key}: ")
    assert message in problem


def test_a_missing_required_key_points_at_its_table(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace('url = "http://127.0.0.1:8086"\n', "", 1)
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:{line_of(text, '[[ingest.sinks]]', 3)}: ingest.sinks.2.url: Field required"
    ]


def test_an_unknown_sink_kind(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace('kind = "influxdb-v1"', 'kind = "postgres"', 1)
    path = write(tmp_path, text)
    [problem] = problems(path)
    assert problem.startswith(f"{path}:{line_of(text, '[[ingest.sinks]]', 3)}: ingest.sinks.2: ")
    assert "'postgres'" in problem


def test_a_wrong_value_does_not_reveal_secrets(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace("port = 8883", 'port = "high"', 1)
    message = str(problems(write(tmp_path, text)))
    assert "broker-secret" not in message
    assert "edge-secret" not in message


def test_toml_syntax_errors_name_file_and_line(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace("port = 8883", "port = ", 1)
    path = write(tmp_path, text)
    [problem] = problems(path)
    assert problem.startswith(f"{path}: ")
    assert f"(at line {text.splitlines().index('port = ') + 1}, column 8)" in problem


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert problems(path) == [f"{path}: no such file"]


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "thermogate.toml"
    path.write_bytes(b'[mqtt]\nhost = "\xff"\n')
    [problem] = problems(path)
    assert problem.startswith(f"{path}: ")
    assert "utf-8" in problem


# --- cross-checks ----------------------------------------------------------------------------


def test_production_refuses_the_development_pseudonym_key(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace('environment = "development"', 'environment = "production"')
    text = text.replace('pseudonym_key = "edge-secret"\n', "")
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}: (top level): Value error, "
        "edge.pseudonym_key must be set to a secret outside development"
    ]


def test_production_with_the_development_key_written_out_is_refused_too(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace('environment = "development"', 'environment = "production"')
    text = text.replace('"edge-secret"', f'"{DEVELOPMENT_PSEUDONYM_KEY}"')
    [problem] = problems(write(tmp_path, text))
    assert problem.endswith("edge.pseudonym_key must be set to a secret outside development")


def test_production_refuses_the_development_records_jwt_secret(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace('environment = "development"', 'environment = "production"')
    text = text.replace('jwt_secret = "records-secret"\n', "")
    [problem] = problems(write(tmp_path, text))
    assert problem.endswith("records.jwt_secret must be set to a secret outside development")


def test_production_with_a_real_key_is_accepted(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace('environment = "development"', 'environment = "production"')
    assert load_settings(write(tmp_path, text), {}).environment == "production"


def test_a_device_at_an_undeclared_entrance_is_refused(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace('entrance = "main"\nsite = "canthus"', 'entrance = "west"\n')
    text = text.replace('placement = "lobby"\n', "")
    [problem] = problems(write(tmp_path, text))
    assert problem.endswith(
        "device kiosk-w3-main-1: entrance wenyuan-3/west is not declared in [[buildings]]"
    )


def test_a_device_in_an_undeclared_building_is_refused(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace('building = "wenyuan-3"', 'building = "wenyuan-9"', 1)
    [problem] = problems(write(tmp_path, text))
    assert problem.endswith(
        "device kiosk-w3-main-1: entrance wenyuan-9/main is not declared in [[buildings]]"
    )


def test_duplicate_device_ids_are_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('id = "hh-2"', 'id = "hh-1"')
    path = write(tmp_path, text)
    assert problems(path) == [f"{path}: (top level): Value error, duplicate device ids: ['hh-1']"]


def test_an_edge_reading_an_unknown_device_is_refused(tmp_path: Path) -> None:
    text = FULL_EXAMPLE.replace('"cr-w2-main-1"]', '"cr-w2-main-9"]')
    [problem] = problems(write(tmp_path, text))
    assert problem.endswith("edge edge-w2-main: unknown devices ['cr-w2-main-9']")


# --- environment overrides -------------------------------------------------------------------


def test_environment_overrides_numbers(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, FULL_EXAMPLE),
        {"THERMOGATE_MQTT__PORT": "1884", "THERMOGATE_GATEWAY__THRESHOLD_C": "37.5"},
    )
    assert settings.mqtt.port == 1884
    assert settings.gateway.threshold_c == 37.5
    assert settings.mqtt.host == "broker.campus.example"  # the rest stays as in the file


def test_environment_overrides_without_a_file() -> None:
    settings = load_settings(None, {"THERMOGATE_MQTT__PORT": "1884"})
    assert settings.mqtt.port == 1884


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("false", False), ("True", True), ("1", True)]
)
def test_environment_overrides_booleans(raw: str, expected: bool) -> None:
    settings = load_settings(None, {"THERMOGATE_GATEWAY__ACCEPT_UNKNOWN_DEVICES": raw})
    assert settings.gateway.accept_unknown_devices is expected


def test_environment_overrides_arrays() -> None:
    settings = load_settings(
        None, {"THERMOGATE_ALERTS__PUSH_URLS": '["json://a.example/x", "mailto://b@c.example"]'}
    )
    assert [u.get_secret_value() for u in settings.alerts.push_urls] == [
        "json://a.example/x",
        "mailto://b@c.example",
    ]


@pytest.mark.parametrize(
    ("variable", "raw", "read"),
    [
        ("THERMOGATE_MQTT__HOST", "broker.local", lambda s: s.mqtt.host),
        ("THERMOGATE_MQTT__HOST", "10.0.0.5", lambda s: s.mqtt.host),
        ("THERMOGATE_MQTT__HOST", '"quoted.example"', lambda s: s.mqtt.host),
        ("THERMOGATE_MQTT__PROTOCOL", "5", lambda s: s.mqtt.protocol),
        ("THERMOGATE_MQTT__USERNAME", "1000", lambda s: s.mqtt.username),
        (
            "THERMOGATE_MQTT__PASSWORD",
            "123456",
            lambda s: s.mqtt.password and s.mqtt.password.get_secret_value(),
        ),
        (
            "THERMOGATE_EDGE__PSEUDONYM_KEY",
            "20240117",
            lambda s: s.edge.pseudonym_key.get_secret_value(),
        ),
        ("THERMOGATE_EDGE__DATA_DIR", "/srv/edge", lambda s: str(s.edge.data_dir)),
    ],
)
def test_environment_overrides_text_even_when_it_looks_like_a_number(
    variable: str, raw: str, read: Callable[[Settings], object]
) -> None:
    settings = load_settings(None, {variable: raw})
    assert read(settings) == raw.strip('"')


def test_environment_override_of_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, FULL_EXAMPLE), {"THERMOGATE_ENVIRONMENT": "production"}
    )
    assert settings.environment == "production"


def test_production_from_the_environment_with_the_default_key_is_refused() -> None:
    assert problems(None, {"THERMOGATE_ENVIRONMENT": "production"}) == [
        "<defaults>: (top level): Value error, "
        "edge.pseudonym_key must be set to a secret outside development"
    ]
    settings = load_settings(
        None,
        {
            "THERMOGATE_ENVIRONMENT": "production",
            "THERMOGATE_EDGE__PSEUDONYM_KEY": "s3",
            "THERMOGATE_RECORDS__JWT_SECRET": "s4",
        },
    )
    assert settings.environment == "production"


def test_a_bad_environment_value_names_the_variable_not_a_line_of_the_file(
    tmp_path: Path,
) -> None:
    found = problems(write(tmp_path, FULL_EXAMPLE), {"THERMOGATE_MQTT__PORT": "high"})
    assert found == [
        "environment variable THERMOGATE_MQTT__PORT: mqtt.port: "
        "Input should be a valid integer, unable to parse string as an integer"
    ]


def test_an_unknown_key_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    found = problems(write(tmp_path, FULL_EXAMPLE), {"THERMOGATE_MQTT__PROT": "5"})
    assert found == [
        "environment variable THERMOGATE_MQTT__PROT: mqtt.prot: Extra inputs are not permitted"
    ]


def test_an_unknown_environment_value_names_the_variable() -> None:
    assert problems(None, {"THERMOGATE_ENVIRONMENT": "staging"}) == [
        "environment variable THERMOGATE_ENVIRONMENT: environment: "
        "Input should be 'development' or 'production'"
    ]


SECTIONS = (
    "['alerts', 'dashboards', 'edge', 'engine', 'gateway', 'ingest', 'log', 'mqtt', 'records']"
)


@pytest.mark.parametrize(
    "variable",
    [
        "THERMOGATE_BROKER__PORT",  # no such section
        "THERMOGATE_DEVICES__ID",  # arrays of tables come only from the file
        "THERMOGATE_MQTT__TLS__CA",  # one level only
        "THERMOGATE_MQTT_PORT",  # single underscore
        "THERMOGATE_PORT",
    ],
)
def test_an_unknown_environment_variable_is_refused_by_name(variable: str) -> None:
    assert problems(None, {variable: "1"}) == [
        f"environment variable {variable}: expected THERMOGATE_<SECTION>__<KEY> "
        f"with SECTION one of {SECTIONS}"
    ]


def test_an_override_of_a_section_that_is_not_a_table(tmp_path: Path) -> None:
    path = write(tmp_path, 'mqtt = "broker"\n')
    assert problems(path, {"THERMOGATE_MQTT__PORT": "1884"}) == [
        "environment variable THERMOGATE_MQTT__PORT: [mqtt] is not a table"
    ]


def test_other_environment_variables_are_ignored() -> None:
    settings = load_settings(None, {"PATH": "/usr/bin", "THERMOGATEWAY": "x", "MQTT_PORT": "1"})
    assert settings == Settings()
