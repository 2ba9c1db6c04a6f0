"""Real servers for tests: Mosquitto, InfluxDB 1.x and VictoriaMetrics as child processes.

Each server runs on free ports of 127.0.0.1 (never the machine's own broker on 1883), keeps its
data and its log in a directory of its own, and can be stopped (SIGTERM, then SIGKILL after a
bounded wait), killed (SIGKILL, a crash) and restarted on the same port with the same data, so
that tests can observe what survives. Readiness waits are bounded; when a server does not come
up the error carries the tail of its log.

Usage::

    server = MosquittoServer(tmp_path / "mosquitto").start()
    try:
        ...
    finally:
        server.stop()
"""

from __future__ import annotations

import atexit
import getpass
import json
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Any, ClassVar, Literal, Self

import urllib3

from thermogate.config import MqttSettings

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 10.0


class ServerError(RuntimeError):
    """A test server could not be started or answered an error."""


class BinaryMissingError(ServerError):
    """The server's executable is not installed; the message names the Debian package."""


_STARTED: set[Server] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Never leave a server behind when the test process ends (even after a crash)."""
    for server in list(_STARTED):
        server.kill()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def find_binary(name: str, candidates: tuple[str, ...], package: str) -> str:
    """The path of an executable, or :class:`BinaryMissingError` saying what to install."""
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    raise BinaryMissingError(
        f"{name} is not installed (looked for {', '.join(candidates)}): "
        f"install the Debian package with `apt-get install {package}`"
    )


def _http() -> urllib3.PoolManager:
    return urllib3.PoolManager(timeout=urllib3.Timeout(total=HTTP_TIMEOUT_S), retries=False)


class Server:
    """A server binary run as a child process on a fixed port with a persistent data dir."""

    name: ClassVar[str] = "server"
    binaries: ClassVar[tuple[str, ...]] = ()
    package: ClassVar[str] = ""

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = port if port is not None else free_port()
        self.log_path = self.base_dir / f"{self.name}.log"
        self.binary = find_binary(self.name, self.binaries, self.package)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # -- to be provided by each server -------------------------------------------------
    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write configuration files before (each) start."""

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self.running and self._process else None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Self:
        """Start the server and wait (bounded) until it serves requests."""
        if self.running:
            raise ServerError(f"{self.name} on port {self.port} is already running")
        self._prepare()
        self._log_file = self.log_path.open("ab")
        self._log_file.write(f"---- starting: {' '.join(self._argv())}\n".encode())
        self._log_file.flush()
        self._process = subprocess.Popen(
            self._argv(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.base_dir,
            start_new_session=True,  # a Ctrl-C of pytest must not hit the server first
        )
        _STARTED.add(self)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._close_log()
                raise ServerError(
                    f"{self.name} exited with code {code} while starting on port {self.port}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if self._is_ready():
                return self
            time.sleep(0.05)
        self.kill()
        raise ServerError(
            f"{self.name} did not become ready on port {self.port} within {timeout_s:.0f} s; "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Shut down cleanly (SIGTERM); SIGKILL if it has not exited after ``timeout_s``."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # in case it was paused
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)
        self._process = None
        _STARTED.discard(self)
        self._close_log()

    def kill(self) -> None:
        """Crash the server (SIGKILL): nothing is flushed."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
        self._process = None
        _STARTED.discard(self)
        self._close_log()

    def restart(self, *, crash: bool = False, timeout_s: float = START_TIMEOUT_S) -> Self:
        """Stop (or kill, with ``crash``) and start again on the same port with the same data."""
        if crash:
            self.kill()
        else:
            self.stop()
        return self.start(timeout_s)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing answers."""
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Continue a paused server (SIGCONT)."""
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _tcp_accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state} dir={self.base_dir}>"


class MosquittoServer(Server):
    """Eclipse Mosquitto 2.x with persistence in its directory, anonymous access on 127.0.0.1.

    ``extra_config`` lines are appended to the generated ``mosquitto.conf`` (for tests that need
    e.g. a smaller queue limit). ``autosave_interval_s`` bounds what a :meth:`kill` loses:
    Mosquitto writes its persistence file on clean shutdown and every that many seconds.
    """

    name = "mosquitto"
    binaries = ("mosquitto", "/usr/sbin/mosquitto")
    package = "mosquitto"

    def __init__(
        self,
        base_dir: Path,
        port: int | None = None,
        *,
        extra_config: tuple[str, ...] = (),
        autosave_interval_s: int = 1,
    ) -> None:
        super().__init__(base_dir, port)
        self.extra_config = extra_config
        self.autosave_interval_s = autosave_interval_s
        self.config_path = self.base_dir / "mosquitto.conf"
        self.data_dir = self.base_dir / "data"

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        shipped = (ROOT / "thermogate" / "defaults" / "mosquitto.conf").read_text(encoding="utf-8")
        lines = [
            # The settings thermogate ships (persistence, queue and inflight limits), then
            # what a test needs on top; for a setting given twice the later line wins.
            shipped,
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            f"autosave_interval {self.autosave_interval_s}",
            # Unlimited queue of QoS>0 messages per offline/slow client (the default is 1000):
            # tests stop a consumer and publish a backlog, and must observe our components'
            # behaviour, not the broker silently dropping the overflow. A test that wants the
            # production bound passes it in extra_config (a later line wins).
            "max_queued_messages 0",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            # When run as root Mosquitto would switch to user "mosquitto", which cannot write
            # in the test's directory; stay the current user.
            f"user {getpass.getuser()}",
            *self.extra_config,
        ]
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _argv(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]  # no -d: stays our child

    def _is_ready(self) -> bool:
        return self._tcp_accepts()

    def mqtt_settings(self, protocol: Literal["5", "3.1.1"] = "5") -> MqttSettings:
        """Settings of a client of this broker (MQTT 5 unless told)."""
        return MqttSettings(host=self.host, port=self.port, protocol=protocol)


class InfluxDB1Server(Server):
    """InfluxDB 1.x (tested with 1.6.7) with an HTTP API on a free port and data in its dir.

    Besides lifecycle it offers InfluxQL helpers to read back what was written.
    """

    name = "influxd"
    binaries = ("influxd", "/usr/bin/influxd")
    package = "influxdb"

    def __init__(
        self,
        base_dir: Path,
        port: int | None = None,
        *,
        auth: tuple[str, str] | None = None,
    ) -> None:
        """With ``auth`` (admin user, password) authentication is on: call
        :meth:`create_admin` once after the first start, then every helper uses that user."""
        super().__init__(base_dir, port)
        self.rpc_port = free_port()
        self.config_path = self.base_dir / "influxdb.conf"
        self.auth = auth
        self._pool = _http()
        self._headers: dict[str, str] = (
            urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}") if auth else {}
        )

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://{self.host}:{self.port}"

    def _prepare(self) -> None:
        data = self.base_dir / "data"
        config = f"""\
# Generated for one test; see tests/servers.py.
reporting-disabled = true   # upstream name of the setting
reporting-enabled = false   # Debian's name of the same setting
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{data}/meta"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{data}/data"
  wal-dir = "{data}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
  index-version = "inmem"

[coordinator]
  log-queries-after = "0s"

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  auth-enabled = {"true" if self.auth else "false"}
  log-enabled = false
  pprof-enabled = false
  flux-enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "info"
  suppress-logo = true
"""
        self.config_path.write_text(config, encoding="utf-8")

    def _argv(self) -> list[str]:
        return [self.binary, "-config", str(self.config_path)]

    def _is_ready(self) -> bool:
        try:
            response = self._pool.request("GET", f"{self.url}/ping", timeout=1.0)
        except urllib3.exceptions.HTTPError:
            return False
        return response.status == 204

    # -- InfluxQL helpers --------------------------------------------------------------
    def query(self, q: str, db: str | None = None) -> dict[str, Any]:
        """Run InfluxQL (POST /query, timestamps in ns); raise on any error in the answer."""
        fields = {"q": q, "epoch": "ns"}
        if db is not None:
            fields["db"] = db
        response = self._pool.request_encode_body(
            "POST",
            f"{self.url}/query",
            fields=fields,
            encode_multipart=False,
            headers=self._headers,
        )
        body: dict[str, Any] = json.loads(response.data or b"{}")
        errors = [body.get("error")] + [r.get("error") for r in body.get("results", [])]
        errors = [e for e in errors if e]
        if response.status != 200 or errors:
            raise ServerError(f"InfluxQL {q!r} failed ({response.status}): {errors or body}")
        return body

    def create_admin(self) -> None:
        """Create the admin user of ``auth`` (allowed without credentials while none exists)."""
        if self.auth is None:
            raise ServerError("create_admin needs a server started with auth=(user, password)")
        user, password = self.auth
        q = f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"
        response = self._pool.request_encode_body(
            "POST", f"{self.url}/query", fields={"q": q}, encode_multipart=False
        )
        if response.status != 200 or b'"error"' in response.data:
            raise ServerError(f"creating the admin failed ({response.status}): {response.data!r}")

    def create_database(self, db: str) -> None:
        """``CREATE DATABASE`` (idempotent)."""
        self.query(f'CREATE DATABASE "{db}"')

    def databases(self) -> list[str]:
        """Names of all databases."""
        return [row[0] for row in self._rows(self.query("SHOW DATABASES"))]

    def write(self, db: str, lines: bytes) -> int:
        """Write raw line protocol (ns precision); returns the HTTP status (204 = stored)."""
        response = self._pool.request(
            "POST", f"{self.url}/write?db={db}&precision=ns", body=lines, headers=self._headers
        )
        return int(response.status)

    def count(self, db: str, measurement: str, field: str) -> int:
        """Number of points of ``measurement`` that have ``field`` (0 if there are none)."""
        rows = self._rows(self.query(f'SELECT count("{field}") FROM "{measurement}"', db))
        return int(rows[0][1]) if rows else 0

    def select_all(self, db: str, measurement: str) -> list[dict[str, Any]]:
        """Every point of ``measurement`` as a dict of time (ns), tags and fields, by time.

        Absent fields and tags are ``None`` (InfluxQL fills columns with null).
        """
        body = self.query(f'SELECT * FROM "{measurement}" ORDER BY time', db)
        out: list[dict[str, Any]] = []
        for result in body.get("results", []):
            for series in result.get("series", []):
                columns = series["columns"]
                out.extend(dict(zip(columns, values, strict=True)) for values in series["values"])
        return out

    @staticmethod
    def _rows(body: dict[str, Any]) -> list[list[Any]]:
        rows: list[list[Any]] = []
        for result in body.get("results", []):
            for series in result.get("series", []):
                rows.extend(series.get("values", []))
        return rows


class VictoriaMetricsServer(Server):
    """Single-node VictoriaMetrics (tested with 1.79.5), which accepts InfluxDB line protocol.

    How line protocol maps to VictoriaMetrics: each numeric field becomes one metric named
    ``<measurement>_<field>`` (``screening`` + ``seq`` -> ``screening_seq``) and tags become
    labels (a ``db`` query argument of ``/write`` becomes a ``db`` label; the ``org`` and
    ``bucket`` of ``/api/v2/write`` are ignored). Timestamps are truncated to milliseconds, so
    two points of one series within one millisecond end up as one sample. String fields carry
    no text: 1.79 parses a quoted value as a number on a best-effort basis, so
    ``decision="pass"`` becomes a sample of 0 in ``screening_decision`` (and a numeric-looking
    string becomes that number). Read text back from InfluxDB or SQLite, not from here.

    Visibility: a sample becomes searchable up to about a second after the write returned,
    even after ``/internal/force_flush``, so tests that read back use :meth:`wait_for_count`,
    which polls and then checks that the count stays put.

    Flags: ``-dedup.minScrapeInterval=1ms`` keeps one sample per series and millisecond, so a
    redelivered point is stored once (as Influx does by overwriting; the export API applies
    it too); ``-search.latencyOffset=0s`` stops queries hiding the last 30 s;
    ``-retentionPeriod=100y`` accepts old test timestamps.
    """

    name = "victoria-metrics"
    binaries = ("victoria-metrics", "/usr/bin/victoria-metrics", "victoria-metrics-prod")
    package = "victoria-metrics"

    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        super().__init__(base_dir, port)
        self.data_dir = self.base_dir / "data"
        self._pool = _http()

    @property
    def url(self) -> str:
        """Base URL of the HTTP API (the Influx v2 write API is at ``/api/v2/write``)."""
        return f"http://{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        return [
            self.binary,
            f"-httpListenAddr={self.host}:{self.port}",
            f"-storageDataPath={self.data_dir}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-dedup.minScrapeInterval=1ms",
            "-loggerLevel=INFO",
        ]

    def _is_ready(self) -> bool:
        try:
            response = self._pool.request("GET", f"{self.url}/health", timeout=1.0)
        except urllib3.exceptions.HTTPError:
            return False
        return response.status == 200

    # -- read-back helpers -------------------------------------------------------------
    def force_flush(self) -> None:
        """Make everything ingested so far visible to queries (``/internal/force_flush``)."""
        response = self._pool.request("GET", f"{self.url}/internal/force_flush")
        if response.status != 200:
            raise ServerError(f"force_flush failed ({response.status}): {response.data!r}")

    def export(self, match: str) -> list[dict[str, Any]]:
        """Raw samples of every series matching a selector (``/api/v1/export``), after a flush.

        Each item is ``{"metric": {labels}, "values": [...], "timestamps": [ms, ...]}``.
        """
        self.force_flush()
        response = self._pool.request(
            "GET",
            f"{self.url}/api/v1/export",
            # From the epoch to a year ahead: readings from a clock gone wrong count too.
            fields={"match[]": match, "start": "0", "end": str(int(time.time()) + 366 * 86400)},
        )
        if response.status != 200:
            raise ServerError(f"export {match!r} failed ({response.status}): {response.data!r}")
        return [json.loads(line) for line in response.data.decode().splitlines() if line]

    def count_samples(self, metric: str, **labels: str) -> int:
        """Exact number of stored samples of ``metric`` (optionally restricted to labels)."""
        return sum(len(s["values"]) for s in self.export(_selector(metric, labels)))

    def wait_for_count(
        self,
        metric: str,
        expected: int,
        timeout_s: float = 15.0,
        settle_s: float = 1.5,
        **labels: str,
    ) -> int:
        """Poll until ``metric`` has ``expected`` samples, then re-count after ``settle_s``.

        Returns the settled count (so a test asserting ``== expected`` also catches late
        extra samples); on timeout returns the last count seen.
        """
        deadline = time.monotonic() + timeout_s
        count = self.count_samples(metric, **labels)
        while count < expected and time.monotonic() < deadline:
            time.sleep(0.1)
            count = self.count_samples(metric, **labels)
        if count != expected:
            return count
        time.sleep(settle_s)
        return self.count_samples(metric, **labels)

    def series_labels(self, metric: str) -> list[dict[str, str]]:
        """The label sets of every series of ``metric`` (``__name__`` included)."""
        return [s["metric"] for s in self.export(_selector(metric, {}))]

    def label_values(self, metric: str, label: str) -> set[str]:
        """Every value ``label`` has among the series of ``metric``."""
        return {s[label] for s in self.series_labels(metric) if label in s}

    def samples(self, metric: str) -> list[tuple[dict[str, str], int, float]]:
        """Every sample of ``metric`` as (labels, timestamp in ms, value), by timestamp."""
        out = [
            (s["metric"], int(t), float(v))
            for s in self.export(_selector(metric, {}))
            for t, v in zip(s["timestamps"], s["values"], strict=True)
        ]
        return sorted(out, key=lambda sample: sample[1])


def _selector(metric: str, labels: dict[str, str]) -> str:
    parts = [f'__name__="{_quote(metric)}"'] + [f'{k}="{_quote(v)}"' for k, v in labels.items()]
    return "{" + ",".join(parts) + "}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


__all__ = [
    "HOST",
    "BinaryMissingError",
    "InfluxDB1Server",
    "MosquittoServer",
    "Server",
    "ServerError",
    "VictoriaMetricsServer",
    "find_binary",
    "free_port",
]
