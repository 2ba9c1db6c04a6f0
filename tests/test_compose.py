"""The production stack: docker-compose.yml, .env.example and deploy/, checked as compose,
Mosquitto, InfluxDB and PostgreSQL will read them.

Structural checks parse the compose file with PyYAML: every service has a healthcheck and
waits for healthy dependencies, every image is pinned, secrets come only from .env and stop
compose when unset, every variable is documented in .env.example, every mounted host path
exists, and every thermogate container accepts the stack's configuration. The broker's
accounts and ACL are derived from deploy/thermogate.toml and checked against it. Real
servers check the rest: the broker's TLS listener with development certificates, the
password file and the per-device ACL on a real Mosquitto (and an edge container's entrypoint
with its simulated devices through it), and Grafana's read-only role on a real PostgreSQL.
`docker compose config` runs where the compose plugin exists.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
import pytest
import yaml
from compose_stack import (
    ACL,
    COMPOSE,
    DEPLOY,
    DEPLOY_CONFIG,
    EDGE_WITH_SIM,
    ENV_EXAMPLE,
    HEALTHCHECK,
    MAKE_DEV_CERTS,
    MAKE_PASSWORDS,
    MOSQUITTO_CONF,
    ROOT,
    SECRET_NAME,
    acl_users,
    compose,
    env_example,
    filled_env,
    listeners,
    mosquitto_settings,
    password_accounts,
    references,
    service_environment,
    services,
    strings,
)
from paho.mqtt.enums import CallbackAPIVersion
from servers import BinaryMissingError, MosquittoServer, free_port

import thermogate
from thermogate.cli import main
from thermogate.config import InfluxV2SinkSettings, Settings, load_settings
from thermogate.contract import ComponentKind
from thermogate.contract.topics import (
    READINGS_FILTER,
    alerts_topic,
    deadletter_topic,
    readings_topic,
    status_topic,
)

OUR_IMAGE = f"thermogate:{thermogate.__version__}"
DATASOURCES = ROOT / "dashboards" / "provisioning" / "datasources"
CERT_DIR = "/mosquitto/config/certs"


def our_services() -> list[str]:
    return [name for name, s in services().items() if s.get("image") == OUR_IMAGE]


def container_settings(name: str) -> Settings:
    """deploy/thermogate.toml as the service's container loads it, from a filled .env."""
    environ = {
        k: v
        for k, v in service_environment(name, filled_env()).items()
        if k.startswith("THERMOGATE_")
    }
    return load_settings(DEPLOY_CONFIG, environ)


def file_settings() -> Settings:
    return container_settings("gateway")


def kiosk_accounts(settings: Settings) -> dict[str, str]:
    """device id -> building of every device that reaches the broker itself (no edge)."""
    read_by_edges = {d for e in settings.edges for d in e.devices}
    return {d.id: d.building for d in settings.devices if d.id not in read_by_edges}


# -- structure -------------------------------------------------------------------------------


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    stack = services()
    for name, service in stack.items():
        check = service.get("healthcheck", {})
        test = check.get("test")
        assert isinstance(test, list) and len(test) > 1, f"{name}: no healthcheck"
        assert test[0] in {"CMD", "CMD-SHELL"}, f"{name}: {test}"
        assert not check.get("disable"), name
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name}: healthcheck without {key}"
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name a condition"
        for dependency, how in depends.items():
            assert dependency in stack, f"{name} depends on unknown {dependency}"
            assert how == {"condition": "service_healthy"}, f"{name} -> {dependency}: {how}"
    # What each service needs running before it can do its job.
    needs = {
        "grafana": {"influxdb", "postgres"},
        "records": {"postgres"},
        "gateway": {"mosquitto", "influxdb"},
        "edge-wenyuan-2": {"mosquitto", "gateway"},
        "edge-wenyuan-3": {"mosquitto", "gateway"},
    }
    for name, dependencies in needs.items():
        assert dependencies <= set(stack[name].get("depends_on", {})), name
    # The start order has no cycle: compose could not start such a stack.
    started: set[str] = set()
    while len(started) < len(stack):
        ready = {n for n, s in stack.items() if set(s.get("depends_on", {})) <= started}
        assert ready - started, f"dependency cycle among {set(stack) - started}"
        started |= ready


