"""The deployment files: the image, the broker's shipped settings, commands and healthchecks,
and the Grafana provisioning.

The compose stack itself (healthchecks and start order, pinned images, secrets, the
configuration every container accepts, the broker's TLS listener, accounts and ACL on a real
Mosquitto, the edge container) is checked by tests/test_compose.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

import thermogate
from thermogate.cli import build_parser
from thermogate.config import Settings, load_settings

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


def container_settings(name: str, env: Mapping[str, str]) -> Settings:
    """deploy/thermogate.toml as the service's container loads it."""
    environ = {
        k: v for k, v in service_environment(name, env).items() if k.startswith("THERMOGATE_")
    }
    return load_settings(DEPLOY_CONFIG, environ)


def mosquitto_settings(path: Path) -> list[tuple[str, str]]:
    """(key, value) of every setting line of a mosquitto.conf, in order."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            out.append((key, value.strip()))
    return out


# -- compose -------------------------------------------------------------------------------


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
