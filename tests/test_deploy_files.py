"""The deployment files: compose stack, image, broker settings, stack configuration, dashboards.

Structural tests read the files the way compose, Docker, Grafana and Mosquitto read them and
check what an operator relies on: pinned images, healthchecks and health-gated start order,
secrets only from .env, a configuration every container accepts, dashboards whose queries
name only real tags and fields. Two tests run the real thing: the broker settings, password
script and ACL on a real Mosquitto with a real edge and its simulated devices, and every
dashboard query on a real InfluxDB 1.x.
"""

from __future__ import annotations

import getpass
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from servers import BinaryMissingError, MosquittoServer

import thermogate
from thermogate.cli import build_parser, main
from thermogate.config import InfluxV2SinkSettings, Settings, load_settings
from thermogate.contract import ComponentKind
from thermogate.contract.topics import (
    READINGS_FILTER,
    alerts_topic,
    deadletter_topic,
    readings_topic,
    status_topic,
)

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY_CONFIG = ROOT / "deploy" / "thermogate.toml"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
SHIPPED_MOSQUITTO_CONF = ROOT / "thermogate" / "defaults" / "mosquitto.conf"
ACL = ROOT / "deploy" / "mosquitto" / "acl"
MAKE_PASSWORDS = ROOT / "deploy" / "mosquitto" / "make-passwords.sh"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
EDGE_WITH_SIM = ROOT / "deploy" / "edge-with-sim.sh"
DASHBOARD = ROOT / "dashboards" / "json" / "duty-desk.json"
DATASOURCE = ROOT / "dashboards" / "provisioning" / "datasources" / "influxdb.yaml"
PROVIDER = ROOT / "dashboards" / "provisioning" / "dashboards" / "provider.yaml"

OUR_IMAGE = f"thermogate:{thermogate.__version__}"
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|KEY|SECRET|PUSH_URLS")
# Compose interpolation: $$ is a literal $, then ${NAME}, ${NAME<op>text} or $NAME.
_DOLLAR_DOLLAR = re.compile(r"\$\$")
_REFERENCE = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


# -- reading the files ---------------------------------------------------------------------


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def references(text: str) -> list[tuple[str, str | None]]:
    """Every variable compose interpolates in ``text``: (name, operator or None)."""
    text = _DOLLAR_DOLLAR.sub("", text)
    return [
        (m["name"], m["op"]) if m["name"] else (m["bare"], None) for m in _REFERENCE.finditer(text)
    ]


def strings(node: Any) -> Iterator[str]:
    """Every string value of a parsed YAML document (what compose interpolates)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """A value as compose would pass it to the container (for the operators used here)."""

    def replace(m: re.Match[str]) -> str:
        name = m["name"] or m["bare"]
        given = env.get(name)
        missing = given is None or (not given and m["op"] in (":?", ":-"))
        if missing and m["op"] in (":?", "?"):
            raise KeyError(f"{name}: {m['arg']}")
        if missing and m["op"] in (":-", "-"):
            return str(m["arg"])
        return given or ""

    return _REFERENCE.sub(replace, value.replace("$$", "\x00")).replace("\x00", "$")


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def filled_env() -> dict[str, str]:
    """.env.example with every empty secret filled in, as an operator would."""
    values = {}
    for key, value in env_example().items():
        if key == "ALERT_PUSH_URLS":
            values[key] = '["json://clinic.test/hook"]'
        else:
            values[key] = value or f"{key.lower().replace('_', '')}0123456789abcdef"
    return values


def service_environment(name: str, env: Mapping[str, str]) -> dict[str, str]:
    """The environment a service's container gets, interpolated from ``env``."""
    raw = services()[name].get("environment") or {}
    assert isinstance(raw, dict), f"{name}: environment must be a mapping"
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def our_services() -> list[str]:
    return [name for name, s in services().items() if s["image"] == OUR_IMAGE]


def container_settings(name: str, env: Mapping[str, str]) -> Settings:
    """deploy/thermogate.toml as the service's container loads it."""
    environ = {
        k: v for k, v in service_environment(name, env).items() if k.startswith("THERMOGATE_")
    }
    return load_settings(DEPLOY_CONFIG, environ)


