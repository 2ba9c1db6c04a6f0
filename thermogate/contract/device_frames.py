"""The ASCII line protocol of the handheld thermometer and the card reader (serial, 9600 8N1).

Every frame is one line, NMEA style::

    $TGR,<dseq>,<value>,<site>,<battery>*<CS>\\r\\n   a reading
    $TGS,<battery>,<state>*<CS>\\r\\n                 a heartbeat (every few seconds)
    $TGC,<card>*<CS>\\r\\n                            a card swipe
    $TGA,<dseq>*<CS>\\r\\n                            edge -> handheld: reading dseq is stored

``dseq`` is the device's own 16-bit counter (0-65535, wrapping; a gap means lost frames),
``value`` the displayed body-mode temperature with one decimal (``36.8``) or an error code
(``LO``, ``HI``, ``ERR``), ``site`` ``F`` (forehead) or ``W`` (wrist), ``battery`` 0-100 %,
``state`` ``OK`` or ``LOWBAT``, ``card`` 4-20 letters or digits. ``CS`` is two upper-case hex
digits: the XOR of every byte between ``$`` and ``*``.

The line runs both ways: the edge answers each reading with ``$TGA`` once the reading is on
its disk. A handheld keeps every unanswered reading in its memory and sends it again (same
``dseq``, same bytes) until it is answered, so readings taken while the edge is down or
restarting reach it later; the edge drops a repeat it has already stored. See docs/wire.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from thermogate.contract.errors import ContractError
from thermogate.contract.messages import BODY_MODE_MAX_C, BODY_MODE_MIN_C, ErrorCode, Site

MAX_FRAME_BYTES: Final = 80
DSEQ_MODULUS: Final = 65536

_SITE_CODES: Final = {"F": Site.FOREHEAD, "W": Site.WRIST}
_SITE_LETTERS: Final = {site: letter for letter, site in _SITE_CODES.items()}
_VALUE = re.compile(r"^\d{2}\.\d$")
_CARD = re.compile(r"^[A-Za-z0-9]{4,20}$")
_UINT = re.compile(r"^\d{1,5}$")
_CHECKSUM = re.compile(r"^[0-9A-F]{2}$")


@dataclass(frozen=True, slots=True)
class HandheldReading:
    """A reading frame: a value or an error code, never both."""

    dseq: int
    temp_c: float | None
    error: ErrorCode | None
    site: Site
    battery_pct: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A periodic frame that says the device is alive."""

    battery_pct: int
    low_battery: bool


@dataclass(frozen=True, slots=True)
class CardSwipe:
    """A student card presented to the reader."""

    card_id: str


@dataclass(frozen=True, slots=True)
class ReadingAck:
    """The edge has stored the reading with this ``dseq`` (edge -> handheld)."""

    dseq: int


Frame = HandheldReading | Heartbeat | CardSwipe | ReadingAck


def checksum(body: bytes) -> int:
    """XOR of all bytes of ``body`` (the text between ``$`` and ``*``)."""
    value = 0
    for byte in body:
        value ^= byte
    return value


def _wrap(body: str) -> bytes:
    raw = body.encode("ascii")
    return b"$" + raw + b"*" + f"{checksum(raw):02X}".encode("ascii") + b"\r\n"


def encode_reading(frame: HandheldReading) -> bytes:
    """The bytes a handheld sends for one reading."""
    if frame.error is not None:
        value = frame.error.value
    elif frame.temp_c is not None:
        value = f"{frame.temp_c:04.1f}"
    else:
        raise ValueError("a reading frame needs a value or an error code")
    site = _SITE_LETTERS[frame.site]
    return _wrap(f"TGR,{frame.dseq % DSEQ_MODULUS},{value},{site},{frame.battery_pct}")


def encode_heartbeat(frame: Heartbeat) -> bytes:
    """The bytes of a heartbeat."""
    return _wrap(f"TGS,{frame.battery_pct},{'LOWBAT' if frame.low_battery else 'OK'}")


def encode_card(frame: CardSwipe) -> bytes:
    """The bytes a card reader sends for one swipe."""
    return _wrap(f"TGC,{frame.card_id}")


def encode_ack(frame: ReadingAck) -> bytes:
    """The bytes the edge sends back once a reading is stored."""
    return _wrap(f"TGA,{frame.dseq % DSEQ_MODULUS}")


def encode_frame(frame: Frame) -> bytes:
    """The bytes of any frame."""
    if isinstance(frame, HandheldReading):
        return encode_reading(frame)
    if isinstance(frame, Heartbeat):
        return encode_heartbeat(frame)
    if isinstance(frame, CardSwipe):
        return encode_card(frame)
    return encode_ack(frame)


def _battery(text: str) -> int:
    if not _UINT.fullmatch(text) or int(text) > 100:
        raise ContractError(f"battery {text!r} is not 0-100")
    return int(text)


