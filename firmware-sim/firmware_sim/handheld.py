"""A handheld IR thermometer on a serial line: ``$TGR`` readings, ``$TGS`` heartbeats, faults.

It behaves like the device at a dorm door: its own 16-bit wrapping ``dseq``, a battery that
drains a little with every reading, a display range outside which it shows ``LO``/``HI``, and
line faults injected on demand so the edge's refusals can be exercised. A corrupted reading
frame still used up a ``dseq`` (the device sent it; the line spoiled it), so the edge sees the
gap a real lost frame leaves.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from thermogate.contract.device_frames import (
    DSEQ_MODULUS,
    MAX_FRAME_BYTES,
    FrameSplitter,
    HandheldReading,
    Heartbeat,
    ReadingAck,
    checksum,
    encode_heartbeat,
    encode_reading,
    parse_frame,
)
from thermogate.contract.errors import ContractError
from thermogate.contract.messages import ErrorCode, Site
from thermogate.firmware_sim.pty_port import VirtualSerialPort

log = logging.getLogger(__name__)

DISPLAY_MIN_C: Final = 32.0
"""Lowest value a typical handheld shows in body mode; below it shows ``LO``."""
DISPLAY_MAX_C: Final = 42.9
"""Highest value it shows; above it shows ``HI``."""
LOW_BATTERY_PCT: Final = 20
BATTERY_DRAIN_PER_READING: Final = 0.025
"""Percent per reading: about 4,000 readings on a set of AAA cells."""
SPLIT_PAUSE_S: Final = 0.02
_GARBAGE: Final = b"\x00\xfe\x13~line noise~\xff\x7f"
_OVERLONG_BODY_BYTES: Final = MAX_FRAME_BYTES - 2
"""A line of ``$`` + 78 + ``*CS`` is 82 bytes: too long, yet however the reader cuts it the
splitter refuses it exactly once (the remainder is at most a bare line end)."""


class Fault(StrEnum):
    """Line faults a handheld can be told to produce."""

    BAD_CHECKSUM = "bad-checksum"
    GARBAGE = "garbage"
    TRUNCATED = "truncated"
    SPLIT = "split"
    NON_ASCII = "non-ascii"
    UNKNOWN_TYPE = "unknown-type"
    OVERLONG = "overlong"


REFUSED_BY_EDGE: Final[Mapping[Fault, bool]] = MappingProxyType(
    {
        Fault.BAD_CHECKSUM: True,
        Fault.GARBAGE: True,
        Fault.TRUNCATED: True,
        Fault.SPLIT: False,
        Fault.NON_ASCII: True,
        Fault.UNKNOWN_TYPE: True,
        Fault.OVERLONG: True,
    }
)
"""Whether the edge must refuse each fault (a split frame reassembles into a valid one)."""

MALFORMED_FAULTS: Final = tuple(fault for fault in Fault if REFUSED_BY_EDGE[fault])


def display_value(temp_c: float) -> tuple[float | None, ErrorCode | None]:
    """What the display shows for a measured value: one decimal, or ``LO``/``HI``."""
    shown = round(temp_c, 1)
    if shown < DISPLAY_MIN_C:
        return None, ErrorCode.LO
    if shown > DISPLAY_MAX_C:
        return None, ErrorCode.HI
    return shown, None


def _frame(body: bytes) -> bytes:
    """``$body*CS\\r\\n`` for any body, even one the protocol forbids."""
    return b"$" + body + b"*" + f"{checksum(body):02X}".encode("ascii") + b"\r\n"


@dataclass(slots=True)
class HandheldCounters:
    """What a handheld put on the line; ``readings_sent`` counts frames the edge accepts."""

    frames_sent: int = 0
    readings_sent: int = 0
    error_readings: int = 0
    heartbeats_sent: int = 0
    faults_injected: int = 0
    malformed_sent: int = 0
    frames_dropped: int = 0
    retransmitted: int = 0
    """Readings sent again because the edge had not acknowledged them."""
    memory_overflows: int = 0
    """Unacknowledged readings forgotten because the device's memory was full."""


