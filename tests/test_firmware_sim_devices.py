"""Simulated handhelds and card readers on real ptys, read with pyserial as the edge does."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import serial

from thermogate.contract.device_frames import (
    CardSwipe,
    Frame,
    FrameSplitter,
    HandheldReading,
    Heartbeat,
    Rejected,
    checksum,
    parse_frame,
)
from thermogate.contract.errors import ContractError
from thermogate.contract.messages import ErrorCode, Site
from thermogate.firmware_sim.card_reader import CardReader
from thermogate.firmware_sim.handheld import REFUSED_BY_EDGE, Fault, HandheldThermometer
from thermogate.firmware_sim.pty_port import VirtualSerialPort


class LineReader:
    """Reads a port with pyserial like the edge (the in_waiting-sized reads) and sorts bytes."""

    def __init__(self, path: str, timeout: float = 0.05) -> None:
        self.serial = serial.Serial(path, 9600, timeout=timeout)
        self.splitter = FrameSplitter()
        self.raw = bytearray()
        self.lines: list[bytes] = []
        self.frames: list[Frame] = []
        self.refusals: list[str] = []
        self.lock = threading.Lock()

    def read_once(self) -> None:
        data = self.serial.read(max(1, min(self.serial.in_waiting, 256)))
        if not data:
            return
        with self.lock:
            self.raw += data
            for item in self.splitter.feed(data):
                if isinstance(item, Rejected):
                    self.refusals.append(item.reason)
                    continue
                try:
                    frame = parse_frame(item)
                except ContractError as exc:
                    self.refusals.append(exc.reason)
                else:
                    self.lines.append(item)
                    self.frames.append(frame)

    def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if condition():
                    return True
            self.read_once()
        with self.lock:
            return condition()

    def of_type(self, kind: type) -> list:
        with self.lock:
            return [f for f in self.frames if isinstance(f, kind)]

    def close(self) -> None:
        self.serial.close()


class BackgroundReader(threading.Thread):
    """A :class:`LineReader` pumped by a thread until stopped."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.reader = LineReader(path)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.reader.read_once()

    def stop(self) -> None:
        self.stopping.set()
        self.join(2)
        self.reader.close()


@pytest.fixture
def port(tmp_path: Path):
    with VirtualSerialPort(tmp_path / "dev" / "ttyUSB-hh1") as virtual:
        yield virtual


@pytest.fixture
def reader(port: VirtualSerialPort):
    line_reader = LineReader(port.device)
    yield line_reader
    line_reader.close()


def test_handheld_readings_and_heartbeats_arrive_as_valid_frames(port, reader):
    handheld = HandheldThermometer(port, Site.FOREHEAD, battery_pct=87)
    sent = [
        handheld.measure(36.84),
        handheld.measure(38.26),
        handheld.measure(31.2),
        handheld.measure(43.5),
        handheld.measure(None, ErrorCode.ERR),
    ]
    assert handheld.heartbeat()

    assert reader.until(lambda: len(reader.frames) == 6)
    readings = reader.of_type(HandheldReading)
    assert [(r.dseq, r.temp_c, r.error) for r in readings] == [
        (0, 36.8, None),
        (1, 38.3, None),
        (2, None, ErrorCode.LO),  # below the 32.0 display range
        (3, None, ErrorCode.HI),  # above 42.9
        (4, None, ErrorCode.ERR),
    ]
    assert readings == sent
    assert all(r.site is Site.FOREHEAD and r.battery_pct == 87 for r in readings)
    assert reader.of_type(Heartbeat) == [Heartbeat(87, False)]
    assert reader.refusals == []
    # Bytes arrive untranslated: NMEA-style CR LF endings, a correct XOR checksum per line.
    assert bytes(reader.raw).count(b"\r\n") == 6
    for line in reader.lines:
        body, given = line[1:-3], line[-2:]
        assert int(given, 16) == checksum(body)
    assert handheld.counters.readings_sent == 5
    assert handheld.counters.error_readings == 3
    assert handheld.counters.heartbeats_sent == 1


def test_symlink_points_at_the_pty_and_close_removes_it(tmp_path):
    link = tmp_path / "dev" / "ttyUSB-cr1"
    port = VirtualSerialPort(link)
    assert link.is_symlink()
    assert os.path.realpath(link) == os.path.realpath(port.path)
    assert port.path.startswith("/dev/pts/")
    port.close()
    assert not link.exists()
    assert not link.is_symlink()


def test_a_stale_symlink_is_replaced_but_a_real_file_is_not(tmp_path):
    link = tmp_path / "ttyUSB0"
    link.symlink_to("/dev/pts/does-not-exist")
    with VirtualSerialPort(link) as port:
        assert os.path.realpath(link) == os.path.realpath(port.path)
    real = tmp_path / "not-a-link"
    real.write_text("keep me")
    with pytest.raises(FileExistsError):
        VirtualSerialPort(real)
    assert real.read_text() == "keep me"


def test_dseq_wraps_at_65536(port, reader):
    handheld = HandheldThermometer(port, Site.WRIST, dseq=65534)
    for _ in range(3):
        handheld.measure(36.6)
    assert reader.until(lambda: len(reader.frames) == 3)
    assert [r.dseq for r in reader.of_type(HandheldReading)] == [65534, 65535, 0]
    assert all(r.site is Site.WRIST for r in reader.of_type(HandheldReading))


