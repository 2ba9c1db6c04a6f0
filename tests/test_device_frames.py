"""The serial line protocol of the handheld thermometer and the card reader.

Unit cases pin each refusal to the sentence a person reads in a dead letter; property tests
check the parser and the splitter against every frame the encoders can produce, whatever the
read boundaries, garbage or single-byte damage.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thermogate.contract.device_frames import (
    DSEQ_MODULUS,
    MAX_FRAME_BYTES,
    CardSwipe,
    Frame,
    FrameSplitter,
    HandheldReading,
    Heartbeat,
    ReadingAck,
    Rejected,
    checksum,
    encode_card,
    encode_frame,
    encode_heartbeat,
    encode_reading,
    parse_frame,
)
from thermogate.contract.errors import ContractError
from thermogate.contract.messages import ErrorCode, Site

# --- helpers ---------------------------------------------------------------------------------

WHITESPACE = b"\r\n\x00 "
"""What the splitter tolerates silently between frames (line noise of an idle port)."""


encode = encode_frame


def framed(body: bytes) -> bytes:
    """A line (without its ending) with a correct checksum around ``body``."""
    return b"$" + body + b"*" + f"{checksum(body):02X}".encode("ascii")


def refusal(line: bytes) -> str:
    """The reason ``parse_frame`` gives for ``line``; fails the test if it is accepted."""
    with pytest.raises(ContractError) as info:
        parse_frame(line)
    return info.value.reason


def decode_stream(chunks: list[bytes]) -> list[Frame | Rejected]:
    """What the edge gets out of a serial port: frames and refusals, in order."""
    splitter = FrameSplitter()
    out: list[Frame | Rejected] = []
    for chunk in chunks:
        for item in splitter.feed(chunk):
            if isinstance(item, Rejected):
                out.append(item)
                continue
            try:
                out.append(parse_frame(item))
            except ContractError as exc:
                out.append(Rejected(item, exc.reason))
    return out


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` split at ``points`` (any positions, in any order, repeats allowed)."""
    bounds = [0, *sorted({p % (len(data) + 1) for p in points}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def frames_of(items: list[Frame | Rejected]) -> list[Frame]:
    return [item for item in items if not isinstance(item, Rejected)]


# --- strategies ------------------------------------------------------------------------------

sites = st.sampled_from([Site.FOREHEAD, Site.WRIST])
batteries = st.integers(min_value=0, max_value=100)
value_readings = st.builds(
    HandheldReading,
    dseq=st.integers(min_value=0, max_value=DSEQ_MODULUS - 1),
    temp_c=st.integers(min_value=200, max_value=450).map(lambda tenths: tenths / 10),
    error=st.none(),
    site=sites,
    battery_pct=batteries,
)
error_readings = st.builds(
    HandheldReading,
    dseq=st.integers(min_value=0, max_value=DSEQ_MODULUS - 1),
    temp_c=st.none(),
    error=st.sampled_from(list(ErrorCode)),
    site=sites,
    battery_pct=batteries,
)
heartbeats = st.builds(Heartbeat, battery_pct=batteries, low_battery=st.booleans())
cards = st.builds(CardSwipe, card_id=st.from_regex(r"[A-Za-z0-9]{4,20}", fullmatch=True))
acks = st.builds(ReadingAck, dseq=st.integers(0, DSEQ_MODULUS - 1))
frames = st.one_of(value_readings, error_readings, heartbeats, cards, acks)
cut_points = st.lists(st.integers(min_value=0, max_value=10_000), max_size=40)
garbage = (
    st.lists(
        st.one_of(st.sampled_from([b"$", b"\r", b"\n", b"\x00", b" ", b"$TGR,1,"]), st.binary()),
        min_size=1,
        max_size=12,
    )
    .map(b"".join)
    .filter(lambda raw: b"*" not in raw and bool(raw.strip(WHITESPACE)))
)
"""Noise that cannot form a valid frame (no ``*``) and is not just idle line noise."""


# --- encoding and parsing --------------------------------------------------------------------


def test_worked_example_of_the_checksum() -> None:
    line = b"$TGR,12,36.8,F,87*18"
    value = 0
    for byte in b"TGR,12,36.8,F,87":
        value ^= byte
    assert value == 0x18 == checksum(b"TGR,12,36.8,F,87")
    assert encode_reading(HandheldReading(12, 36.8, None, Site.FOREHEAD, 87)) == line + b"\r\n"
    assert parse_frame(line) == HandheldReading(12, 36.8, None, Site.FOREHEAD, 87)


@pytest.mark.parametrize(
    ("frame", "wire"),
    [
        (HandheldReading(0, 20.0, None, Site.WRIST, 0), b"TGR,0,20.0,W,0"),
        (HandheldReading(65535, 45.0, None, Site.FOREHEAD, 100), b"TGR,65535,45.0,F,100"),
        (HandheldReading(7, None, ErrorCode.LO, Site.FOREHEAD, 50), b"TGR,7,LO,F,50"),
        (HandheldReading(8, None, ErrorCode.HI, Site.WRIST, 50), b"TGR,8,HI,W,50"),
        (HandheldReading(9, None, ErrorCode.ERR, Site.FOREHEAD, 5), b"TGR,9,ERR,F,5"),
        (Heartbeat(80, low_battery=False), b"TGS,80,OK"),
        (Heartbeat(9, low_battery=True), b"TGS,9,LOWBAT"),
        (CardSwipe("20240117"), b"TGC,20240117"),
    ],
)
def test_encoders_write_the_documented_grammar(frame: Frame, wire: bytes) -> None:
    assert encode(frame) == framed(wire) + b"\r\n"
    assert parse_frame(framed(wire)) == frame


def test_device_sequence_wraps_at_16_bits() -> None:
    wrapped = encode_reading(HandheldReading(DSEQ_MODULUS + 3, 36.6, None, Site.FOREHEAD, 90))
    assert wrapped == framed(b"TGR,3,36.6,F,90") + b"\r\n"


def test_a_reading_without_value_or_error_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="needs a value or an error code"):
        encode_reading(HandheldReading(1, None, None, Site.FOREHEAD, 90))


def test_leading_zeros_in_numbers_are_read_as_decimal() -> None:
    assert parse_frame(framed(b"TGR,007,36.8,F,050")) == HandheldReading(
        7, 36.8, None, Site.FOREHEAD, 50
    )


@given(frames)
def test_every_encodable_frame_parses_back_to_itself(frame: Frame) -> None:
    wire = encode(frame)
    assert wire.endswith(b"\r\n")
    assert len(wire) - 2 <= MAX_FRAME_BYTES
    assert parse_frame(wire[:-2]) == frame


# --- refusals, each with the sentence a person reads -----------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"$TGR,1,36.8,F,87", "frame is not $...*CS"),
        (b"TGR,1,36.8,F,87*1D", "frame is not $...*CS"),
        (b"$*", "frame is not $...*CS"),
        (b"", "frame is not $...*CS"),
        (b"$TGR,12,36.8,F,87*19", "checksum mismatch: frame says 19, bytes give 18"),
        (b"$TGR,12,36.8,F,87*G8", "checksum 'G8' is not two upper-case hex digits"),
        (b"$TGC,ABCD*7a", "checksum '7a' is not two upper-case hex digits"),
        (b"$TGC,ABCD* 7", "checksum ' 7' is not two upper-case hex digits"),
        ("$TGC,ÄBCD*00".encode(), "frame contains non-ASCII bytes"),
        (b"$TGC,\xffBCD*00", "frame contains non-ASCII bytes"),
        (b"$" + b"A" * MAX_FRAME_BYTES, f"frame longer than {MAX_FRAME_BYTES} bytes"),
        (framed(b"TGX,1"), "unknown frame type 'TGX'"),
        (framed(b""), "unknown frame type ''"),
        (framed(b"tgr,1,36.8,F,87"), "unknown frame type 'tgr'"),
        (framed(b"TGR,1,36.8,F"), "reading frame needs 5 fields, got 4"),
        (framed(b"TGR,1,36.8,F,87,1"), "reading frame needs 5 fields, got 6"),
        (framed(b"TGR,65536,36.8,F,87"), "device sequence '65536' is not 0-65535"),
        (framed(b"TGR,-1,36.8,F,87"), "device sequence '-1' is not 0-65535"),
        (framed(b"TGR,,36.8,F,87"), "device sequence '' is not 0-65535"),
        (framed(b"TGR,1,36.8,C,87"), "unknown site code 'C' (F or W)"),
        (framed(b"TGR,1,80.0,F,87"), "temperature 80.0 outside 20.0-45.0"),
        (framed(b"TGR,1,19.9,F,87"), "temperature 19.9 outside 20.0-45.0"),
        (framed(b"TGR,1,45.1,F,87"), "temperature 45.1 outside 20.0-45.0"),
        (framed(b"TGR,1,36.80,F,87"), "value '36.80' is neither NN.N nor LO/HI/ERR"),
        (framed(b"TGR,1,36,F,87"), "value '36' is neither NN.N nor LO/HI/ERR"),
        (framed(b"TGR,1,lo,F,87"), "value 'lo' is neither NN.N nor LO/HI/ERR"),
        (framed(b"TGR,1,OK,F,87"), "value 'OK' is neither NN.N nor LO/HI/ERR"),
        (framed(b"TGR,1,36.8,F,101"), "battery '101' is not 0-100"),
        (framed(b"TGR,1,36.8,F,"), "battery '' is not 0-100"),
        (framed(b"TGS,101,OK"), "battery '101' is not 0-100"),
        (framed(b"TGS,50,LOW"), "heartbeat must be TGS,<battery>,OK|LOWBAT"),
        (framed(b"TGS,50"), "heartbeat must be TGS,<battery>,OK|LOWBAT"),
        (framed(b"TGC,AB1"), "card frame must be TGC,<4-20 letters or digits>"),
        (framed(b"TGC," + b"1" * 21), "card frame must be TGC,<4-20 letters or digits>"),
        (framed(b"TGC,1234-5678"), "card frame must be TGC,<4-20 letters or digits>"),
        (framed(b"TGC,1234,5678"), "card frame must be TGC,<4-20 letters or digits>"),
    ],
)
def test_refusals_say_what_is_wrong(line: bytes, reason: str) -> None:
    assert refusal(line) == reason