def test_every_image_is_pinned_to_an_exact_version() -> None:
    for name, service in services().items():
        image = service.get("image", "")
        repository, _, tag = image.rpartition(":")
        assert repository and "@" not in tag, f"{name}: image {image!r} has no tag"
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", tag), f"{name}: {image!r} is not an exact release"
        if "build" in service:
            assert image == OUR_IMAGE, f"{name}: our image must carry the project version"
    froms = re.findall(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert froms and all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", f) for f in froms)
    # The password script hashes with the broker's own image when mosquitto is not installed.
    image = re.search(r'^MOSQUITTO_IMAGE="([^"]+)"', MAKE_PASSWORDS.read_text(), re.M)
    assert image and image[1] == services()["mosquitto"]["image"]


def test_secrets_come_only_from_env_and_stop_compose_when_unset() -> None:
    used = [ref for value in strings(compose()) for ref in references(value)]
    secrets = {name for name, _ in used if SECRET_NAME.search(name)}
    assert secrets >= {
        "MQTT_GATEWAY_PASSWORD",
        "INFLUXDB_TOKEN",
        "EDGE_PSEUDONYM_KEY",
        "RECORDS_JWT_SECRET",
        "ALERTS_LINK_SECRET",
        "POSTGRES_PASSWORD",
        "GRAFANA_POSTGRES_PASSWORD",
    }
    for name, op in used:
        if name in secrets:
            assert op == ":?", f"${{{name}}} must be written ${{{name}:?message}}: no default"
        else:
            assert op in {":?", ":-"}, f"${{{name}}}: give a default or require it"
    # No secret-looking setting of any container is a literal: each comes from a ${VAR:?...}.
    for service_name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                names = [n for n, op in references(str(value)) if op == ":?"]
                assert names, f"{service_name}: {key} must come from a ${{VAR:?...}}"
    # Every variable is in .env.example and nothing else is; secrets are empty there, so a
    # copy of the example never starts a stack with a known password.
    example = env_example()
    # A broker account of a real device (no container) has its password in .env only, for
    # deploy/mosquitto/make-passwords.sh.
    assert {name for name, _ in used} | set(password_accounts().values()) == set(example)
    for name in secrets:
        assert example[name] == "", f".env.example must leave {name} empty"
    for service_name in services():
        service_environment(service_name, filled_env())
    for name in secrets:
        with pytest.raises(KeyError, match=f"set {name} in .env"):
            for service_name in services():
                service_environment(service_name, {**filled_env(), name: ""})


def _bind_sources() -> list[tuple[str, str]]:
    """(service, host path) of every bind mount of the stack."""
    found = []
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith((".", "/")):
                found.append((name, source))
    return found


def test_every_mounted_host_path_exists_in_the_repository() -> None:
    sources = _bind_sources()
    assert ("mosquitto", "./deploy/mosquitto") in sources
    for name, source in sources:
        assert source.startswith("./"), f"{name}: {source} lies outside the repository"
        assert (ROOT / source).exists(), f"{name}: {source} does not exist"
    named = set(compose().get("volumes") or {})
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                assert source in named, f"{name}: volume {source} is not declared"
        if "build" in service:
            assert (ROOT / service["build"]["context"] / "Dockerfile").is_file()
    # What the bind mounts carry that is generated on the server stays out of git.
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert {".env", "deploy/mosquitto/passwd", "deploy/mosquitto/certs/"} <= set(ignored)


def test_init_scripts_run_at_first_start_and_match_the_data_sources() -> None:
    influx = services()["influxdb"]
    postgres = services()["postgres"]
    assert "./deploy/influxdb:/docker-entrypoint-initdb.d:ro" in influx["volumes"]
    assert "./deploy/postgres:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    for script in [*(DEPLOY / "influxdb").iterdir(), *(DEPLOY / "postgres").iterdir()]:
        assert script.suffix == ".sh" and os.access(script, os.X_OK), script
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, check=False)
        assert checked.returncode == 0, checked.stderr
    env = service_environment("influxdb", filled_env())
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    # The DBRP mapping names the InfluxQL database after the bucket, which is the database
    # the dashboards' data source queries and the bucket the gateway writes.
    dbrp = (DEPLOY / "influxdb" / "10-dbrp.sh").read_text(encoding="utf-8")
    assert "influx v1 dbrp create" in dbrp
    assert '--db "$DOCKER_INFLUXDB_INIT_BUCKET"' in dbrp and "--default" in dbrp
    source = yaml.safe_load((DATASOURCES / "influxdb.yaml").read_text(encoding="utf-8"))
    assert source["datasources"][0]["jsonData"]["dbName"] == env["DOCKER_INFLUXDB_INIT_BUCKET"]
    (sink,) = container_settings("gateway").ingest.sinks
    assert isinstance(sink, InfluxV2SinkSettings)
    assert (sink.org, sink.bucket) == (
        env["DOCKER_INFLUXDB_INIT_ORG"],
        env["DOCKER_INFLUXDB_INIT_BUCKET"],
    )
    assert env["DOCKER_INFLUXDB_INIT_RETENTION"]
    # Grafana's PostgreSQL role gets the password Grafana is given.
    pg = service_environment("postgres", filled_env())
    grafana = service_environment("grafana", filled_env())
    assert pg["GRAFANA_POSTGRES_PASSWORD"] == grafana["GRAFANA_POSTGRES_PASSWORD"]
    assert (
        "./dashboards/provisioning:/etc/grafana/provisioning:ro" in services()["grafana"]["volumes"]
    )