def test_battery_drains_per_reading_and_heartbeat_reports_low_battery(port, reader):
    handheld = HandheldThermometer(port, battery_pct=21, drain_per_reading=1.0)
    handheld.heartbeat()
    handheld.measure(36.5)
    handheld.measure(36.5)
    handheld.heartbeat()
    assert reader.until(lambda: len(reader.frames) == 4)
    assert reader.of_type(Heartbeat) == [Heartbeat(21, False), Heartbeat(19, True)]
    assert [r.battery_pct for r in reader.of_type(HandheldReading)] == [21, 20]


def test_card_reader_sends_swipes(port, reader):
    card_reader = CardReader(port)
    assert card_reader.swipe("3FA2C9B1")
    assert card_reader.swipe("W2CARD001")
    with pytest.raises(ValueError, match="4-20"):
        card_reader.swipe("no-dashes")
    assert reader.until(lambda: len(reader.frames) == 2)
    assert reader.of_type(CardSwipe) == [CardSwipe("3FA2C9B1"), CardSwipe("W2CARD001")]
    assert card_reader.swipes_sent == 2


@pytest.mark.parametrize("fault", list(Fault))
def test_each_fault_is_refused_exactly_as_announced(port, reader, fault):
    handheld = HandheldThermometer(port, split_pause_s=0.05)
    marker = CardReader(port)
    refused = handheld.inject(fault, temp_c=38.4)
    marker.swipe("MARK0001")  # a good frame after the fault: everything before it was read

    assert reader.until(lambda: CardSwipe("MARK0001") in reader.frames)
    readings = reader.of_type(HandheldReading)
    assert refused is REFUSED_BY_EDGE[fault]
    if refused:
        assert len(reader.refusals) == 1, reader.refusals
        assert readings == []
        assert handheld.counters.malformed_sent == 1
        assert handheld.counters.readings_sent == 0
    else:
        assert fault is Fault.SPLIT
        assert reader.refusals == []
        assert [(r.dseq, r.temp_c) for r in readings] == [(0, 38.4)]
        assert handheld.counters.readings_sent == 1


def test_a_split_frame_really_arrives_in_pieces(port, reader):
    handheld = HandheldThermometer(port, split_pause_s=0.1)
    done = threading.Thread(target=handheld.inject, args=(Fault.SPLIT, 37.9))
    done.start()
    chunks = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not reader.frames:
        before = len(reader.raw)
        reader.read_once()
        if len(reader.raw) > before:
            chunks.append(bytes(reader.raw[before:]))
    done.join()
    assert len(chunks) >= 3
    assert reader.of_type(HandheldReading)[0].temp_c == 37.9


def test_all_faults_in_a_row_leave_the_stream_usable(port, reader):
    handheld = HandheldThermometer(port, split_pause_s=0.01)
    expected_refusals = sum(handheld.inject(fault) for fault in Fault)
    handheld.measure(36.9)
    assert reader.until(
        lambda: any(isinstance(f, HandheldReading) and f.temp_c == 36.9 for f in reader.frames)
    )
    assert len(reader.refusals) == expected_refusals == 6
    # Corrupted reading frames used up their dseq: the edge sees the gap a lost frame leaves.
    assert reader.of_type(HandheldReading)[-1].dseq == handheld.next_dseq - 1


def test_port_survives_the_reader_closing_and_reopening(port):
    handheld = HandheldThermometer(port)
    first = LineReader(port.device)
    handheld.measure(36.1)
    assert first.until(lambda: len(first.frames) == 1)
    first.close()
    handheld.measure(36.2)  # nobody reading: buffered in the pty, no error
    second = LineReader(port.device)
    try:
        handheld.measure(36.3)
        assert second.until(lambda: len(second.frames) >= 1)
        # pyserial flushes the input on open, as with a real adapter: only new frames arrive.
        assert [r.temp_c for r in second.of_type(HandheldReading)] == [36.3]
    finally:
        second.close()


def test_a_full_buffer_drops_frames_instead_of_hanging(tmp_path):
    with VirtualSerialPort(write_timeout_s=0.2) as port:
        handheld = HandheldThermometer(port)
        started = time.monotonic()
        while handheld.counters.frames_dropped == 0:
            handheld.measure(36.6)
            assert time.monotonic() - started < 10, "the pty never filled up"
        first_drop_at = time.monotonic()
        for _ in range(50):
            assert handheld.measure(36.6) is None
        # Once stalled, later writes drop at once instead of waiting each time.
        assert time.monotonic() - first_drop_at < 1.0
        assert port.writes_dropped >= 51
        assert handheld.counters.frames_dropped >= 51
        sent = handheld.counters.readings_sent
        assert sent > 100  # the pty buffered a good backlog first

        # A reader catches up: frames go through again.
        reader = LineReader(port.path, timeout=0.01)
        try:
            while reader.serial.read(4096):
                pass
            assert handheld.measure(36.7) is not None
            assert reader.until(
                lambda: any(
                    isinstance(f, HandheldReading) and f.temp_c == 36.7 for f in reader.frames
                )
            )
        finally:
            reader.close()


def test_closing_the_port_makes_the_device_vanish_for_the_reader(tmp_path):
    port = VirtualSerialPort(tmp_path / "ttyUSB9")
    reader = LineReader(port.path)
    try:
        port.close()
        with pytest.raises(serial.SerialException):
            for _ in range(20):
                reader.serial.read(1)
        assert port.write(b"$TGS,100,OK*00\r\n") is False
    finally:
        reader.close()