def test_the_length_limit_counts_the_whole_line() -> None:
    longest_card = framed(b"TGC,12345678901234567890")
    assert len(longest_card) < MAX_FRAME_BYTES
    assert parse_frame(longest_card) == CardSwipe("12345678901234567890")
    at_limit = b"$" + b"A" * (MAX_FRAME_BYTES - 1)
    assert refusal(at_limit) == "frame is not $...*CS"  # within the limit: judged by its shape
    assert refusal(at_limit + b"A") == f"frame longer than {MAX_FRAME_BYTES} bytes"


@given(frames, st.data())
def test_a_single_damaged_byte_is_always_refused(frame: Frame, data: st.DataObject) -> None:
    line = encode(frame)[:-2]
    position = data.draw(st.integers(min_value=0, max_value=len(line) - 1), label="position")
    byte = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != line[position]))
    damaged = line[:position] + bytes([byte]) + line[position + 1 :]
    reason = refusal(damaged)
    assert reason.startswith(
        (
            "checksum mismatch: frame says ",
            "checksum ",
            "frame contains non-ASCII bytes",
            "frame is not $...*CS",
        )
    ), reason


# --- the splitter ----------------------------------------------------------------------------


@given(st.lists(frames, min_size=1, max_size=25), cut_points)
def test_splitter_yields_exactly_the_frames_whatever_the_read_boundaries(
    sent: list[Frame], points: list[int]
) -> None:
    stream = b"".join(encode(frame) for frame in sent)
    assert decode_stream(cut(stream, points)) == sent


