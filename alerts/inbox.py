"""A local push target: a small HTTP server that keeps the JSON notifications it receives.

It is the clinic's inbox in the demo (when no other push URL is configured) and the real
receiver of the tests. Point apprise at :attr:`LocalInbox.apprise_url`; every POSTed JSON
object is kept in memory and, optionally, appended to a JSONL file. ``GET`` on the same path
returns what was received. :meth:`LocalInbox.fail_next` makes it answer errors for a while,
to show (and test) that alerts are retried through an outage of the receiver.
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import orjson

log = logging.getLogger(__name__)

DEFAULT_PATH: Final = "/inbox"
MAX_BODY_BYTES: Final = 1024 * 1024
STOP_TIMEOUT_S: Final = 5.0
POLL_INTERVAL_S: Final = 0.05
"""How often the serving thread checks for :meth:`LocalInbox.stop` (stops are quick)."""


class LocalInbox:
    """An HTTP receiver for apprise's ``json://`` webhook, bound to one local address."""

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        path: str = DEFAULT_PATH,
        jsonl_path: Path | None = None,
    ) -> None:
        """Configure; nothing listens until :meth:`start` (``port=0``: any free port)."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        self._host = host
        self._requested_port = port
        self._path = path
        self._jsonl_path = jsonl_path
        self._messages: list[dict[str, Any]] = []
        self._failures: list[int] = []
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._jsonl: IO[bytes] | None = None

    @property
    def port(self) -> int:
        """The bound port (the requested one until started)."""
        return self._server.server_address[1] if self._server else self._requested_port

    @property
    def url(self) -> str:
        """The plain HTTP URL of the inbox."""
        return f"http://{self._host}:{self.port}{self._path}"

    @property
    def apprise_url(self) -> str:
        """The apprise URL that posts notifications here (for ``alerts.push_urls``)."""
        return f"json://{self._host}:{self.port}{self._path}"

    def start(self) -> LocalInbox:
        """Bind and serve from a daemon thread; returns itself."""
        if self._server is not None:
            raise RuntimeError("inbox already started")
        if self._jsonl_path is not None:
            self._jsonl_path.parent.mkdir(parents=True, exist_ok=True)
            self._jsonl = self._jsonl_path.open("ab")
        self._server = _Server((self._host, self._requested_port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name=f"inbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("local inbox listening", extra={"url": self.url, "jsonl": str(self._jsonl_path)})
        return self

    def stop(self) -> None:
        """Stop serving and close the JSONL file (idempotent); received messages are kept."""
        server, self._server = self._server, None
        if server is None:
            return
        self._requested_port = server.server_address[1]
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        with self._cond:
            if self._jsonl is not None:
                self._jsonl.close()
                self._jsonl = None

    def __enter__(self) -> LocalInbox:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()

    def messages(self) -> list[dict[str, Any]]:
        """Every notification received, in arrival order, as posted."""
        with self._cond:
            return list(self._messages)

    def alerts(self) -> list[dict[str, Any]]:
        """The alert documents carried in the notifications' ``message`` (others skipped)."""
        found = []
        for message in self.messages():
            body = message.get("message")
            if not isinstance(body, str):
                continue
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError:
                continue
            if isinstance(document, dict) and "alert_id" in document:
                found.append(document)
        return found

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` notifications arrived (or the timeout)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._messages) >= count, timeout)

    def fail_next(self, count: int, status: int = HTTPStatus.SERVICE_UNAVAILABLE) -> None:
        """Answer the next ``count`` POSTs with ``status`` and keep nothing (a simulated outage)."""
        with self._cond:
            self._failures.extend([status] * count)

    def _failure(self) -> int | None:
        with self._cond:
            return self._failures.pop(0) if self._failures else None

    def _keep(self, document: dict[str, Any]) -> int:
        with self._cond:
            self._messages.append(document)
            if self._jsonl is not None:
                self._jsonl.write(orjson.dumps(document) + b"\n")
                self._jsonl.flush()
            self._cond.notify_all()
            return len(self._messages)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], inbox: LocalInbox
    ) -> None:
        self.inbox = inbox
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "thermogate-inbox"

    def do_POST(self) -> None:
        """Keep one JSON object; 400 when the body is not one."""
        inbox = self.server.inbox
        if self.path.split("?", 1)[0] != inbox._path:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no inbox at {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
            return
        if length > MAX_BODY_BYTES or length < 0:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
            return
        body = self.rfile.read(length)
        failure = inbox._failure()
        if failure is not None:
            self._reply(failure, {"error": "simulated outage"})
            return
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": f"body is not JSON: {exc}"})
            return
        if not isinstance(document, dict):
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "body must be a JSON object"})
            return
        count = inbox._keep(document)
        log.debug("inbox received", extra={"count": count, "title": document.get("title")})
        self._reply(HTTPStatus.OK, {"received": count})

    def do_GET(self) -> None:
        """Everything received so far: ``{"count": n, "messages": [...]}``."""
        inbox = self.server.inbox
        if self.path.split("?", 1)[0] != inbox._path:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no inbox at {self.path}"})
            return
        messages = inbox.messages()
        self._reply(HTTPStatus.OK, {"count": len(messages), "messages": messages})

    def _reply(self, status: int, document: dict[str, Any]) -> None:
        payload = orjson.dumps(document)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Route the stdlib's access log to our logger at debug level."""
        log.debug("inbox request", extra={"request": format % args})
