"""Read one serial device with pyserial and turn its byte stream into frames or refusals.

One thread per port. The port is opened like any ``/dev/ttyUSB0``; when it disappears (cable
pulled, device rebooted) the reader reports it and reopens with backoff. Bytes are cut into
lines by :class:`FrameSplitter` whatever the read boundaries, and every refused line is handed
on with its reason: a bad frame is counted and reported, never a crash.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Final

import serial

from thermogate.config import DeviceSettings
from thermogate.contract.device_frames import Frame, FrameSplitter, Rejected, parse_frame
from thermogate.contract.errors import ContractError

log = logging.getLogger(__name__)

REOPEN_MIN_DELAY_S: Final = 0.5
REOPEN_MAX_DELAY_S: Final = 10.0
READ_CHUNK_BYTES: Final = 256


@dataclass(frozen=True, slots=True)
class FrameEvent:
    """A frame that parsed, with when it arrived (monotonic for pairing, wall for stamping)."""

    device_id: str
    frame: Frame
    monotonic: float
    raw: bytes
    """The line as received: a device's resend of a reading is byte-for-byte the same."""


@dataclass(frozen=True, slots=True)
class RejectEvent:
    """Bytes from a device that were refused, and why."""

    device_id: str
    raw: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class PortEvent:
    """The port opened (``up``) or failed (``down``), for the device's status."""

    device_id: str
    up: bool
    detail: str


SerialEvent = FrameEvent | RejectEvent | PortEvent


class SerialDeviceReader(threading.Thread):
    """Reads one device's port until ``stop`` is set; events go to ``events``."""

    def __init__(
        self,
        device: DeviceSettings,
        events: queue.Queue[SerialEvent],
        stop: threading.Event,
        read_timeout_s: float,
    ) -> None:
        super().__init__(name=f"serial-{device.id}", daemon=True)
        if device.port is None:
            raise ValueError(f"device {device.id} has no serial port configured")
        self._device = device
        self._port = device.port
        self._events = events
        self._stop_event = stop
        self._read_timeout_s = read_timeout_s
        self._open: serial.Serial | None = None
        self._write_lock = threading.Lock()

    @property
    def device_id(self) -> str:
        """The device this reader reads."""
        return self._device.id

    def send(self, data: bytes) -> bool:
        """Write to the device (acknowledgements); False when the port is not open."""
        with self._write_lock:
            port = self._open
            if port is None:
                return False
            try:
                port.write(data)
            except (serial.SerialException, OSError):
                return False
            return True

    def run(self) -> None:
        """Open, read, reopen on failure, until stopped."""
        delay = REOPEN_MIN_DELAY_S
        while not self._stop_event.is_set():
            try:
                with serial.Serial(
                    self._port, self._device.baudrate, timeout=self._read_timeout_s
                ) as port:
                    self._events.put(PortEvent(self._device.id, True, f"opened {self._port}"))
                    delay = REOPEN_MIN_DELAY_S
                    with self._write_lock:
                        self._open = port
                    try:
                        self._read(port)
                    finally:
                        with self._write_lock:
                            self._open = None
            except (serial.SerialException, OSError) as exc:
                self._events.put(PortEvent(self._device.id, False, str(exc)))
                log.warning(
                    "serial port unavailable, retrying",
                    extra={
                        "device_id": self._device.id,
                        "port": self._port,
                        "error": str(exc),
                        "retry_s": delay,
                    },
                )
                self._stop_event.wait(delay)
                delay = min(delay * 2, REOPEN_MAX_DELAY_S)

    def _read(self, port: serial.Serial) -> None:
        splitter = FrameSplitter()
        while not self._stop_event.is_set():
            data = port.read(max(1, min(port.in_waiting, READ_CHUNK_BYTES)))
            if not data:
                continue
            now = time.monotonic()
            for item in splitter.feed(data):
                self._events.put(self._event(item, now))

    def _event(self, item: bytes | Rejected, now: float) -> FrameEvent | RejectEvent:
        if isinstance(item, Rejected):
            return RejectEvent(self._device.id, item.raw, item.reason)
        try:
            return FrameEvent(self._device.id, parse_frame(item), now, item)
        except ContractError as exc:
            return RejectEvent(self._device.id, item, exc.reason)
