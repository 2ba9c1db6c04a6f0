"""A virtual serial port: a pty pair whose slave end the edge opens like ``/dev/ttyUSB0``.

The simulator writes device frames to the master end. The slave is put in raw mode (no
echo, no CR/LF translation, no XON/XOFF) so bytes arrive exactly as written, and one slave
descriptor stays open inside the simulator (never read) so the pty survives the edge closing
and reopening the port, just as a USB adapter stays plugged in. Writes never hang: when the
buffer is full because nobody reads, a write waits a bounded time, then drops the rest of
the frame and counts it, like a UART overflowing.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import tty
from pathlib import Path
from types import TracebackType
from typing import Final, Self

log = logging.getLogger(__name__)

DEFAULT_WRITE_TIMEOUT_S: Final = 0.5
_POLL_S: Final = 0.05
_DRAIN_BYTES: Final = 4096
_INPUT_KEEP_BYTES: Final = 64 * 1024


class VirtualSerialPort:
    """One pty pair standing in for a USB serial adapter.

    ``path`` is the slave device (``/dev/pts/N``); ``link``, when given, is a stable symlink to
    it (``/tmp/x/ttyUSB-hh1``) that a configuration file can name. ``device`` is whichever of
    the two the edge should be configured with.
    """

    def __init__(
        self,
        link: Path | None = None,
        *,
        write_timeout_s: float = DEFAULT_WRITE_TIMEOUT_S,
    ) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master = master
        self._slave = slave
        self.path: str = os.ttyname(slave)
        self.link: Path | None = link
        self._write_timeout_s = write_timeout_s
        self._lock = threading.Lock()
        self._closed = False
        self._stalled = False
        self.bytes_written = 0
        self.writes_dropped = 0
        self.bytes_dropped = 0
        self.bytes_discarded = 0
        """Bytes the other side wrote to the device."""
        self._input = bytearray()
        if link is not None:
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink():
                link.unlink()
            elif link.exists():
                os.close(master)
                os.close(slave)
                raise FileExistsError(f"{link} exists and is not a symlink: refusing to replace it")
            link.symlink_to(self.path)
        log.debug("virtual serial port open", extra={"pty": self.path, "link": str(link)})

    @property
    def device(self) -> str:
        """The name the edge should open: the symlink when there is one, else the pty."""
        return str(self.link) if self.link is not None else self.path

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    def write(self, data: bytes) -> bool:
        """Write ``data`` to the line; False (and counted) when some of it had to be dropped.

        A dropped tail leaves a truncated frame on the line, which the edge refuses: that is
        what a real overflowing UART does. Once a write has timed out the port is *stalled*
        and later writes do not wait again until one gets through whole.
        """
        with self._lock:
            if self._closed:
                self.writes_dropped += 1
                self.bytes_dropped += len(data)
                return False
            self._discard_input()
            view = memoryview(data)
            deadline = time.monotonic() + (0.0 if self._stalled else self._write_timeout_s)
            while view:
                try:
                    written = os.write(self._master, view)
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    select.select([], [self._master], [], min(remaining, _POLL_S))
                    continue
                self.bytes_written += written
                view = view[written:]
            if view:
                self.writes_dropped += 1
                self.bytes_dropped += len(view)
                if not self._stalled:
                    log.warning(
                        "serial buffer full, dropping frames",
                        extra={"pty": self.path, "dropped_bytes": len(view)},
                    )
                self._stalled = True
                return False
            self._stalled = False
            return True

    def _discard_input(self) -> None:
        """Take in what the other side wrote, so its writes never block; keep the newest
        :data:`_INPUT_KEEP_BYTES` for :meth:`read_input` (a device that listens reads them)."""
        while True:
            try:
                chunk = os.read(self._master, _DRAIN_BYTES)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            self.bytes_discarded += len(chunk)
            self._input += chunk
        if len(self._input) > _INPUT_KEEP_BYTES:
            del self._input[: len(self._input) - _INPUT_KEEP_BYTES]

    def read_input(self) -> bytes:
        """What the edge wrote to the device since the last call (acknowledgements)."""
        with self._lock:
            if self._closed:
                return b""
            self._discard_input()
            data = bytes(self._input)
            self._input.clear()
            return data

    def close(self) -> None:
        """Close both ends (the edge then sees the device vanish) and remove the symlink."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for fd in (self._master, self._slave):
                try:
                    os.close(fd)
                except OSError:
                    log.debug("pty descriptor already closed", extra={"fd": fd})
            if self.link is not None and self.link.is_symlink():
                self.link.unlink()
        log.debug("virtual serial port closed", extra={"pty": self.path})

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VirtualSerialPort(path={self.path!r}, link={self.link!r})"
