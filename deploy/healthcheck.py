#!/usr/bin/env python3
"""Container healthchecks of the thermogate image (installed as ``thermogate-healthcheck``).

    thermogate-healthcheck status gateway gateway-1     # gateway container
    thermogate-healthcheck status edge edge-w2-main     # edge container
    thermogate-healthcheck http http://127.0.0.1:8080/health   # records container

``status`` connects to the broker with the container's own settings (the configuration file
plus its THERMOGATE_* environment, exactly as the component loads them), reads the retained
status of that component and exits 0 only when it says ``online``. The component publishes
``online`` when it connects and the broker replaces it by ``offline`` (the will) when the
connection dies, so this answers "is it connected and working" from the broker's side, which
is what an operator watching the status topics sees. ``http`` exits 0 on a 200 answer.
Every check is bounded by ``--timeout`` seconds; the reason of a failure is printed.
"""

from __future__ import annotations

import argparse
import sys
import threading
import urllib.request
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from thermogate.config import ConfigError, load_settings
from thermogate.contract import ComponentKind
from thermogate.contract.topics import status_topic

DEFAULT_CONFIG = Path("/etc/thermogate/thermogate.toml")


def check_status(config: Path, component: str, component_id: str, timeout: float) -> str | None:
    """None when the retained status is ``online``, else why not."""
    try:
        settings = load_settings(config).mqtt
    except ConfigError as exc:
        return str(exc)
    topic = status_topic(ComponentKind(component), component_id)
    found: list[bytes] = []
    done = threading.Event()
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"healthcheck-{component}-{component_id}",
        protocol=paho.MQTTv5 if settings.protocol == "5" else paho.MQTTv311,
    )
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls_ca_file is not None:
        client.tls_set(ca_certs=str(settings.tls_ca_file))
    refused: list[str] = []

    def on_connect(c: paho.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            refused.append(str(reason))
            done.set()
        else:
            c.subscribe(topic, qos=1)

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        found.append(bytes(message.payload))
        done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(settings.host, settings.port, keepalive=10)
    except OSError as exc:
        return f"broker {settings.host}:{settings.port} unreachable: {exc}"
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    if refused:
        return f"broker refused the connection: {refused[0]}"
    if not found:
        return f"no retained status on {topic} within {timeout:g} s"
    state = orjson.loads(found[0]).get("state")
    return None if state == "online" else f"{topic} says {state!r}"


def check_http(url: str, timeout: float) -> str | None:
    """None when ``url`` answers 200, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed URL
            status = int(response.status)
    except OSError as exc:
        return f"{url}: {exc}"
    return None if status == 200 else f"{url} answered {status}"


def main(argv: list[str] | None = None) -> int:
    """Run one check; exit status 0 healthy, 1 not."""
    parser = argparse.ArgumentParser(prog="thermogate-healthcheck")
    parser.add_argument("--timeout", type=float, default=5.0)
    sub = parser.add_subparsers(dest="check", required=True)
    status = sub.add_parser("status", help="the retained status of a component is online")
    status.add_argument("component", choices=[k.value for k in ComponentKind])
    status.add_argument("id")
    status.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    http = sub.add_parser("http", help="a URL answers 200")
    http.add_argument("url")
    args = parser.parse_args(argv)
    if args.check == "status":
        problem = check_status(args.config, args.component, args.id, args.timeout)
    else:
        problem = check_http(args.url, args.timeout)
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