def file_settings() -> Settings:
    """deploy/thermogate.toml alone (with the one variable production requires)."""
    return load_settings(DEPLOY_CONFIG, {"THERMOGATE_EDGE__PSEUDONYM_KEY": "k"})


def mosquitto_settings(path: Path) -> list[tuple[str, str]]:
    """(key, value) of every setting line of a mosquitto.conf, in order."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            out.append((key, value.strip()))
    return out


def acl_users(path: Path = ACL) -> dict[str, list[tuple[str, str]]]:
    """user -> [(access, topic)] of a Mosquitto ACL file."""
    users: dict[str, list[tuple[str, str]]] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user":
            current = words[1]
            users[current] = []
        else:
            assert words[0] == "topic" and current is not None, f"unexpected ACL line {line!r}"
            assert words[1] in {"read", "write", "readwrite", "deny"}, line
            users[current].append((words[1], words[2]))
    return users


def password_accounts() -> dict[str, str]:
    """user -> environment variable, as make-passwords.sh creates them."""
    text = MAKE_PASSWORDS.read_text(encoding="utf-8")
    return dict(re.findall(r'^\s+"([a-z0-9-]+):(MQTT_[A-Z0-9_]+_PASSWORD)"$', text, re.M))


# -- compose -------------------------------------------------------------------------------


def test_every_image_is_pinned_to_an_exact_version() -> None:
    for name, service in services().items():
        image = service.get("image", "")
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
        # An exact release: 2.0.20, or 16.6 where releases have two parts (PostgreSQL).
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", tag), f"{name}: {image!r} is not exact"
        if "build" in service:
            assert image == OUR_IMAGE, f"{name}: our image must carry the project version"
    froms = re.findall(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert froms
    assert all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", f) for f in froms), froms


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    expected_order = {
        "mosquitto": set(),
        "influxdb": set(),
        "postgres": set(),
        "grafana": {"influxdb"},
        "records": {"postgres"},
        "gateway": {"mosquitto", "influxdb"},
        "edge-wenyuan-2": {"mosquitto", "gateway"},
        "edge-wenyuan-3": {"mosquitto", "gateway"},
    }
    assert set(services()) == set(expected_order)
    for name, service in services().items():
        test = service.get("healthcheck", {}).get("test")
        assert isinstance(test, list), f"{name}: no healthcheck"
        assert test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, f"{name}: {test}"
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name a condition"
        assert set(depends) == expected_order[name], name
        for dependency, how in depends.items():
            assert how == {"condition": "service_healthy"}, f"{name} -> {dependency}: {how}"


def test_secrets_come_only_from_env_and_stop_compose_when_unset() -> None:
    used = [ref for value in strings(compose()) for ref in references(value)]
    secrets = {name for name, _ in used if SECRET_NAME.search(name)}
    assert secrets >= {"MQTT_GATEWAY_PASSWORD", "INFLUXDB_TOKEN", "EDGE_PSEUDONYM_KEY"}
    for name, op in used:
        if name in secrets:
            assert op == ":?", f"${{{name}}} must be written ${{{name}:?message}}"
    # No secret-looking setting of any container is a literal: each is a required variable.
    for service_name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                names = [n for n, op in references(str(value)) if op == ":?"]
                assert names, f"{service_name}: {key} must come from a ${{VAR:?...}}"
    # Every variable is documented in .env.example, and nothing else is; secrets are empty
    # there, so copying the example never starts a stack with a known password.
    example = env_example()
    assert {name for name, _ in used} == set(example)
    for name in secrets:
        assert example[name] == "", f".env.example must leave {name} empty"
    # With every variable set the stack interpolates; without any one secret it does not.
    for service_name in services():
        service_environment(service_name, filled_env())
    for name in secrets:
        with pytest.raises(KeyError, match=f"set {name} in .env"):
            for service_name in services():
                service_environment(service_name, {**filled_env(), name: ""})


def test_every_container_of_ours_accepts_the_stack_configuration() -> None:
    env = filled_env()
    assert set(our_services()) == {"records", "gateway", "edge-wenyuan-2", "edge-wenyuan-3"}
    for name in our_services():
        settings = container_settings(name, env)
        assert settings.environment == "production"
        assert settings.edge.pseudonym_key.get_secret_value() == env["EDGE_PSEUDONYM_KEY"]
        assert services()[name]["volumes"][0] == (
            "./deploy/thermogate.toml:/etc/thermogate/thermogate.toml:ro"
        )

    gateway = container_settings("gateway", env)
    assert gateway.mqtt.username == "gateway"
    assert gateway.mqtt.password is not None
    assert gateway.mqtt.password.get_secret_value() == env["MQTT_GATEWAY_PASSWORD"]
    assert gateway.mqtt.host == "mosquitto" and "mosquitto" in services()
    assert [u.get_secret_value() for u in gateway.alerts.push_urls] == ["json://clinic.test/hook"]
    # The gateway's sink is the file's sink plus the token, and it is the stack's InfluxDB.
    (sink,) = gateway.ingest.sinks
    (file_sink,) = file_settings().ingest.sinks
    assert isinstance(sink, InfluxV2SinkSettings) and isinstance(file_sink, InfluxV2SinkSettings)
    assert sink.token.get_secret_value() == env["INFLUXDB_TOKEN"]
    assert sink.model_dump(exclude={"token"}) == file_sink.model_dump(exclude={"token"})
    influx = service_environment("influxdb", env)
    assert sink.url == "http://influxdb:8086"
    assert (sink.org, sink.bucket) == (
        influx["DOCKER_INFLUXDB_INIT_ORG"],
        influx["DOCKER_INFLUXDB_INIT_BUCKET"],
    )
    assert influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == env["INFLUXDB_TOKEN"]
    assert services()["mosquitto"]["ports"] == [f"{gateway.mqtt.port}:{gateway.mqtt.port}"]

    for name in ("edge-wenyuan-2", "edge-wenyuan-3"):
        environment = service_environment(name, env)
        settings = container_settings(name, env)
        edge = settings.edge_agent(environment["EDGE_ID"])
        assert edge.building == environment["SIM_BUILDING"]
        assert name == f"edge-{edge.building}"
        assert settings.mqtt.username == edge.id  # its broker account is named after it
        assert services()[name]["entrypoint"] == ["thermogate-edge-with-sim"]
        assert services()[name]["volumes"][1].endswith(":/var/lib/thermogate")
        assert str(settings.edge.data_dir).startswith("/var/lib/thermogate/")
        for device_id in edge.devices:
            device = settings.device(device_id)
            assert device is not None and device.port is not None
            assert device.port == f"/var/lib/thermogate/sim/{device_id}"  # where the sim links


def test_commands_and_healthchecks_name_what_exists() -> None:
    env = filled_env()
    parser = build_parser()
    for name in ("records", "gateway"):
        command = services()[name]["command"]
        args = parser.parse_args(command)
        assert args.command == name and args.config == Path("/etc/thermogate/thermogate.toml")
    settings = container_settings("gateway", env)
    assert services()["gateway"]["healthcheck"]["test"][1:] == [
        "thermogate-healthcheck",
        "status",
        "gateway",
        settings.gateway.id,
    ]
    for name in ("edge-wenyuan-2", "edge-wenyuan-3"):
        edge_id = service_environment(name, env)["EDGE_ID"]
        assert services()[name]["healthcheck"]["test"][1:] == [
            "thermogate-healthcheck",
            "status",
            "edge",
            edge_id,
        ]
    port = settings.records.port
    assert settings.records.host == "0.0.0.0"  # inside its container
    assert services()["records"]["ports"] == [f"{port}:{port}"]
    assert services()["records"]["healthcheck"]["test"][-1] == f"http://127.0.0.1:{port}/health"


def test_check_config_accepts_the_stack_configuration_only_with_a_real_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in [k for k in os.environ if k.startswith("THERMOGATE_")]:
        monkeypatch.delenv(key)
    assert main(["check-config", str(DEPLOY_CONFIG)]) == 2
    assert "edge.pseudonym_key must be set" in capsys.readouterr().err
    monkeypatch.setenv("THERMOGATE_EDGE__PSEUDONYM_KEY", "a-key-from-env")
    assert main(["check-config", str(DEPLOY_CONFIG)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{DEPLOY_CONFIG}: valid (2 buildings, 5 devices, 2 edges, 1 sinks, environment production)"
    )


# -- image -----------------------------------------------------------------------------------


def test_image_runs_thermogate_unprivileged_and_gets_every_component() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["thermogate"]' in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r"pip install /src\b", dockerfile)
    copied = re.findall(r"^COPY\s+(deploy/\S+)", dockerfile, re.M)
    assert set(copied) == {"deploy/healthcheck.py", "deploy/edge-with-sim.sh"}

    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "the context must be a whitelist"
    let_in = {p[1:] for p in patterns if p.startswith("!")}
    targets = {
        os.path.normpath(os.path.join("thermogate", os.readlink(link))).split(os.sep)[0]
        for link in (ROOT / "thermogate").iterdir()
        if link.is_symlink()
    }
    assert targets, "thermogate/ links the component folders"
    assert targets | {"thermogate", "pyproject.toml", "README.md", *copied} <= let_in
    assert not {".env", "deploy/mosquitto/passwd", "deploy", "tests"} & let_in


# -- broker settings -------------------------------------------------------------------------


def test_broker_settings_are_the_shipped_ones_plus_authentication() -> None:
    shipped = mosquitto_settings(SHIPPED_MOSQUITTO_CONF)
    deployed = mosquitto_settings(MOSQUITTO_CONF)
    missing = [s for s in shipped if s not in deployed]
    assert not missing, f"deploy/mosquitto/mosquitto.conf lost shipped settings: {missing}"
    keys = [k for k, _ in deployed if k not in {"log_type", "listener"}]
    assert len(keys) == len(set(keys)), "a setting is given twice"
    setting = dict(deployed)
    assert ("listener", "1883") in deployed
    assert setting["allow_anonymous"] == "false"
    # The files the broker reads are where the compose service puts them.
    mosquitto = services()["mosquitto"]
    script = " ".join(mosquitto["command"])
    assert setting["password_file"] in {f"/mosquitto/config/{f}" for f in ("passwd",)}
    assert f"chmod 0600 {setting['password_file']} {setting['acl_file']}" in script
    assert "-c /run/thermogate/mosquitto/mosquitto.conf" in script
    assert "./deploy/mosquitto:/run/thermogate/mosquitto:ro" in mosquitto["volumes"]
    assert f"mosquitto-data:{setting['persistence_location'].rstrip('/')}" in mosquitto["volumes"]
    image = re.search(r'^MOSQUITTO_IMAGE="([^"]+)"', MAKE_PASSWORDS.read_text(), re.M)
    assert image and image[1] == mosquitto["image"]


def test_acl_gives_each_account_only_its_own_topics() -> None:
    settings = file_settings()
    users = acl_users()
    accounts = password_accounts()
    assert set(accounts) == {"gateway", "operator", *(e.id for e in settings.edges)}
    assert set(users) == set(accounts) | {"grafana"}
    assert users["grafana"] == []
    gateway_id = settings.gateway.id
    assert sorted(users["gateway"]) == sorted(
        [
            ("read", "thermogate/v1/readings/#"),
            ("read", "thermogate/v1/status/#"),  # liveness
            ("write", "thermogate/v1/alerts/#"),
            ("write", deadletter_topic(gateway_id)),
            ("readwrite", status_topic(ComponentKind.GATEWAY, gateway_id)),
        ]
    )
    for edge in settings.edges:
        devices = [d.id for d in settings.devices if d.building == edge.building]
        assert sorted(users[edge.id]) == sorted(
            [
                ("write", f"thermogate/v1/readings/{edge.building}/#"),
                ("readwrite", status_topic(ComponentKind.EDGE, edge.id)),
                ("write", deadletter_topic(edge.id)),
                *(("write", status_topic(ComponentKind.DEVICE, d)) for d in devices),
            ]
        )
    assert all(access == "read" for access, _ in users["operator"])
    # Each account's password is a required secret of the stack.
    compose_text = COMPOSE.read_text(encoding="utf-8")
    for variable in accounts.values():
        assert f"${{{variable}:?" in compose_text and variable in env_example()


# -- dashboards ------------------------------------------------------------------------------
# The dashboards themselves are tested in tests/test_dashboards*.py; here only how the stack
# hands them to Grafana.


def test_grafana_gets_the_provisioning_files_and_the_influxdb_token() -> None:
    datasource = yaml.safe_load(DATASOURCE.read_text(encoding="utf-8"))["datasources"][0]
    grafana = services()["grafana"]
    for name, _ in references(datasource["secureJsonData"]["httpHeaderValue1"]):
        assert name in grafana["environment"]
    path = yaml.safe_load(PROVIDER.read_text(encoding="utf-8"))["providers"][0]["options"]["path"]
    assert f"./dashboards/json:{path}:ro" in grafana["volumes"]
    assert "./dashboards/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{path}/{DASHBOARD.name}"
    assert DASHBOARD.exists()


# -- real Mosquitto with the stack's settings, accounts and an edge ---------------------------


class DeployedMosquitto(MosquittoServer):
    """Mosquitto run on deploy/mosquitto/mosquitto.conf, with only the container paths, the
    listener address and the user replaced (and each replaced line checked to be there)."""

    def __init__(self, base_dir: Path, passwd: Path) -> None:
        super().__init__(base_dir)
        self.passwd = passwd

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        text = MOSQUITTO_CONF.read_text(encoding="utf-8")
        replacements = {
            "listener 1883": f"listener {self.port} {self.host}",
            "password_file /mosquitto/config/passwd": f"password_file {self.passwd}",
            "acl_file /mosquitto/config/acl": f"acl_file {ACL}",
            "persistence_location /mosquitto/data/": f"persistence_location {self.data_dir}/",
        }
        lines = text.splitlines()
        for old, new in replacements.items():
            assert old in lines, f"{MOSQUITTO_CONF} has no line {old!r}"
            lines[lines.index(old)] = new
        lines.append(f"user {getpass.getuser()}")  # as root it would switch to "mosquitto"
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class Account:
    """One MQTT 5 client logged in as a broker account, recording what it receives."""

    def __init__(self, port: int, user: str | None, password: str | None) -> None:
        self.received: list[paho.MQTTMessage] = []
        self.reason: Any = None
        self._connected = threading.Event()
        self.disconnected = threading.Event()
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-{user}-{id(self)}",
            protocol=paho.MQTTv5,
            reconnect_on_failure=False,  # a refused or dropped connection stays down
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *_a: self.disconnected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._connected.wait(10), "no CONNACK"

    def _on_connect(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.reason = reason
        self._connected.set()

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append(message)

    @property
    def accepted(self) -> bool:
        return not self.reason.is_failure

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self._subscribed.wait(10)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def topics(self) -> list[str]:
        with self._lock:
            return [m.topic for m in self.received]

    def wait_for(self, topic: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if topic in self.topics():
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


PASSWORDS = {
    "MQTT_GATEWAY_PASSWORD": "gateway-secret-1",
    "MQTT_EDGE_W2_PASSWORD": "edge two secret",  # a space survives .env and hashing
    "MQTT_EDGE_W3_PASSWORD": "edge-3-secret",
    "MQTT_OPERATOR_PASSWORD": "operator-secret",
}


def _make_passwords(tmp_path: Path) -> Path:
    env_file = tmp_path / "env"
    env_file.write_text(
        "\n".join(f"{k}='{v}'" for k, v in PASSWORDS.items() if k != "MQTT_GATEWAY_PASSWORD")
        + "\n",
        encoding="utf-8",
    )
    passwd = tmp_path / "passwd"
    environ = {**os.environ, "ENV_FILE": str(env_file)}
    environ["MQTT_GATEWAY_PASSWORD"] = PASSWORDS["MQTT_GATEWAY_PASSWORD"]  # the environment too
    missing = subprocess.run(
        ["bash", str(MAKE_PASSWORDS), str(passwd)],
        env={**environ, "ENV_FILE": str(tmp_path / "none")} | {"MQTT_GATEWAY_PASSWORD": ""},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert missing.returncode == 2 and "MQTT_EDGE_W2_PASSWORD" in missing.stderr
    assert not passwd.exists()
    done = subprocess.run(
        ["bash", str(MAKE_PASSWORDS), str(passwd)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = passwd.read_text(encoding="utf-8")
    assert passwd.stat().st_mode & 0o777 == 0o600
    assert [line.split(":")[0] for line in text.splitlines()] == list(password_accounts())
    assert all(secret not in text for secret in PASSWORDS.values())
    return passwd


@pytest.fixture
def deployed_broker(tmp_path: Path) -> Iterator[DeployedMosquitto]:
    try:
        server = DeployedMosquitto(tmp_path / "mosquitto", _make_passwords(tmp_path))
    except BinaryMissingError as exc:
        pytest.fail(str(exc), pytrace=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.servers
def test_broker_accounts_and_acl_on_a_real_mosquitto(deployed_broker: DeployedMosquitto) -> None:
    port = deployed_broker.port
    accounts: list[Account] = []

    def login(user: str | None, password: str | None) -> Account:
        account = Account(port, user, password)
        accounts.append(account)
        return account

    def dropped_for_publishing(user: str, topic: str) -> bool:
        """Mosquitto closes the connection of a client that publishes outside its ACL."""
        account = login(user, PASSWORDS[password_accounts()[user]])
        assert account.accepted
        account.client.publish(topic, b"{}", qos=1)
        dropped = account.disconnected.wait(5)
        account.close()
        return dropped

    try:
        assert not login(None, None).accepted, "anonymous clients must be refused"
        assert not login("gateway", "wrong").accepted
        assert not login("grafana", "anything").accepted  # no password is ever created
        gateway = login("gateway", PASSWORDS["MQTT_GATEWAY_PASSWORD"])
        edge2 = login("edge-w2-main", PASSWORDS["MQTT_EDGE_W2_PASSWORD"])
        operator = login("operator", PASSWORDS["MQTT_OPERATOR_PASSWORD"])
        assert gateway.accepted and edge2.accepted and operator.accepted
        gateway.subscribe(READINGS_FILTER)
        operator.subscribe("thermogate/v1/#")

        own = readings_topic("wenyuan-2", "main", "hh-w2-main-1")
        refused = [
            ("edge-w2-main", readings_topic("wenyuan-3", "main", "hh-w3-main-1")),
            ("edge-w2-main", alerts_topic("wenyuan-2")),  # only the gateway raises alerts
            ("edge-w2-main", deadletter_topic("edge-w3-main")),  # another edge's
            ("edge-w2-main", status_topic(ComponentKind.DEVICE, "hh-w3-main-1")),
            ("edge-w2-main", status_topic(ComponentKind.GATEWAY, "gateway-1")),
            ("edge-w3-main", own),
            ("gateway", own),  # the gateway cannot forge readings
            ("gateway", status_topic(ComponentKind.EDGE, "edge-w2-main")),
            ("operator", own),  # read-only
            ("operator", alerts_topic("wenyuan-2")),
        ]
        for user, topic in refused:
            assert dropped_for_publishing(user, topic), f"{user} may publish on {topic}"
        # Each refused message reached the broker before the next connection was even
        # opened, so had one been delivered it would be here before these.
        allowed = [
            (edge2, own),
            (edge2, status_topic(ComponentKind.DEVICE, "ks-w2-lobby-1")),
            (edge2, deadletter_topic("edge-w2-main")),
            (gateway, alerts_topic("wenyuan-2")),
            (gateway, deadletter_topic("gateway-1")),
            (gateway, status_topic(ComponentKind.GATEWAY, "gateway-1")),
        ]
        for account, topic in allowed:
            account.publish(topic, b"{}")
        assert operator.wait_for(status_topic(ComponentKind.GATEWAY, "gateway-1"))
        assert operator.topics() == [topic for _, topic in allowed]
        assert gateway.topics() == [own]

        # The broker healthcheck: the operator gets a retained $SYS message at once.
        health = login("operator", PASSWORDS["MQTT_OPERATOR_PASSWORD"])
        health.subscribe("$SYS/broker/version")
        assert health.wait_for("$SYS/broker/version", timeout=5)
    finally:
        for account in accounts:
            account.close()


def _stack_config(tmp_path: Path) -> Path:
    """deploy/thermogate.toml with the container's /var/lib/thermogate under ``tmp_path``."""
    state = tmp_path / "state"
    config = tmp_path / "thermogate.toml"
    text = DEPLOY_CONFIG.read_text(encoding="utf-8")
    assert text.count("/var/lib/thermogate/") >= 5
    config.write_text(text.replace("/var/lib/thermogate/", f"{state}/"), encoding="utf-8")
    return config