@given(
    st.lists(st.tuples(st.one_of(st.none(), garbage), frames), min_size=1, max_size=12),
    cut_points,
)
def test_garbage_between_frames_is_reported_and_eats_no_good_frame(
    plan: list[tuple[bytes | None, Frame]], points: list[int]
) -> None:
    stream = b"".join((noise or b"") + encode(frame) for noise, frame in plan)
    received = decode_stream(cut(stream, points))

    assert frames_of(received) == [frame for _, frame in plan]
    # Split the output at each good frame: what comes before frame i is the fate of noise i.
    groups: list[list[Rejected]] = [[]]
    for item in received:
        if isinstance(item, Rejected):
            groups[-1].append(item)
        else:
            groups.append([])
    assert groups[-1] == [], "nothing but the frames was sent after the last one"
    for (noise, _), rejected in zip(plan, groups[:-1], strict=True):
        if noise is None:
            assert rejected == []
            continue
        assert rejected, f"noise {noise!r} was swallowed silently"
        refused = b"".join(item.raw for item in rejected)
        assert refused.translate(None, WHITESPACE) == noise.translate(None, WHITESPACE)
        for item in rejected:
            assert item.reason


@given(frames, frames, st.data(), cut_points)
def test_damage_anywhere_in_a_frame_never_yields_a_wrong_value(
    first: Frame, second: Frame, data: st.DataObject, points: list[int]
) -> None:
    wire = encode(first)
    position = data.draw(st.integers(min_value=0, max_value=len(wire) - 1), label="position")
    byte = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != wire[position]))
    damaged = wire[:position] + bytes([byte]) + wire[position + 1 :]
    received = decode_stream(cut(damaged + encode(second), points))

    accepted = frames_of(received)
    assert accepted[-1:] == [second], "the good frame after the damaged one was lost"
    # Damage in the line ending may leave the frame itself intact; never a different value.
    assert all(frame == first for frame in accepted[:-1])
    if position < len(wire) - 2:
        assert accepted == [second]
        assert any(isinstance(item, Rejected) for item in received)


def test_truncated_frame_followed_by_a_good_frame() -> None:
    good = encode_heartbeat(Heartbeat(77, low_battery=False))
    received = decode_stream([b"$TGR,41,36.", good])
    assert received == [
        Rejected(b"$TGR,41,36.", "truncated frame"),
        Heartbeat(77, low_battery=False),
    ]


