"""An MQTT broker for the demo: Mosquitto when it is on PATH, amqtt in-process otherwise.

Mosquitto runs as a child process with the shipped configuration
(``thermogate/defaults/mosquitto.conf``) plus a loopback listener on a free port and a
persistence directory. amqtt (pure Python, MQTT 3.1.1 only) runs on an event loop in a
daemon thread so a fresh machine needs nothing but ``pip install``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Final, Literal

log = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 10.0


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


class EmbeddedBroker:
    """Start with :meth:`start`, stop with :meth:`stop`; ``protocol`` says what it speaks."""

    def __init__(
        self, workdir: Path, prefer: Literal["auto", "mosquitto", "amqtt"] = "auto"
    ) -> None:
        self._workdir = workdir
        self.port = free_port()
        self.host = "127.0.0.1"
        mosquitto = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        use_mosquitto = prefer == "mosquitto" or (prefer == "auto" and mosquitto is not None)
        self.kind: Literal["mosquitto", "amqtt"] = "mosquitto" if use_mosquitto else "amqtt"
        self.protocol: Literal["5", "3.1.1"] = "5" if use_mosquitto else "3.1.1"
        self._mosquitto = mosquitto
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.kind == "mosquitto":
            self._start_mosquitto()
        else:
            self._start_amqtt()
        if not _wait_for_port(self.port, START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"{self.kind} did not listen on port {self.port}")
        log.info("broker started", extra={"kind": self.kind, "port": self.port})

    def stop(self) -> None:
        """Stop the broker (bounded wait)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
            self._process = None
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _start_mosquitto(self) -> None:
        assert self._mosquitto is not None
        data = self._workdir / "mosquitto"
        data.mkdir(parents=True, exist_ok=True)
        shipped = importlib.resources.files("thermogate").joinpath("defaults/mosquitto.conf")
        config = data / "mosquitto.conf"
        config.write_text(
            shipped.read_text(encoding="utf-8")
            + f"\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence_location {data}/\nlog_dest file {data / 'mosquitto.log'}\n",
            encoding="utf-8",
        )
        self._process = subprocess.Popen(
            [self._mosquitto, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _start_amqtt(self) -> None:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            from amqtt.broker import Broker  # noqa: PLC0415 - only when no Mosquitto

            broker = Broker(
                {
                    "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                    "sys_interval": 0,
                    "auth": {"allow-anonymous": True},
                    "topic-check": {"enabled": False},
                }
            )
            await broker.start()
            self._stopping = asyncio.Event()
            started.set()
            await self._stopping.wait()
            await broker.shutdown()

        loop = self._loop
        self._thread = threading.Thread(
            target=lambda: loop.run_until_complete(serve()), name="amqtt", daemon=True
        )
        self._thread.start()
        started.wait(START_TIMEOUT_S)