def _healthcheck(config: Path, environ: Mapping[str, str], *check: str) -> Any:
    """deploy/healthcheck.py as the container runs it (exit status and reason)."""
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), "--timeout", "3", *check, "--config", str(config)],
        env=dict(environ),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.servers
def test_edge_container_entrypoint_publishes_through_the_acl(
    deployed_broker: DeployedMosquitto, tmp_path: Path
) -> None:
    config = _stack_config(tmp_path)
    settings = load_settings(config, {"THERMOGATE_EDGE__PSEUDONYM_KEY": "k"})
    edge = settings.edge_agent("edge-w2-main")
    kiosk = next(d for d in settings.devices if d.building == edge.building and d.kind == "kiosk")
    handheld = next(d for d in edge.devices if d.startswith("hh-"))
    environ = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "EDGE_ID": edge.id,
        "SIM_BUILDING": edge.building,
        "SIM_PORTS_DIR": str(tmp_path / "state" / "sim"),
        "SIM_RATE": "10",
        "CONFIG_FILE": str(config),
        "THERMOGATE_EDGE__PSEUDONYM_KEY": "a-test-key",
        "THERMOGATE_MQTT__HOST": "127.0.0.1",
        "THERMOGATE_MQTT__PORT": str(deployed_broker.port),
        "THERMOGATE_MQTT__USERNAME": edge.id,
        "THERMOGATE_MQTT__PASSWORD": PASSWORDS["MQTT_EDGE_W2_PASSWORD"],
    }
    gateway = Account(deployed_broker.port, "gateway", PASSWORDS["MQTT_GATEWAY_PASSWORD"])
    operator = Account(deployed_broker.port, "operator", PASSWORDS["MQTT_OPERATOR_PASSWORD"])
    gateway.subscribe(READINGS_FILTER)
    operator.subscribe("thermogate/v1/status/#")
    log = (tmp_path / "edge.log").open("w")
    process = subprocess.Popen(
        ["bash", str(EDGE_WITH_SIM)],
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # The handheld (through the pty and the edge) and the kiosk (straight to the broker)
        # both publish with the edge's account, and their statuses are retained.
        for topic in (
            readings_topic(edge.building, edge.entrance, handheld),
            readings_topic(kiosk.building, kiosk.entrance, kiosk.id),
        ):
            assert gateway.wait_for(topic, timeout=30), (topic, _tail(tmp_path / "edge.log"))
        edge_status = status_topic(ComponentKind.EDGE, edge.id)
        for topic in (edge_status, status_topic(ComponentKind.DEVICE, kiosk.id)):
            assert operator.wait_for(topic), topic
        checked = _healthcheck(config, environ, "status", "edge", edge.id)
        assert checked.returncode == 0, checked.stderr

        process.send_signal(signal.SIGTERM)  # docker stop
        assert process.wait(30) == 0, _tail(tmp_path / "edge.log")
        checked = _healthcheck(config, environ, "status", "edge", edge.id)
        assert checked.returncode == 1
        assert "says 'stopped'" in checked.stderr
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()
        gateway.close()
        operator.close()


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
