"""A TCP proxy the fault tests control: cut the network between a client and a server.

One thread runs a selector loop over the listening socket, every forwarded connection and a
wake-up socket pair, so nothing polls and every call returns within a bound. :meth:`TcpProxy.cut`
resets every open connection on both sides at once (the client sees its connection drop, the
server sees the client vanish, so an MQTT broker publishes the client's will) and, until
:meth:`TcpProxy.restore`, resets every new connection as soon as it is accepted (a client trying
to reconnect gets "connection reset", not a hang).

Usage::

    with TcpProxy(broker.host, broker.port) as proxy:
        client.connect("127.0.0.1", proxy.port)
        proxy.cut()        # the link is down
        proxy.restore()    # the client may reconnect
"""

from __future__ import annotations

import contextlib
import errno
import logging
import queue
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, Generic, Self, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

HOST: Final = "127.0.0.1"
CHUNK: Final = 64 * 1024
BUFFER_MAX: Final = 1024 * 1024
"""Bytes held per direction before the proxy stops reading the sending side (back-pressure)."""
CALL_TIMEOUT_S: Final = 5.0


class ProxyError(RuntimeError):
    """The proxy could not do what it was asked in time."""


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: the peer learns at once that the link is gone."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass(eq=False)
class _Leg:
    """One direction of a connection: bytes read from ``src`` waiting to be written to ``dst``."""

    src: socket.socket
    dst: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    eof: bool = False
    """``src`` has closed its sending side."""
    shut: bool = False
    """The EOF was passed on to ``dst`` (its sending side shut)."""