DEVICE_MEMORY_READINGS: Final = 2000
"""Readings a handheld keeps until the edge acknowledges them (a few hours of a busy door)."""


@dataclass(frozen=True, slots=True)
class _Sent:
    data: bytes
    at: float


class HandheldThermometer:
    """One handheld forehead (or wrist) thermometer writing frames to a virtual serial port.

    Not thread-safe: one thread drives a device, as one guard holds one thermometer.
    """

    def __init__(
        self,
        port: VirtualSerialPort,
        site: Site = Site.FOREHEAD,
        battery_pct: int = 100,
        *,
        dseq: int = 0,
        device_id: str | None = None,
        drain_per_reading: float = BATTERY_DRAIN_PER_READING,
        split_pause_s: float = SPLIT_PAUSE_S,
        retransmit_s: float | None = None,
        memory: int = DEVICE_MEMORY_READINGS,
    ) -> None:
        if site not in (Site.FOREHEAD, Site.WRIST):
            raise ValueError(f"a handheld measures the forehead or the wrist, not {site}")
        if not 0 <= battery_pct <= 100:
            raise ValueError(f"battery {battery_pct} is not 0-100")
        self.port = port
        self.site = site
        self.device_id = device_id or port.device
        self._battery = float(battery_pct)
        self._dseq = dseq % DSEQ_MODULUS
        self._drain = drain_per_reading
        self._split_pause_s = split_pause_s
        self._retransmit_s = retransmit_s
        self._memory = memory
        self._unacked: OrderedDict[int, _Sent] = OrderedDict()
        self._acks = FrameSplitter()
        self.counters = HandheldCounters()

    @property
    def battery_pct(self) -> int:
        """The battery level the device reports (whole percent)."""
        return max(0, min(100, math.ceil(self._battery)))

    @property
    def next_dseq(self) -> int:
        """The ``dseq`` the next reading frame will carry."""
        return self._dseq

    def measure(
        self, temp_c: float | None, error: ErrorCode | None = None
    ) -> HandheldReading | None:
        """Take a reading and send it; the frame sent, or None if the line dropped it.

        A value outside the display range is shown as ``LO``/``HI``, as the device would.
        """
        frame = self._next_reading(temp_c, error)
        data = encode_reading(frame)
        self._remember(frame.dseq, data)
        if not self._send(data):
            return None
        self._count_reading(frame)
        return frame

    @property
    def unacknowledged(self) -> int:
        """Readings in the device's memory that the edge has not acknowledged yet."""
        return len(self._unacked)

    def service(self, now: float | None = None) -> int:
        """Take in the edge's acknowledgements and send again what is due; frames resent.

        Only with ``retransmit_s`` set (a handheld with memory): every reading stays in memory
        until the edge answers ``$TGA`` for its ``dseq``, and is sent again, byte for byte,
        every ``retransmit_s`` seconds until then.
        """
        if self._retransmit_s is None:
            return 0
        for item in self._acks.feed(self.port.read_input()):
            if isinstance(item, bytes):
                with contextlib.suppress(ContractError):
                    frame = parse_frame(item)
                    if isinstance(frame, ReadingAck):
                        self._unacked.pop(frame.dseq, None)
        now = time.monotonic() if now is None else now
        resent = 0
        for dseq, sent in list(self._unacked.items()):
            if now - sent.at < self._retransmit_s:
                continue
            if not self.port.write(sent.data):
                break
            self._unacked[dseq] = _Sent(sent.data, now)
            self._unacked.move_to_end(dseq)
            self.counters.retransmitted += 1
            resent += 1
        return resent

    def _remember(self, dseq: int, data: bytes) -> None:
        if self._retransmit_s is None:
            return
        self._unacked[dseq] = _Sent(data, time.monotonic())
        while len(self._unacked) > self._memory:
            self._unacked.popitem(last=False)
            self.counters.memory_overflows += 1

    def heartbeat(self) -> bool:
        """Send a ``$TGS`` heartbeat; False if the line dropped it."""
        frame = Heartbeat(self.battery_pct, self.battery_pct < LOW_BATTERY_PCT)
        delivered = self._send(encode_heartbeat(frame))
        if delivered:
            self.counters.heartbeats_sent += 1
        return delivered

    def inject(self, fault: Fault, temp_c: float = 36.5) -> bool:
        """Put one faulty frame on the line; True when the edge is expected to refuse it.

        ``temp_c`` is the value of the reading a corrupted or split frame carries. A truncated
        frame is followed at once by a good heartbeat (the cut only shows once the next
        ``$`` arrives); a split frame is a valid reading written in pieces with small pauses.
        """
        refused = REFUSED_BY_EDGE[fault]
        self.counters.faults_injected += 1
        if refused:
            self.counters.malformed_sent += 1
        log.debug("injecting line fault", extra={"device_id": self.device_id, "fault": fault})
        if fault is Fault.SPLIT:
            self._send_split(self._next_reading(temp_c, None))
            return refused
        self._send(self._faulty_bytes(fault, temp_c))
        if fault is Fault.TRUNCATED:
            self.heartbeat()
        return refused

    def _faulty_bytes(self, fault: Fault, temp_c: float) -> bytes:
        if fault is Fault.GARBAGE:
            return _GARBAGE
        if fault is Fault.UNKNOWN_TYPE:
            return _frame(f"TGX,{self._dseq},{self.battery_pct}".encode("ascii"))
        frame = self._next_reading(temp_c, None)
        good = encode_reading(frame)
        body = good[1 : good.index(b"*")]
        if fault is Fault.BAD_CHECKSUM:
            wrong = checksum(body) ^ 0x5A
            return b"$" + body + b"*" + f"{wrong:02X}".encode("ascii") + b"\r\n"
        if fault is Fault.TRUNCATED:
            return good[: len(good) // 2]
        if fault is Fault.NON_ASCII:
            return _frame(body + "\u00b0C".encode())
        if fault is Fault.OVERLONG:
            return _frame((body + b",").ljust(_OVERLONG_BODY_BYTES, b"0"))
        raise AssertionError(f"unhandled fault {fault}")

    def _next_reading(self, temp_c: float | None, error: ErrorCode | None) -> HandheldReading:
        """Build the next reading frame, spending a ``dseq`` and a little battery."""
        if error is None:
            if temp_c is None:
                raise ValueError("a reading needs a value or an error code")
            temp_c, error = display_value(temp_c)
        else:
            temp_c = None
        frame = HandheldReading(self._dseq, temp_c, error, self.site, self.battery_pct)
        self._dseq = (self._dseq + 1) % DSEQ_MODULUS
        self._battery = max(0.0, self._battery - self._drain)
        return frame

    def _send(self, data: bytes) -> bool:
        if self.port.write(data):
            self.counters.frames_sent += 1
            return True
        self.counters.frames_dropped += 1
        return False

    def _send_split(self, frame: HandheldReading) -> None:
        data = encode_reading(frame)
        cuts = (0, 3, len(data) // 2, len(data) - 1, len(data))
        delivered = True
        for start, end in itertools.pairwise(cuts):
            delivered = self.port.write(data[start:end]) and delivered
            if end < len(data):
                time.sleep(self._split_pause_s)
        if delivered:
            self.counters.frames_sent += 1
            self._count_reading(frame)
        else:
            self.counters.frames_dropped += 1

    def _count_reading(self, frame: HandheldReading) -> None:
        self.counters.readings_sent += 1
        if frame.error is not None:
            self.counters.error_readings += 1