def test_truncated_frame_ended_by_a_line_break_is_refused_by_the_parser() -> None:
    good = encode_card(CardSwipe("A1B2C3D4"))
    received = decode_stream([b"$TGR,41,36.\r\n" + good])
    assert received == [
        Rejected(b"$TGR,41,36.", "frame is not $...*CS"),
        CardSwipe("A1B2C3D4"),
    ]


def test_a_frame_cut_off_by_a_new_frame_start_at_the_chunk_boundary() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(b"$TGS,5") == []
    good = encode_heartbeat(Heartbeat(5, low_battery=True))
    assert splitter.feed(good) == [Rejected(b"$TGS,5", "truncated frame"), good[:-2]]


def test_garbage_before_a_frame_is_reported() -> None:
    good = encode_reading(HandheldReading(1, 36.5, None, Site.FOREHEAD, 60))
    received = decode_stream([b"\x17\x80noise" + good])
    assert received == [
        Rejected(b"\x17\x80noise", "garbage bytes outside a frame"),
        HandheldReading(1, 36.5, None, Site.FOREHEAD, 60),
    ]


def test_idle_line_noise_between_frames_is_ignored_silently() -> None:
    good = encode_heartbeat(Heartbeat(50, low_battery=False))
    received = decode_stream([b"\r\n\x00  \n" + good + b"\x00\r\n" + good])
    assert received == [Heartbeat(50, low_battery=False)] * 2


def test_overlong_line_without_end_is_dropped_and_the_stream_recovers() -> None:
    good = encode_card(CardSwipe("CARD0001"))
    overlong = b"$TGC," + b"9" * 100
    received = decode_stream([overlong[:50], overlong[50:], b"\r\n", good])
    assert received == [
        Rejected(overlong, "frame too long, no line end"),
        CardSwipe("CARD0001"),
    ]


def test_overlong_line_with_its_end_is_refused_by_the_parser() -> None:
    good = encode_card(CardSwipe("CARD0001"))
    overlong = framed(b"TGC," + b"9" * 90)
    received = decode_stream([overlong + b"\r\n" + good])
    assert received == [
        Rejected(overlong, f"frame longer than {MAX_FRAME_BYTES} bytes"),
        CardSwipe("CARD0001"),
    ]


def test_overlong_line_is_reported_once_however_it_arrives() -> None:
    splitter = FrameSplitter()
    head = b"$" + b"7" * (MAX_FRAME_BYTES + 2)
    assert splitter.feed(head) == [Rejected(head, "frame too long, no line end")]
    assert splitter.feed(b"7" * 200) == []  # the rest of the same line: already reported
    good = encode_heartbeat(Heartbeat(5, low_battery=False))
    assert splitter.feed(b"777\r\n" + good) == [good[:-2]]


def test_junk_is_reported_whole_once_the_next_frame_starts() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(b"no") == []
    assert splitter.feed(b"ise") == []
    good = encode_heartbeat(Heartbeat(5, low_battery=False))
    assert splitter.feed(good) == [Rejected(b"noise", "garbage bytes outside a frame"), good[:-2]]


def test_junk_longer_than_a_frame_is_reported_without_waiting() -> None:
    splitter = FrameSplitter()
    junk = b"#" * (MAX_FRAME_BYTES + 1)
    assert splitter.feed(junk) == [Rejected(junk, "garbage bytes outside a frame")]


def test_non_ascii_frame_is_refused_between_good_frames() -> None:
    good = encode_heartbeat(Heartbeat(50, low_battery=False))
    bad = "$TGC,Ärger*00".encode()
    received = decode_stream([good + bad + b"\r\n" + good])
    assert received == [
        Heartbeat(50, low_battery=False),
        Rejected(bad, "frame contains non-ASCII bytes"),
        Heartbeat(50, low_battery=False),
    ]


def test_unknown_frame_type_is_refused_between_good_frames() -> None:
    good = encode_heartbeat(Heartbeat(50, low_battery=False))
    unknown = framed(b"TGZ,1,2,3")
    received = decode_stream([good + unknown + b"\r\n" + good])
    assert received == [
        Heartbeat(50, low_battery=False),
        Rejected(unknown, "unknown frame type 'TGZ'"),
        Heartbeat(50, low_battery=False),
    ]


def test_an_incomplete_frame_waits_for_more_bytes() -> None:
    splitter = FrameSplitter()
    good = encode_reading(HandheldReading(3, 37.9, None, Site.WRIST, 20))
    assert splitter.feed(good[:10]) == []
    assert splitter.feed(good[10:-1]) == []
    assert splitter.feed(good[-1:]) == [good[:-2]]
