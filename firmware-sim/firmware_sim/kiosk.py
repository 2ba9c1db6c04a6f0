"""A fixed IR kiosk (canthus camera in the lobby) that publishes straight to MQTT, no edge.

It matches the person itself (card or face: here, the card id it is given) and sends only the
pseudonymous id, stamps its own UTC time and a per-device ``seq`` kept in a small state file so
a restart never reuses one, and keeps a retained status: ``online`` at start, ``offline`` by the
broker through the will, ``stopped`` on a clean shutdown. Built on aiomqtt (asyncio); a
:class:`KioskRunner` owns the event loop in a thread for thread-based callers. Readings queue
while the broker is away and go out, in order, at least once, after reconnection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

import aiomqtt

from thermogate.config import DeviceSettings, MqttSettings, Settings
from thermogate.contract.messages import (
    ComponentKind,
    DeviceKind,
    ErrorCode,
    Placement,
    Reading,
    Site,
    Status,
    StatusState,
    encode,
    utc_now,
)
from thermogate.contract.pseudonym import pseudonymous_id
from thermogate.contract.topics import readings_topic, status_topic

log = logging.getLogger(__name__)

RECONNECT_MIN_S: Final = 1.0
RECONNECT_MAX_S: Final = 30.0
_ONE_MS: Final = dt.timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class KioskDevice:
    """Where a kiosk stands and what it measures."""

    device_id: str
    building: str
    entrance: str
    site: Site = Site.CANTHUS
    placement: Placement = Placement.LOBBY

    @classmethod
    def from_settings(cls, device: DeviceSettings) -> KioskDevice:
        """From the registry; site and placement default to canthus/lobby unless configured."""
        if device.kind != "kiosk":
            raise ValueError(f"device {device.id} is a {device.kind}, not a kiosk")
        return cls(
            device.id,
            device.building,
            device.entrance,
            device.site if "site" in device.model_fields_set else Site.CANTHUS,
            device.placement if "placement" in device.model_fields_set else Placement.LOBBY,
        )


@dataclass(frozen=True, slots=True)
class KioskMeasurement:
    """One measurement the kiosk took: a value or an error code, and who it matched."""

    temp_c: float | None = None
    error: ErrorCode | None = None
    card_id: str | None = None
    ambient_c: float | None = None


class SeqStore:
    """A per-device sequence that survives restarts: the next value is on disk before use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._next = self._load()

    def _load(self) -> int:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            raise ValueError(f"{self.path}: sequence state {text[:20]!r} is not a number")
        return int(text)

    def next(self) -> int:
        """Allocate the next sequence number (persisted first, so never reused)."""
        with self._lock:
            value = self._next
            self._persist(value + 1)
            self._next = value + 1
            return value

    def _persist(self, next_value: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="ascii") as handle:
            handle.write(f"{next_value}\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)


class KioskRunner:
    """A kiosk with its own event loop in a thread: ``start()``, ``submit()``, ``stop()``."""

    def __init__(
        self,
        mqtt: MqttSettings,
        device: KioskDevice,
        pseudonym_key: bytes,
        state_path: Path,
        *,
        client_id: str | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.device = device
        self._key = pseudonym_key
        self._seq = SeqStore(state_path)
        self._client_id = client_id or f"kiosk-{device.device_id}"
        self._topic = readings_topic(device.building, device.entrance, device.device_id)
        self._status_topic = status_topic(ComponentKind.DEVICE, device.device_id)
        self._pending: collections.deque[Reading] = collections.deque()
        self._stamp_lock = threading.Lock()
        self._last_ts: dt.datetime | None = None
        self._cond = threading.Condition()
        self._published = 0
        self._submitted = 0
        self.connected = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, device_id: str, state_dir: Path) -> Self:
        """A runner for a kiosk of the registry; its seq lives in ``state_dir/<id>.seq``."""
        device = settings.device(device_id)
        if device is None:
            raise ValueError(f"no device {device_id!r} in the registry")
        return cls(
            settings.mqtt,
            KioskDevice.from_settings(device),
            settings.edge.pseudonym_key.get_secret_value().encode("utf-8"),
            state_dir / f"{device_id}.seq",
        )

    @property
    def device_id(self) -> str:
        """The kiosk's device id."""
        return self.device.device_id

    @property
    def published(self) -> int:
        """Readings the broker acknowledged."""
        with self._cond:
            return self._published

    @property
    def submitted(self) -> int:
        """Readings taken so far."""
        with self._cond:
            return self._submitted

    @property
    def pending(self) -> int:
        """Readings taken but not yet acknowledged."""
        with self._cond:
            return len(self._pending)

    def start(self, wait_connected_s: float | None = None) -> bool:
        """Start the loop thread; with ``wait_connected_s``, wait that long for the broker."""
        if self._thread is not None:
            raise RuntimeError("kiosk already started")
        self._thread = threading.Thread(
            target=self._thread_main, name=f"kiosk-{self.device_id}", daemon=True
        )
        self._thread.start()
        if wait_connected_s is None:
            return self.connected.is_set()
        return self.connected.wait(wait_connected_s)

    def _stamp(self) -> tuple[int, dt.datetime]:
        """The next seq and a time strictly later than the previous reading's (to the ms).

        A camera cannot take two readings in one millisecond; stores that key points on
        (series, millisecond), VictoriaMetrics among them, would merge two such readings.
        """
        with self._stamp_lock:
            ts = utc_now()
            if self._last_ts is not None and ts <= self._last_ts:
                ts = self._last_ts + _ONE_MS
            self._last_ts = ts
            return self._seq.next(), ts

    def submit(self, measurement: KioskMeasurement) -> Reading:
        """Stamp a measurement (seq, UTC time, pseudonymous id) and queue it for publishing."""
        seq, ts = self._stamp()
        reading = Reading(
            device_id=self.device_id,
            seq=seq,
            ts=ts,
            temp_c=measurement.temp_c if measurement.error is None else None,
            error=measurement.error,
            site=self.device.site,
            device_kind=DeviceKind.KIOSK,
            placement=self.device.placement,
            building=self.device.building,
            entrance=self.device.entrance,
            ambient_c=measurement.ambient_c,
            person_id=(
                pseudonymous_id(measurement.card_id, self._key) if measurement.card_id else None
            ),
        )
        with self._cond:
            self._pending.append(reading)
            self._submitted += 1
        self._wake()
        return reading

    def wait_published(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` readings were acknowledged by the broker."""
        with self._cond:
            return self._cond.wait_for(lambda: self._published >= count, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Flush what is queued (if connected), publish ``stopped``, disconnect, end the thread."""
        self._stopping.set()
        self._wake()
        thread = self._thread
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive() and self._loop is not None and self._task is not None:
            log.warning(
                "kiosk did not stop in time, cancelling", extra={"device_id": self.device_id}
            )
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)
            thread.join(1.0)
        left = self.pending
        if left:
            log.warning(
                "kiosk stopped with unpublished readings",
                extra={"device_id": self.device_id, "pending": left},
            )

    def _wake(self) -> None:
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None:
            return
        try:
            loop.call_soon_threadsafe(wakeup.set)
        except RuntimeError:
            log.debug("kiosk loop already closed", extra={"device_id": self.device_id})

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            self._task = loop.create_task(self._main())
            self._loop = loop
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            log.debug("kiosk task cancelled", extra={"device_id": self.device_id})
        finally:
            self.connected.clear()
            self._loop = None
            loop.close()

    def _status(self, state: StatusState) -> bytes:
        return encode(
            Status(component=ComponentKind.DEVICE, id=self.device_id, state=state, ts=utc_now())
        )

    def _client(self) -> aiomqtt.Client:
        settings = self.mqtt
        v5 = settings.protocol == "5"
        return aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            identifier=self._client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(
                self._status_topic, self._status(StatusState.OFFLINE), qos=1, retain=True
            ),
            clean_session=None if v5 else True,
            keepalive=settings.keepalive_s,
            timeout=settings.connect_timeout_s,
            tls_params=(
                None
                if settings.tls_ca_file is None
                else aiomqtt.TLSParameters(ca_certs=str(settings.tls_ca_file))
            ),
            logger=logging.getLogger(f"{__name__}.aiomqtt"),
        )

    async def _main(self) -> None:
        self._wakeup = asyncio.Event()
        if self._stopping.is_set() or self._pending:
            self._wakeup.set()
        delay = RECONNECT_MIN_S
        while True:
            try:
                async with self._client() as client:
                    await client.publish(
                        self._status_topic, self._status(StatusState.ONLINE), qos=1, retain=True
                    )
                    self.connected.set()
                    delay = RECONNECT_MIN_S
                    log.info("kiosk online", extra={"device_id": self.device_id})
                    await self._pump(client)
                    await client.publish(
                        self._status_topic, self._status(StatusState.STOPPED), qos=1, retain=True
                    )
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                if self._stopping.is_set():
                    log.warning(
                        "kiosk stopping without a broker",
                        extra={"device_id": self.device_id, "error": str(exc)},
                    )
                    return
                log.warning(
                    "kiosk lost the broker, retrying",
                    extra={"device_id": self.device_id, "error": str(exc), "retry_s": delay},
                )
                await self._sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
            else:
                self.connected.clear()
                log.info("kiosk stopped", extra={"device_id": self.device_id})
                return

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when asked to stop."""
        deadline = time.monotonic() + seconds
        assert self._wakeup is not None
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    async def _pump(self, client: aiomqtt.Client) -> None:
        """Publish queued readings in order until asked to stop and the queue is empty."""
        assert self._wakeup is not None
        while True:
            with self._cond:
                reading = self._pending[0] if self._pending else None
            if reading is None:
                if self._stopping.is_set():
                    return
                self._wakeup.clear()
                with self._cond:
                    empty = not self._pending
                if empty and not self._stopping.is_set():
                    await self._wakeup.wait()
                continue
            await client.publish(
                self._topic, encode(reading), qos=1, timeout=self.mqtt.connect_timeout_s
            )
            with self._cond:
                self._pending.popleft()
                self._published += 1
                self._cond.notify_all()
            log.debug(
                "kiosk reading published",
                extra={"device_id": self.device_id, "seq": reading.seq},
            )