@dataclass(eq=False)
class _Link:
    """A forwarded connection: the accepted client socket and the socket to the target."""

    client: socket.socket
    upstream: socket.socket
    connected: bool = False
    up: _Leg = field(init=False)
    down: _Leg = field(init=False)

    def __post_init__(self) -> None:
        self.up = _Leg(self.client, self.upstream)
        self.down = _Leg(self.upstream, self.client)

    @property
    def done(self) -> bool:
        """Both directions ended and were passed on."""
        return self.up.shut and self.down.shut


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target_host:target_port``; cut and restore on demand."""

    def __init__(self, target_host: str, target_port: int, listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((HOST, listen_port))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._links: set[_Link] = set()
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], _Result[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._running = False
        self._cut = False
        self.accepted = 0
        """Connections forwarded since the start."""
        self.refused = 0
        """Connections reset on arrival while cut."""

    # -- control (any thread) --------------------------------------------------------------
    def start(self) -> Self:
        """Start forwarding."""
        if self._thread is not None:
            raise ProxyError("proxy already started")
        self._selector.register(self._listener, selectors.EVENT_READ, self._accept)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=f"tcp-proxy-{self.port}")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self, timeout_s: float = CALL_TIMEOUT_S) -> None:
        """Reset every connection, stop listening and end the thread (idempotent)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._call(self._shutdown, timeout_s)
            thread.join(timeout_s)
            if thread.is_alive():
                raise ProxyError(f"proxy thread did not end within {timeout_s} s")
        self._close_all()

    def cut(self, timeout_s: float = CALL_TIMEOUT_S) -> int:
        """Reset every open connection now and every new one until :meth:`restore`.

        Returns how many connections were cut.
        """
        return self._call(self._do_cut, timeout_s)

    def restore(self, timeout_s: float = CALL_TIMEOUT_S) -> None:
        """Accept and forward new connections again."""
        self._call(self._do_restore, timeout_s)

    @property
    def is_cut(self) -> bool:
        """Whether the link is cut."""
        return self._cut

    @property
    def connections(self) -> int:
        """Connections being forwarded right now."""
        return self._call(lambda: len(self._links))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "cut" if self._cut else "forwarding"
        return f"<TcpProxy {HOST}:{self.port} -> {self.target[0]}:{self.target[1]} {state}>"

    def _call(self, fn: Callable[[], T], timeout_s: float = CALL_TIMEOUT_S) -> T:
        """Run ``fn`` on the loop thread (which owns every socket) and wait for its result."""
        if self._thread is None or not self._thread.is_alive():
            return fn()
        result: _Result[T] = _Result()
        self._calls.put((fn, result))
        self._wake_w.send(b"x")
        if not result.done.wait(timeout_s):
            raise ProxyError(f"proxy did not answer within {timeout_s} s")
        if result.error is not None:
            raise result.error
        return result.value  # type: ignore[return-value]  # set when no error

    # -- the loop thread -------------------------------------------------------------------
    def _loop(self) -> None:
        while self._running:
            for key, mask in self._selector.select():
                handler: Callable[[int], None] = key.data
                try:
                    handler(mask)
                except Exception:  # one broken handler must not stop the proxy
                    log.exception("tcp proxy handler failed")
        self._close_all()

    def _drain_wake(self, _mask: int) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                fn, result = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                result.value = fn()
            except Exception as exc:  # noqa: BLE001  # handed back to the caller
                result.error = exc
            result.done.set()

    def _accept(self, _mask: int) -> None:
        try:
            client, _address = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        if self._cut:
            self.refused += 1
            _reset(client)
            return
        client.setblocking(False)
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.setblocking(False)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = upstream.connect_ex(self.target)
        if code not in (0, errno.EINPROGRESS):
            log.warning("tcp proxy cannot reach its target", extra={"errno": code})
            _reset(client)
            upstream.close()
            return
        link = _Link(client, upstream)
        self._links.add(link)
        self.accepted += 1
        try:
            self._update(link)
        except OSError:
            self._drop(link)

    def _on_event(self, link: _Link, sock: socket.socket, mask: int) -> None:
        if link not in self._links:
            return
        try:
            if sock is link.upstream and not link.connected and mask & selectors.EVENT_WRITE:
                error = upstream_error(link.upstream)
                if error:
                    raise ConnectionRefusedError(error, "target refused the connection")
                link.connected = True
            if mask & selectors.EVENT_READ:
                self._read(link.up if sock is link.client else link.down)
            if mask & selectors.EVENT_WRITE and link.connected:
                self._write(link.down if sock is link.client else link.up)
            self._update(link)
            if link.done:
                self._drop(link, abort=False)
        except OSError:  # a reset, a refused connect: pass the breakage on to both sides
            self._drop(link)

    @staticmethod
    def _read(leg: _Leg) -> None:
        data = leg.src.recv(CHUNK)
        if data:
            leg.buffer += data
        else:
            leg.eof = True

    @staticmethod
    def _write(leg: _Leg) -> None:
        if leg.buffer:
            sent = leg.dst.send(leg.buffer)
            del leg.buffer[:sent]

    def _update(self, link: _Link) -> None:
        """Pass on finished directions and (re)register what each socket waits for."""
        for leg in (link.up, link.down):
            if link.connected and leg.eof and not leg.buffer and not leg.shut:
                leg.dst.shutdown(socket.SHUT_WR)
                leg.shut = True
        for sock, out_leg, in_leg in (
            (link.client, link.up, link.down),
            (link.upstream, link.down, link.up),
        ):
            events = 0
            if not out_leg.eof and len(out_leg.buffer) < BUFFER_MAX:
                events |= selectors.EVENT_READ
            if in_leg.buffer or (sock is link.upstream and not link.connected):
                events |= selectors.EVENT_WRITE
            self._register(link, sock, events)

    def _register(self, link: _Link, sock: socket.socket, events: int) -> None:
        try:
            current = self._selector.get_key(sock).events
        except KeyError:
            current = 0
        if events == current:
            return
        if not events:
            self._selector.unregister(sock)
        elif not current:
            self._selector.register(sock, events, partial(self._on_event, link, sock))
        else:
            self._selector.modify(sock, events, partial(self._on_event, link, sock))

    def _drop(self, link: _Link, abort: bool = True) -> None:
        """Forget a link; reset both sockets (``abort``) or close them after a clean end."""
        self._links.discard(link)
        for sock in (link.client, link.upstream):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            if abort:
                _reset(sock)
            else:
                sock.close()

    def _do_cut(self) -> int:
        self._cut = True
        links = list(self._links)
        for link in links:
            self._drop(link)
        log.info("tcp proxy cut", extra={"port": self.port, "connections": len(links)})
        return len(links)

    def _do_restore(self) -> None:
        self._cut = False
        log.info("tcp proxy restored", extra={"port": self.port})

    def _shutdown(self) -> None:
        self._running = False

    def _close_all(self) -> None:
        for link in list(self._links):
            self._drop(link)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()


def upstream_error(sock: socket.socket) -> int:
    """The outcome of a non-blocking connect (0 when it succeeded)."""
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


@dataclass
class _Result(Generic[T]):
    """What a call run on the loop thread gave back."""

    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: Exception | None = None
