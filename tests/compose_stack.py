"""Reading the compose stack's files the way compose and Mosquitto read them.

docker-compose.yml is parsed with PyYAML and its ``${VAR...}`` references interpolated as
compose does (for the operators the stack uses); .env.example, the Mosquitto ACL and the
password script are read line by line. Shared by the tests of the stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY = ROOT / "deploy"
DEPLOY_CONFIG = DEPLOY / "thermogate.toml"
MOSQUITTO_CONF = DEPLOY / "mosquitto" / "mosquitto.conf"
ACL = DEPLOY / "mosquitto" / "acl"
MAKE_PASSWORDS = DEPLOY / "mosquitto" / "make-passwords.sh"
MAKE_DEV_CERTS = DEPLOY / "make-dev-certs.sh"
EDGE_WITH_SIM = DEPLOY / "edge-with-sim.sh"
HEALTHCHECK = DEPLOY / "healthcheck.py"

SECRET_NAME = re.compile(r"PASSWORD|TOKEN|KEY|SECRET|PUSH_URLS|DATABASE_URL")
"""Variable names that hold a secret (a database URL carries its password)."""

# Compose interpolation: $$ is a literal $, then ${NAME}, ${NAME<op>text} or $NAME.
_REFERENCE = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def compose() -> dict[str, Any]:
    """docker-compose.yml as PyYAML reads it (anchors and merge keys resolved)."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def services() -> dict[str, dict[str, Any]]:
    """The services of the stack by name."""
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def references(text: str) -> list[tuple[str, str | None]]:
    """Every variable compose interpolates in ``text``: (name, operator or None)."""
    text = text.replace("$$", "")
    return [
        (m["name"], m["op"]) if m["name"] else (m["bare"], None) for m in _REFERENCE.finditer(text)
    ]


def strings(node: Any) -> Iterator[str]:
    """Every string of a parsed YAML document, keys included (compose interpolates values)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """A value as compose passes it to the container; KeyError for a required, unset one."""

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
    """KEY -> value of .env.example (comments and blank lines skipped)."""
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def filled_env() -> dict[str, str]:
    """.env.example with every empty value filled in, as an operator would (hex secrets)."""
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


def mosquitto_settings(path: Path = MOSQUITTO_CONF) -> list[tuple[str, str]]:
    """(key, value) of every setting line of a mosquitto.conf, in order."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            out.append((key, value.strip()))
    return out


def listeners(path: Path = MOSQUITTO_CONF) -> dict[str, dict[str, str]]:
    """port -> the settings that follow its ``listener`` line (until the next listener)."""
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for key, value in mosquitto_settings(path):
        if key == "listener":
            current = found.setdefault(value.split()[0], {})
        elif current is not None and key in {"cafile", "certfile", "keyfile", "tls_version"}:
            current[key] = value
    return found
