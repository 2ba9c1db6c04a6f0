"""A local HTTP receiver for the lifecycle's pushes (apprise ``json://`` and ``ntfy://``).

It keeps every request (path, headers, body), and deduplicates by idempotency key the way a
careful receiver would: the ``Idempotency-Key`` header, else the body's last
``Idempotency-Key:`` line. ``hold_first`` makes it take the first request and then never
answer, so a test can kill the sender while a request is in flight.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

KEY_LINE = re.compile(r"Idempotency-Key: (\S+)")


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def key(self) -> str | None:
        if "idempotency-key" in self.headers:
            return self.headers["idempotency-key"]
        text = self.body.decode("utf-8", "replace")
        try:
            document = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            document = None
        if isinstance(document, dict) and isinstance(document.get("message"), str):
            text = document["message"]
        found = KEY_LINE.findall(text)
        return found[-1] if found else None


class Receiver:
    """Serves on 127.0.0.1 on a free port until :meth:`stop`."""

    def __init__(self, *, hold_first: bool = False, fail_first: int = 0) -> None:
        self.received: list[Received] = []
        self._hold_first = hold_first
        self._fail_left = fail_first
        self._cond = threading.Condition()
        self._release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                item = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with outer._cond:
                    outer.received.append(item)
                    hold = outer._hold_first and len(outer.received) == 1
                    fail = outer._fail_left > 0
                    if fail:
                        outer._fail_left -= 1
                    outer._cond.notify_all()
                if hold:
                    outer._release.wait(60)
                    return
                self.send_response(503 if fail else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def unique_keys(self) -> list[str]:
        """The idempotency keys a deduplicating receiver keeps (first sighting each)."""
        seen: list[str] = []
        for item in self.received:
            if item.key is not None and item.key not in seen:
                seen.append(item.key)
        return seen

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