def test_every_container_of_ours_accepts_the_stack_configuration() -> None:
    env = filled_env()
    assert set(our_services()) == {"records", "gateway", "edge-wenyuan-2", "edge-wenyuan-3"}
    for name in our_services():
        settings = container_settings(name)
        assert settings.environment == "production"
        assert settings.edge.pseudonym_key.get_secret_value() == env["EDGE_PSEUDONYM_KEY"]
        assert settings.alerts.link_secret.get_secret_value() == env["ALERTS_LINK_SECRET"]
        assert settings.records.jwt_secret.get_secret_value() == env["RECORDS_JWT_SECRET"]

    records = container_settings("records")
    pg = service_environment("postgres", env)
    assert records.records.sqlalchemy_url == (
        f"postgresql+psycopg://{pg['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{pg['POSTGRES_DB']}"
    )
    assert records.records.bootstrap_password is not None
    assert records.records.bootstrap_password.get_secret_value() == env["RECORDS_ADMIN_PASSWORD"]
    gateway = container_settings("gateway")
    assert gateway.alerts.public_base_url == records.alerts.public_base_url
    assert gateway.alerts.public_base_url == env["RECORDS_PUBLIC_URL"]
    assert gateway.mqtt.username == "gateway" and gateway.mqtt.host in services()
    (sink,) = gateway.ingest.sinks
    assert isinstance(sink, InfluxV2SinkSettings)
    assert sink.token.get_secret_value() == env["INFLUXDB_TOKEN"]

    for name in ("edge-wenyuan-2", "edge-wenyuan-3"):
        environment = service_environment(name, env)
        settings = container_settings(name)
        edge = settings.edge_agent(environment["EDGE_ID"])
        assert edge.building == environment["SIM_BUILDING"]
        assert settings.mqtt.username == edge.id  # its broker account is named after it
        kiosks = [k for k, b in kiosk_accounts(settings).items() if b == edge.building]
        # The simulated kiosk of the building publishes with that kiosk's own account.
        assert environment.get("SIM_MQTT_USERNAME") == (kiosks[0] if kiosks else None)
        if kiosks:
            variable = password_accounts()[kiosks[0]]
            assert environment["SIM_MQTT_PASSWORD"] == env[variable]