def parse_frame(line: bytes) -> Frame:
    """Parse one line (without its line ending); raise :class:`ContractError` with the reason."""
    if len(line) > MAX_FRAME_BYTES:
        raise ContractError(f"frame longer than {MAX_FRAME_BYTES} bytes")
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ContractError("frame contains non-ASCII bytes") from None
    if not text.startswith("$") or len(text) < 4 or text[-3] != "*":
        raise ContractError("frame is not $...*CS")
    body, given = text[1:-3], text[-2:]
    if not _CHECKSUM.fullmatch(given):
        # Strict on purpose: int(..., 16) would also take " A", "+A" or "0a", so a damaged
        # checksum digit could pass unnoticed.
        raise ContractError(f"checksum {given!r} is not two upper-case hex digits")
    expected_sum = int(given, 16)
    actual = checksum(body.encode("ascii"))
    if actual != expected_sum:
        raise ContractError(f"checksum mismatch: frame says {given}, bytes give {actual:02X}")
    fields = body.split(",")
    kind = fields[0]
    if kind == "TGR":
        return _parse_reading(fields)
    if kind == "TGS":
        if len(fields) != 3 or fields[2] not in ("OK", "LOWBAT"):
            raise ContractError("heartbeat must be TGS,<battery>,OK|LOWBAT")
        return Heartbeat(_battery(fields[1]), fields[2] == "LOWBAT")
    if kind == "TGA":
        if len(fields) != 2 or not _UINT.fullmatch(fields[1]) or int(fields[1]) >= DSEQ_MODULUS:
            raise ContractError("acknowledgement must be TGA,<dseq 0-65535>")
        return ReadingAck(int(fields[1]))
    if kind == "TGC":
        if len(fields) != 2 or not _CARD.fullmatch(fields[1]):
            raise ContractError("card frame must be TGC,<4-20 letters or digits>")
        return CardSwipe(fields[1])
    raise ContractError(f"unknown frame type {kind!r}")


def _parse_reading(fields: list[str]) -> HandheldReading:
    if len(fields) != 5:
        raise ContractError(f"reading frame needs 5 fields, got {len(fields)}")
    _, dseq_text, value, site_code, battery_text = fields
    if not _UINT.fullmatch(dseq_text) or int(dseq_text) >= DSEQ_MODULUS:
        raise ContractError(f"device sequence {dseq_text!r} is not 0-65535")
    site = _SITE_CODES.get(site_code)
    if site is None:
        raise ContractError(f"unknown site code {site_code!r} (F or W)")
    temp_c: float | None = None
    error: ErrorCode | None = None
    if value in ErrorCode.__members__:
        error = ErrorCode(value)
    elif _VALUE.fullmatch(value):
        temp_c = float(value)
        if not BODY_MODE_MIN_C <= temp_c <= BODY_MODE_MAX_C:
            raise ContractError(f"temperature {value} outside {BODY_MODE_MIN_C}-{BODY_MODE_MAX_C}")
    else:
        raise ContractError(f"value {value!r} is neither NN.N nor LO/HI/ERR")
    return HandheldReading(int(dseq_text), temp_c, error, site, _battery(battery_text))


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes the splitter or parser refused, with why."""

    raw: bytes
    reason: str


class FrameSplitter:
    """Cut a byte stream into lines, whatever the read boundaries, refusing garbage.

    Bytes before a ``$`` are garbage; a ``$`` before the line end cuts off a truncated
    frame; a line longer than :data:`MAX_FRAME_BYTES` is dropped as overlong. Each refusal is
    returned, never swallowed.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skip_to_line_end = False

    def feed(self, data: bytes) -> list[bytes | Rejected]:
        """Add bytes; return the complete lines (without ``\\r\\n``) and refusals, in order."""
        self._buffer += data
        out: list[bytes | Rejected] = []
        if self._skip_to_line_end:
            # The rest of an overlong line was already reported with its start: drop it
            # quietly up to its line end (or the next frame start).
            cut = min(
                (i for i in (self._buffer.find(b"\n"), self._buffer.find(b"$")) if i >= 0),
                default=-1,
            )
            if cut < 0:
                self._buffer.clear()
                return out
            self._skip_to_line_end = False
            del self._buffer[: cut + 1 if self._buffer[cut : cut + 1] == b"\n" else cut]
        while self._buffer:
            start = self._buffer.find(b"$")
            if start < 0 and len(self._buffer) <= MAX_FRAME_BYTES:
                break  # junk so far: report it whole once the next frame starts
            if start != 0:
                junk = bytes(self._buffer if start < 0 else self._buffer[:start])
                del self._buffer[: len(junk)]
                if junk.strip(b"\r\n\x00 "):
                    out.append(Rejected(junk, "garbage bytes outside a frame"))
                continue
            end = self._buffer.find(b"\n")
            restart = self._buffer.find(b"$", 1)
            if restart >= 0 and (end < 0 or restart < end):
                out.append(Rejected(bytes(self._buffer[:restart]), "truncated frame"))
                del self._buffer[:restart]
                continue
            if end < 0:
                if len(self._buffer) > MAX_FRAME_BYTES + 2:
                    out.append(Rejected(bytes(self._buffer), "frame too long, no line end"))
                    self._buffer.clear()
                    self._skip_to_line_end = True
                break
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            out.append(line)
        return out