def test_check_config_accepts_the_stack_configuration_only_with_real_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in [k for k in os.environ if k.startswith("THERMOGATE_")]:
        monkeypatch.delenv(key)
    required = {
        "THERMOGATE_EDGE__PSEUDONYM_KEY": "edge.pseudonym_key",
        "THERMOGATE_ALERTS__LINK_SECRET": "alerts.link_secret",
        "THERMOGATE_RECORDS__JWT_SECRET": "records.jwt_secret",
    }
    shared = services()["gateway"]["environment"]
    assert set(required) <= set(shared)  # every container of ours gets all three
    for variable in required:
        monkeypatch.setenv(variable, f"a-real-{variable.lower()}")
    assert main(["check-config", str(DEPLOY_CONFIG)]) == 0
    assert "environment production" in capsys.readouterr().out
    # Production refuses the development pseudonym key (and the other development secrets
    # where their component checks them), so a container without it never starts.
    monkeypatch.delenv("THERMOGATE_EDGE__PSEUDONYM_KEY")
    assert main(["check-config", str(DEPLOY_CONFIG)]) == 2
    assert f"{required['THERMOGATE_EDGE__PSEUDONYM_KEY']} must be set" in capsys.readouterr().err


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode
    != 0,
    reason="the docker compose plugin is not installed here; the structural checks above stand "
    "in for `docker compose config`",
)
def test_docker_compose_config_accepts_the_stack(tmp_path: Path) -> None:
    def config(env_file: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", "--env-file", str(env_file), "-f", str(COMPOSE), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )

    filled = tmp_path / "env"
    filled.write_text("".join(f"{k}='{v}'\n" for k, v in filled_env().items()), encoding="utf-8")
    assert config(filled).returncode == 0, config(filled).stderr
    refused = config(ENV_EXAMPLE)  # the example as shipped: every secret empty
    assert refused.returncode != 0 and "in .env" in refused.stderr


# -- broker accounts -------------------------------------------------------------------------


def expected_acl(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """Each account's topics as deploy/thermogate.toml implies them: only its own."""
    gateway_id = settings.gateway.id
    users: dict[str, list[tuple[str, str]]] = {
        "gateway": [
            ("read", "thermogate/v1/readings/#"),
            ("read", "thermogate/v1/status/#"),
            ("read", "thermogate/v1/weather/#"),
            ("write", "thermogate/v1/alerts/#"),
            ("write", deadletter_topic(gateway_id)),
            ("readwrite", status_topic(ComponentKind.GATEWAY, gateway_id)),
            ("readwrite", "thermogate/v1/engine/#"),  # scale-out: engine changes shared
        ],
        "operator": [("read", "thermogate/v1/#"), ("read", "$SYS/#")],
        "grafana": [],
    }
    for edge in settings.edges:
        devices = [settings.device(d) for d in edge.devices]
        users[edge.id] = [
            ("readwrite", status_topic(ComponentKind.EDGE, edge.id)),
            ("write", deadletter_topic(edge.id)),
            *(("write", status_topic(ComponentKind.DEVICE, d.id)) for d in devices if d),
            *(
                ("write", readings_topic(d.building, d.entrance, d.id))
                for d in devices
                if d and d.kind != "card-reader"  # swipes travel inside the readings
            ),
        ]
    for kiosk_id in kiosk_accounts(settings):
        device = settings.device(kiosk_id)
        assert device is not None
        users[kiosk_id] = [
            ("write", readings_topic(device.building, device.entrance, device.id)),
            ("write", status_topic(ComponentKind.DEVICE, device.id)),
        ]
    return users


def test_acl_gives_each_account_only_its_own_topics() -> None:
    settings = file_settings()
    expected = expected_acl(settings)
    found = acl_users()
    assert set(found) == set(expected)
    for user, topics in expected.items():
        assert sorted(found[user]) == sorted(topics), user
    # Every account but grafana gets a password, each a required secret of the stack.
    accounts = password_accounts()
    assert set(accounts) == set(expected) - {"grafana"}
    for variable in accounts.values():
        assert variable in env_example() and env_example()[variable] == ""


def test_broker_listens_with_tls_and_plain_mqtt_with_the_same_accounts() -> None:
    found = listeners()
    assert set(found) == {"1883", "8883"}
    assert found["1883"] == {}  # the stack's own network
    assert found["8883"] == {
        "cafile": f"{CERT_DIR}/ca.crt",
        "certfile": f"{CERT_DIR}/server.crt",
        "keyfile": f"{CERT_DIR}/server.key",
        "tls_version": "tlsv1.2",
    }
    mosquitto = services()["mosquitto"]
    assert sorted(mosquitto["ports"]) == ["127.0.0.1:1883:1883", "8883:8883"]
    script = mosquitto["command"][-1]
    # The container copies what the listener reads out of the read-only mount, and keeps the
    # key readable by the broker's user only.
    for name in ("ca.crt", "server.crt", "server.key"):
        assert f"/run/thermogate/mosquitto/certs/{name}" in script
    assert f"chmod 0600 {CERT_DIR}/server.key" in script
    assert "-c /run/thermogate/mosquitto/mosquitto.conf" in script
    setting = dict(mosquitto_settings())
    assert setting["allow_anonymous"] == "false"  # on both listeners
    assert setting.get("per_listener_settings", "false") == "false"


# -- a real Mosquitto with the stack's TLS listener, passwords and ACL -----------------------

PASSWORDS = {
    "MQTT_GATEWAY_PASSWORD": "gateway-secret-1",
    "MQTT_EDGE_W2_PASSWORD": "edge-2-secret",
    "MQTT_EDGE_W3_PASSWORD": "edge-3-secret",
    "MQTT_KIOSK_W2_LOBBY_PASSWORD": "kiosk-secret",
    "MQTT_OPERATOR_PASSWORD": "operator-secret",
}


def _run_script(script: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", str(script), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class StackMosquitto(MosquittoServer):
    """Mosquitto run on deploy/mosquitto/mosquitto.conf with only the container's paths and
    the listeners' ports replaced (each replaced line checked to be there)."""

    def __init__(self, base_dir: Path, passwd: Path, certs: Path) -> None:
        super().__init__(base_dir)
        self.tls_port = free_port()
        self.passwd = passwd
        self.certs = certs
        self.broker_log = self.base_dir / "broker.log"  # line by line, unlike its stdout

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        replacements = {
            "listener 1883": f"listener {self.port} {self.host}",
            "listener 8883": f"listener {self.tls_port} {self.host}",
            "password_file /mosquitto/config/passwd": f"password_file {self.passwd}",
            "acl_file /mosquitto/config/acl": f"acl_file {ACL}",
            "persistence_location /mosquitto/data/": f"persistence_location {self.data_dir}/",
            "log_dest stdout": f"log_dest file {self.broker_log}",
            **{
                f"{key} {CERT_DIR}/{name}": f"{key} {self.certs / name}"
                for key, name in (
                    ("cafile", "ca.crt"),
                    ("certfile", "server.crt"),
                    ("keyfile", "server.key"),
                )
            },
        }
        lines = MOSQUITTO_CONF.read_text(encoding="utf-8").splitlines()
        for old, new in replacements.items():
            assert old in lines, f"{MOSQUITTO_CONF} has no line {old!r}"
            lines[lines.index(old)] = new
        lines.append(f"user {getpass.getuser()}")  # as root it would switch to "mosquitto"
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class Client:
    """One MQTT 5 client of an account, over TLS when given a CA file; records messages."""

    def __init__(
        self,
        port: int,
        user: str | None,
        password: str | None,
        ca: Path | None,
        server_name: str = "localhost",
    ) -> None:
        self.received: list[str] = []
        self.reason: Any = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-{user}-{uuid.uuid4().hex[:6]}",
            protocol=paho.MQTTv5,
            reconnect_on_failure=False,
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *_a: self.disconnected.set()
        self.client.connect(server_name, port)
        self.client.loop_start()
        assert self.connected.wait(10), "no CONNACK"

    def _on_connect(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.reason = reason
        self.connected.set()

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append(message.topic)

    @property
    def accepted(self) -> bool:
        return not self.reason.is_failure

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self._subscribed.wait(10)

    def publish(self, topic: str) -> None:
        self.client.publish(topic, b"{}", qos=1).wait_for_publish(10)

    def topics(self) -> list[str]:
        with self._lock:
            return list(self.received)

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


@pytest.fixture
def stack_broker(tmp_path: Path) -> Iterator[StackMosquitto]:
    certs = tmp_path / "certs"
    out = _run_script(MAKE_DEV_CERTS, str(certs), env={})
    assert "server.crt" in out
    assert {p.name for p in certs.iterdir()} == {"ca.crt", "ca.key", "server.crt", "server.key"}
    assert (certs / "server.key").stat().st_mode & 0o777 == 0o600
    passwd = tmp_path / "passwd"
    missing = subprocess.run(
        ["bash", str(MAKE_PASSWORDS), str(passwd)],
        env={**os.environ, **PASSWORDS, "MQTT_KIOSK_W2_LOBBY_PASSWORD": "", "ENV_FILE": "/no"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2 and "MQTT_KIOSK_W2_LOBBY_PASSWORD" in missing.stderr
    assert not passwd.exists()
    _run_script(MAKE_PASSWORDS, str(passwd), env={**PASSWORDS, "ENV_FILE": str(tmp_path / "no")})
    text = passwd.read_text(encoding="utf-8")
    assert passwd.stat().st_mode & 0o777 == 0o600
    assert [line.split(":")[0] for line in text.splitlines()] == list(password_accounts())
    assert all(secret not in text for secret in PASSWORDS.values())  # hashed
    try:
        server = StackMosquitto(tmp_path / "mosquitto", passwd, certs)
    except BinaryMissingError as exc:
        pytest.fail(str(exc), pytrace=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.servers
def test_tls_listener_with_dev_certificates_enforces_the_per_device_acl(
    stack_broker: StackMosquitto, tmp_path: Path
) -> None:
    port, ca = stack_broker.tls_port, tmp_path / "certs" / "ca.crt"
    clients: list[Client] = []

    def login(user: str | None, password: str | None = None, tls_port: bool = True) -> Client:
        if password is None and user is not None:
            password = PASSWORDS[password_accounts()[user]]
        if tls_port:
            client = Client(port, user, password, ca)
        else:
            client = Client(stack_broker.port, user, password, None, stack_broker.host)
        clients.append(client)
        return client

    def dropped_for_publishing(user: str, topic: str) -> bool:
        """Mosquitto closes the connection of a client that publishes outside its ACL."""
        client = login(user)
        assert client.accepted
        client.client.publish(topic, b"{}", qos=1)
        return client.disconnected.wait(5)

    try:
        assert not login(None).accepted, "anonymous clients must be refused"
        assert not login("gateway", "wrong").accepted
        assert not login("grafana", "anything").accepted  # no password is ever created
        gateway = login("gateway")
        edge2 = login("edge-w2-main")
        kiosk = login("ks-w2-lobby-1")
        operator = login("operator")
        assert gateway.accepted and edge2.accepted and kiosk.accepted and operator.accepted
        gateway.subscribe(READINGS_FILTER)
        operator.subscribe("thermogate/v1/#")

        own = readings_topic("wenyuan-2", "main", "hh-w2-main-1")
        kiosk_own = readings_topic("wenyuan-2", "main", "ks-w2-lobby-1")
        refused = [
            ("edge-w2-main", readings_topic("wenyuan-3", "main", "hh-w3-main-1")),  # another edge's
            ("edge-w2-main", kiosk_own),  # the kiosk's, though in its building
            ("edge-w2-main", readings_topic("wenyuan-2", "main", "hh-w2-main-9")),  # unknown
            ("edge-w2-main", alerts_topic("wenyuan-2")),  # only the gateway raises alerts
            ("edge-w2-main", deadletter_topic("edge-w3-main")),
            ("edge-w2-main", status_topic(ComponentKind.DEVICE, "hh-w3-main-1")),
            ("edge-w2-main", status_topic(ComponentKind.GATEWAY, "gateway-1")),
            ("edge-w3-main", own),
            ("ks-w2-lobby-1", own),  # a device may not speak for another
            ("ks-w2-lobby-1", status_topic(ComponentKind.EDGE, "edge-w2-main")),
            ("gateway", own),  # the gateway cannot forge readings
            ("gateway", status_topic(ComponentKind.EDGE, "edge-w2-main")),
            ("operator", own),  # read-only
            ("operator", alerts_topic("wenyuan-2")),
        ]
        for user, topic in refused:
            assert dropped_for_publishing(user, topic), f"{user} may publish on {topic}"
        # Each refused message reached the broker before these were published, so had one
        # been delivered it would have arrived before them.
        allowed = [
            (edge2, own),
            (edge2, status_topic(ComponentKind.DEVICE, "cr-w2-main-1")),
            (edge2, deadletter_topic("edge-w2-main")),
            (kiosk, kiosk_own),
            (kiosk, status_topic(ComponentKind.DEVICE, "ks-w2-lobby-1")),
            (gateway, alerts_topic("wenyuan-2")),
            (gateway, deadletter_topic("gateway-1")),
            (gateway, status_topic(ComponentKind.GATEWAY, "gateway-1")),
        ]
        for client, topic in allowed:
            client.publish(topic)
        assert operator.wait_for(status_topic(ComponentKind.GATEWAY, "gateway-1"))
        assert operator.topics() == [topic for _, topic in allowed]
        assert gateway.topics() == [own, kiosk_own]

        # The broker's compose healthcheck: the operator, on the plain listener inside the
        # container, gets the retained $SYS/broker/version at once.
        health = login("operator", tls_port=False)
        health.subscribe("$SYS/broker/version")
        assert health.wait_for("$SYS/broker/version", timeout=5)
    finally:
        for client in clients:
            client.close()


@pytest.mark.servers
def test_tls_listener_refuses_clients_that_do_not_trust_its_certificate(
    stack_broker: StackMosquitto, tmp_path: Path
) -> None:
    password = PASSWORDS["MQTT_OPERATOR_PASSWORD"]
    # A CA the broker's certificate does not come from: the handshake fails.
    other = tmp_path / "other-ca"
    _run_script(MAKE_DEV_CERTS, str(other), env={})
    with pytest.raises(ssl.SSLCertVerificationError):
        Client(stack_broker.tls_port, "operator", password, other / "ca.crt")
    # Plain MQTT on the TLS port gets no CONNACK.
    plain = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    plain.username_pw_set("operator", password)
    answered = threading.Event()
    plain.on_connect = lambda *_a: answered.set()
    plain.connect(stack_broker.host, stack_broker.tls_port)
    plain.loop_start()
    try:
        assert not answered.wait(2)
    finally:
        plain.disconnect()
        plain.loop_stop()
    # A certificate re-issued for more names keeps the CA: clients need nothing new.
    ca_before = (tmp_path / "certs" / "ca.crt").read_bytes()
    _run_script(MAKE_DEV_CERTS, str(tmp_path / "certs"), env={"CERT_HOSTS": "mqtt.campus.lan"})
    assert (tmp_path / "certs" / "ca.crt").read_bytes() == ca_before
    text = subprocess.run(
        [
            "openssl",
            "x509",
            "-in",
            str(tmp_path / "certs" / "server.crt"),
            "-noout",
            "-ext",
            "subjectAltName",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:mqtt.campus.lan" in text and "DNS:mosquitto" in text


def _stack_config(tmp_path: Path) -> Path:
    """deploy/thermogate.toml with the container's /var/lib/thermogate under ``tmp_path``."""
    config = tmp_path / "thermogate.toml"
    text = DEPLOY_CONFIG.read_text(encoding="utf-8")
    config.write_text(text.replace("/var/lib/thermogate/", f"{tmp_path / 'state'}/"), "utf-8")
    return config


@pytest.mark.servers
def test_edge_container_with_its_kiosk_account_publishes_through_the_acl(
    stack_broker: StackMosquitto, tmp_path: Path
) -> None:
    """deploy/edge-with-sim.sh as edge-wenyuan-2 runs it, over the TLS listener: the
    handheld's readings through the edge with the edge's account, the kiosk's straight to the
    broker with its own, and the container's healthcheck."""
    config = _stack_config(tmp_path)
    container = service_environment("edge-wenyuan-2", filled_env())
    settings = load_settings(config, {k: v for k, v in container.items() if "__" in k})
    edge = settings.edge_agent(container["EDGE_ID"])
    kiosk = settings.device(container["SIM_MQTT_USERNAME"])
    assert kiosk is not None
    handheld = next(d for d in edge.devices if d.startswith("hh-"))
    environ = {
        **container,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SIM_PORTS_DIR": str(tmp_path / "state" / "sim"),
        "SIM_RATE": "10",
        "CONFIG_FILE": str(config),
        # As an edge PC at a door connects: over TLS, checking the broker's certificate.
        "THERMOGATE_MQTT__HOST": "localhost",
        "THERMOGATE_MQTT__PORT": str(stack_broker.tls_port),
        "THERMOGATE_MQTT__TLS_CA_FILE": str(tmp_path / "certs" / "ca.crt"),
        "THERMOGATE_MQTT__PASSWORD": PASSWORDS["MQTT_EDGE_W2_PASSWORD"],
        "SIM_MQTT_PASSWORD": PASSWORDS["MQTT_KIOSK_W2_LOBBY_PASSWORD"],
    }
    ca = tmp_path / "certs" / "ca.crt"
    gateway = Client(stack_broker.tls_port, "gateway", PASSWORDS["MQTT_GATEWAY_PASSWORD"], ca)
    operator = Client(stack_broker.tls_port, "operator", PASSWORDS["MQTT_OPERATOR_PASSWORD"], ca)
    gateway.subscribe(READINGS_FILTER)
    operator.subscribe("thermogate/v1/status/#")
    log_path = tmp_path / "edge.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["bash", str(EDGE_WITH_SIM)],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            for topic in (
                readings_topic(edge.building, edge.entrance, handheld),
                readings_topic(kiosk.building, kiosk.entrance, kiosk.id),
            ):
                assert gateway.wait_for(topic, timeout=30), (topic, _tail(log_path))
            for topic in (
                status_topic(ComponentKind.EDGE, edge.id),
                status_topic(ComponentKind.DEVICE, kiosk.id),
            ):
                assert operator.wait_for(topic), topic
            # The container's healthcheck logs in as the edge and reads its retained status.
            checked = _healthcheck(config, environ, "status", "edge", edge.id)
            assert checked.returncode == 0, checked.stderr
            process.send_signal(signal.SIGTERM)  # docker stop
            assert process.wait(30) == 0, _tail(log_path)
            checked = _healthcheck(config, environ, "status", "edge", edge.id)
            assert checked.returncode == 1 and "says 'stopped'" in checked.stderr
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            gateway.close()
            operator.close()
    # Neither the edge nor the kiosk was ever dropped for publishing outside its ACL (a
    # dropped client reconnects, and the broker logs every connection with its user).
    broker_log = stack_broker.broker_log.read_text(encoding="utf-8", errors="replace")
    for user in (edge.id, kiosk.id):
        logins = [
            line
            for line in broker_log.splitlines()
            if f"u'{user}'" in line and " as healthcheck-" not in line
        ]
        assert len(logins) == 1, _tail(stack_broker.broker_log, 60)


def _healthcheck(config: Path, environ: dict[str, str], *check: str) -> Any:
    """deploy/healthcheck.py as the container runs it (exit status and reason)."""
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), "--timeout", "3", *check, "--config", str(config)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


# -- Grafana's read-only role on a real PostgreSQL -------------------------------------------


@pytest.mark.servers
def test_grafana_role_reads_every_records_table_and_changes_none(postgres_url: str) -> None:
    url = psycopg.conninfo.conninfo_to_dict(postgres_url.replace("+psycopg", ""))
    database = str(url["dbname"])
    owner = f"records_owner_{uuid.uuid4().hex[:8]}"
    reader = f"grafana_{uuid.uuid4().hex[:8]}"
    admin = f"postgresql://{url.get('user', 'postgres')}@{url['host']}:{url['port']}/{database}"

    def as_role(role: str) -> psycopg.Connection[Any]:
        return psycopg.connect(
            f"postgresql://{role}@{url['host']}:{url['port']}/{database}", autocommit=True
        )

    with psycopg.connect(admin, autocommit=True) as conn:
        # POSTGRES_USER of the image: the superuser that owns the database and its tables.
        conn.execute(f'CREATE ROLE "{owner}" SUPERUSER LOGIN')
    try:
        with as_role(owner) as conn:
            conn.execute("CREATE TABLE early (id int, note text)")
            conn.execute("INSERT INTO early VALUES (1, 'before the role')")
        env = {
            "POSTGRES_USER": owner,
            "POSTGRES_DB": database,
            "GRAFANA_POSTGRES_USER": reader,
            "GRAFANA_POSTGRES_PASSWORD": "a-password",
            "PGHOST": str(url["host"]),
            "PGPORT": str(url["port"]),
        }
        out = _run_script(DEPLOY / "postgres" / "10-grafana-reader.sh", env=env)
        assert f"role {reader} may read {database}" in out
        with as_role(owner) as conn:  # the records service migrates later, as the owner
            conn.execute("CREATE TABLE later (id int)")
            conn.execute("INSERT INTO later VALUES (2)")
        with as_role(reader) as conn:
            assert conn.execute("SELECT note FROM early").fetchall() == [("before the role",)]
            assert conn.execute("SELECT id FROM later").fetchall() == [(2,)]
            assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
            for statement in (
                "INSERT INTO later VALUES (3)",
                "CREATE TABLE mine (id int)",
                "SET default_transaction_read_only = off; DELETE FROM early",
            ):
                with pytest.raises(psycopg.errors.Error):
                    conn.execute(statement)
        with as_role(owner) as conn:
            assert conn.execute("SELECT count(*) FROM early").fetchone() == (1,)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for table in ("early", "later"):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            for role in (reader, owner):
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')
