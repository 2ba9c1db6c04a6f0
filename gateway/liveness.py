"""Device liveness and edge backlog: alerts to the staff on duty when a door goes blind.

A device is *heard* when a reading of it is stored (:meth:`LivenessMonitor.readings_seen`) or
when an ``online`` status of it arrives (its ``last_seen``, else its ``ts``). It is *offline*
when it has not been heard for ``gateway.device_silence_s``, or at once when its own status
says ``offline``/``stopped`` or every edge that reads it says so (the broker's will, a clean
stop). During screening hours an offline device raises one ``device_offline`` alert per
outage; when it is heard again one ``device_back`` closes the outage. An edge whose disk
buffer reaches 80 % raises one ``edge_backlog`` alert, re-armed once it is below 70 %.

The monitor is pure: it keeps state from statuses and readings and turns it into alerts only
in :meth:`LivenessMonitor.check`, with time passed in, so tests drive it without sleeping.
:class:`LivenessDriver` is the thread that calls ``check`` every few seconds in the gateway.
State lives in memory only: after a restart the retained statuses rebuild it on subscribe.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from thermogate.config import Settings
from thermogate.contract import Alert, AlertKind, ComponentKind, Severity, Status, StatusState
from thermogate.contract.messages import describe_validation_error
from thermogate.contract.topics import status_topic

if TYPE_CHECKING:
    from thermogate.gateway.pipeline import AlertSink

log = logging.getLogger(__name__)

BACKLOG_ALERT_RATIO: Final = 0.8
"""An edge buffer this full raises an ``edge_backlog`` alert."""
BACKLOG_REARM_RATIO: Final = 0.7
"""Below this the backlog alert is re-armed (the gap keeps a buffer near 80 % from flapping)."""
CHECK_INTERVAL_S: Final = 2.0
MINUTES_PER_DAY: Final = 24 * 60

Clock = Callable[[], dt.datetime]


def wire_time(value: dt.datetime) -> str:
    """A time as the wire writes it (UTC, milliseconds, ``Z``): used inside alert ids."""
    utc = value.astimezone(dt.UTC)
    return (
        utc.replace(microsecond=utc.microsecond // 1000 * 1000)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _require_aware(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got naive {value.isoformat()}")
    return value


@dataclass(frozen=True, slots=True)
class ScreeningHours:
    """The daily window, in local time, when silent devices are alerted.

    ``start_min``/``end_min`` are minutes after local midnight. ``end_min`` may be 1440
    (``24:00``); a window whose end is not after its start crosses midnight
    (``22:00-06:00``); ``00:00-24:00`` and a window with equal ends mean always.
    """

    start_min: int
    end_min: int
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, timezone: str) -> ScreeningHours:
        """Read ``HH:MM-HH:MM`` (as ``gateway.screening_hours``) in an IANA zone."""
        try:
            start_text, end_text = text.split("-")
            start, end = _minutes(start_text), _minutes(end_text)
        except ValueError:
            raise ValueError(f"screening hours {text!r} are not HH:MM-HH:MM") from None
        if not (0 <= start < MINUTES_PER_DAY and 0 <= end <= MINUTES_PER_DAY):
            raise ValueError(f"screening hours {text!r} are outside 00:00-24:00")
        return cls(start, end, ZoneInfo(timezone))

    @property
    def always(self) -> bool:
        """Whether the window covers the whole day."""
        return self.start_min == self.end_min % MINUTES_PER_DAY

    def contains(self, at: dt.datetime) -> bool:
        """Whether ``at`` (aware) falls inside the window, to the minute, in local time."""
        if self.always:
            return True
        local = _require_aware(at, "time").astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        if self.start_min < self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min  # crosses midnight

    def local(self, at: dt.datetime) -> str:
        """A time for a person: local date, hour and zone."""
        return at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _minutes(text: str) -> int:
    hours, minutes = text.strip().split(":")
    if len(hours) != 2 or len(minutes) != 2 or int(minutes) > 59:
        raise ValueError(text)
    return int(hours) * 60 + int(minutes)


@dataclass(slots=True)
class _Device:
    """What the monitor knows of one registry device."""

    id: str
    kind: str
    building: str
    entrance: str
    edge_ids: tuple[str, ...]
    last_heard: dt.datetime | None = None
    stopped: tuple[dt.datetime, str] | None = None
    """Its own status said offline/stopped: (status ts, reason for people)."""
    outage_since: dt.datetime | None = None
    """Silent since then, and alerted: the open outage."""


@dataclass(slots=True)
class _Edge:
    """What the monitor knows of one configured edge."""

    id: str
    building: str
    entrance: str
    down: tuple[dt.datetime, str] | None = None
    """Its status said offline (the will) or stopped: (status ts, reason for people)."""
    backlog_since: dt.datetime | None = None
    """First seen at 80 % or more; None when re-armed."""


@dataclass(frozen=True, slots=True)
class _BacklogEvent:
    edge_id: str
    since: dt.datetime
    pending: int
    capacity: int
    dropped: int | None


@dataclass(slots=True)
class LivenessStats:
    """Counters for logs and tests."""

    statuses: int = 0
    """Statuses applied."""
    ignored: int = 0
    """Status messages refused (bad payload, topic mismatch) or about unknown components."""
    offline_alerts: int = 0
    back_alerts: int = 0
    backlog_alerts: int = 0


@dataclass(slots=True)
class _Silence:
    since: dt.datetime
    reason: str


class LivenessMonitor:
    """Device silence and edge backlog, turned into alerts by :meth:`check`.

    Thread-safe: :meth:`on_status` runs on the MQTT network thread, :meth:`readings_seen`
    on the batch worker, :meth:`check` on the driver thread.
    """

    def __init__(self, settings: Settings, now: Clock) -> None:
        config = settings.gateway
        self._now = now
        self._silence = dt.timedelta(seconds=config.device_silence_s)
        self.hours = ScreeningHours.parse(config.screening_hours, config.timezone)
        self._started = _require_aware(now(), "clock time")
        self._lock = threading.Lock()
        self._edges = {e.id: _Edge(e.id, e.building, e.entrance) for e in settings.edges}
        readers: dict[str, list[str]] = {}
        for edge in settings.edges:
            for device_id in edge.devices:
                readers.setdefault(device_id, []).append(edge.id)
        self._devices = {
            d.id: _Device(d.id, d.kind, d.building, d.entrance, tuple(readers.get(d.id, ())))
            for d in settings.devices
        }
        self._backlog_events: list[_BacklogEvent] = []
        self.stats = LivenessStats()

    # -- inputs -----------------------------------------------------------------------
    def readings_seen(self, device_ids: Iterable[str], at: dt.datetime) -> None:
        """Readings of these devices were stored: they were heard at ``at``."""
        heard = min(_require_aware(at, "at"), self._now())
        with self._lock:
            for device_id in set(device_ids):
                device = self._devices.get(device_id)
                if device is not None:
                    _hear(device, heard)

    def on_status(self, topic: str, payload: bytes) -> None:
        """Apply one status message; bad ones are logged and ignored. Never raises."""
        try:
            self._on_status(topic, payload)
        except Exception:  # a status must never take the network thread down
            log.exception("status not applied", extra={"topic": topic})
            with self._lock:
                self.stats.ignored += 1

    def _on_status(self, topic: str, payload: bytes) -> None:
        if not payload:  # a retained status being cleared: nothing to learn
            log.debug("empty status ignored", extra={"topic": topic})
            return
        try:
            status = Status.model_validate_json(payload, strict=True)
        except ValidationError as exc:
            reason = describe_validation_error(exc).removeprefix("invalid reading: ")
            self._ignore(topic, f"invalid status: {reason}")
            return
        if topic != status_topic(status.component, status.id):
            self._ignore(topic, f"status of {status.component}/{status.id} on the wrong topic")
            return
        now = self._now()
        with self._lock:
            if status.component is ComponentKind.EDGE:
                applied = self._edge_status(status, now)
            elif status.component is ComponentKind.DEVICE:
                applied = self._device_status(status, now)
            else:
                applied = True  # gateways: nothing to watch
            if applied:
                self.stats.statuses += 1
            else:
                self.stats.ignored += 1
        if not applied:
            log.debug("status of an unknown component", extra={"topic": topic})

    def _ignore(self, topic: str, reason: str) -> None:
        log.warning("status ignored", extra={"topic": topic, "reason": reason[:300]})
        with self._lock:
            self.stats.ignored += 1

    def _device_status(self, status: Status, now: dt.datetime) -> bool:
        device = self._devices.get(status.id)
        if device is None:
            return False
        if status.state is StatusState.ONLINE:
            device.stopped = None
            _hear(device, min(status.last_seen or status.ts, now))
        else:
            said = "went offline (will)" if status.state is StatusState.OFFLINE else "stopped"
            detail = f": {status.detail}" if status.detail else ""
            device.stopped = (min(status.ts, now), f"the device {said}{detail}")
        return True

    def _edge_status(self, status: Status, now: dt.datetime) -> bool:
        edge = self._edges.get(status.id)
        if edge is None:
            return False
        if status.state is StatusState.ONLINE:
            edge.down = None
        else:
            said = "went offline (will)" if status.state is StatusState.OFFLINE else "stopped"
            edge.down = (min(status.ts, now), f"its edge {edge.id} {said}")
        if status.buffer_pending is not None and status.buffer_capacity is not None:
            self._backlog(edge, status, min(status.ts, now))
        return True

    def _backlog(self, edge: _Edge, status: Status, at: dt.datetime) -> None:
        assert status.buffer_pending is not None and status.buffer_capacity is not None
        ratio = status.buffer_pending / status.buffer_capacity
        if edge.backlog_since is None and ratio >= BACKLOG_ALERT_RATIO:
            edge.backlog_since = at
            self._backlog_events.append(
                _BacklogEvent(
                    edge.id,
                    at,
                    status.buffer_pending,
                    status.buffer_capacity,
                    status.buffer_dropped,
                )
            )
        elif edge.backlog_since is not None and ratio < BACKLOG_REARM_RATIO:
            edge.backlog_since = None
            log.info("edge backlog below 70 %, re-armed", extra={"edge_id": edge.id})

    # -- decisions --------------------------------------------------------------------
    def check(self, now: dt.datetime | None = None) -> list[Alert]:
        """The alerts due at ``now`` (default: the clock); each outage and backlog once."""
        now = _require_aware(self._now() if now is None else now, "now")
        in_hours = self.hours.contains(now)
        alerts: list[Alert] = []
        with self._lock:
            events, self._backlog_events = self._backlog_events, []
            alerts.extend(self._backlog_alert(event, now) for event in events)
            for device in self._devices.values():
                silence = self._silent(device, now)
                if device.outage_since is None:
                    if silence is not None and in_hours:
                        device.outage_since = silence.since
                        alerts.append(self._offline_alert(device, silence, now))
                elif silence is None and _returned(device):
                    alerts.append(self._back_alert(device, now))
                    device.outage_since = None
            self._count(alerts)
        for alert in alerts:
            log.info(
                "liveness alert",
                extra={"alert_id": alert.alert_id, "kind": alert.kind.value, "text": alert.message},
            )
        return alerts

    def offline_devices(self) -> dict[str, dt.datetime]:
        """Devices with an open (alerted) outage, and since when they are silent."""
        with self._lock:
            return {
                d.id: d.outage_since for d in self._devices.values() if d.outage_since is not None
            }

    def _silent(self, device: _Device, now: dt.datetime) -> _Silence | None:
        """Whether the device counts as not heard from at ``now``, since when and why."""
        cut = self._cut(device)
        if cut is not None:
            at, reason = cut
            heard = device.last_heard
            return _Silence(max(at, heard) if heard is not None else at, reason)
        if device.last_heard is None:
            if now - self._started >= self._silence:
                return _Silence(self._started, "not heard from since the gateway started")
            return None
        if now - device.last_heard >= self._silence:
            seconds = self._silence.total_seconds()
            return _Silence(device.last_heard, f"no reading or status for {seconds:.0f} s")
        return None

    def _cut(self, device: _Device) -> tuple[dt.datetime, str] | None:
        """Its own stop, or the stop of every edge that reads it (the latest of them)."""
        if device.stopped is not None:
            return device.stopped
        downs = [self._edges[e].down for e in device.edge_ids if e in self._edges]
        if not downs or any(down is None for down in downs):
            return None
        return max((down for down in downs if down is not None), key=lambda down: down[0])

    def _offline_alert(self, device: _Device, silence: _Silence, now: dt.datetime) -> Alert:
        heard = (
            f"last heard {self.hours.local(device.last_heard)}"
            if device.last_heard is not None
            else "never heard since the gateway started"
        )
        return Alert(
            alert_id=f"device_offline:{device.id}:{wire_time(silence.since)}",
            kind=AlertKind.DEVICE_OFFLINE,
            severity=Severity.WARNING,
            building=device.building,
            entrance=device.entrance,
            device_id=device.id,
            edge_id=device.edge_ids[0] if device.edge_ids else None,
            ts=silence.since,
            raised_at=now,
            message=(
                f"{device.kind} {device.id} at {device.building}/{device.entrance} is offline: "
                f"{silence.reason}; {heard}"
            ),
        )

    def _back_alert(self, device: _Device, now: dt.datetime) -> Alert:
        since = device.outage_since
        assert since is not None and device.last_heard is not None
        return Alert(
            alert_id=f"device_back:{device.id}:{wire_time(since)}",
            kind=AlertKind.DEVICE_BACK,
            severity=Severity.INFO,
            building=device.building,
            entrance=device.entrance,
            device_id=device.id,
            edge_id=device.edge_ids[0] if device.edge_ids else None,
            ts=device.last_heard,
            raised_at=now,
            message=(
                f"{device.kind} {device.id} at {device.building}/{device.entrance} is back: "
                f"heard {self.hours.local(device.last_heard)} after "
                f"{_duration(device.last_heard - since)} silent (since {self.hours.local(since)})"
            ),
        )

    def _backlog_alert(self, event: _BacklogEvent, now: dt.datetime) -> Alert:
        edge = self._edges[event.edge_id]
        percent = 100 * event.pending / event.capacity
        dropped = f"; {event.dropped} dropped so far" if event.dropped else ""
        return Alert(
            alert_id=f"edge_backlog:{edge.id}:{wire_time(event.since)}",
            kind=AlertKind.EDGE_BACKLOG,
            severity=Severity.WARNING,
            building=edge.building,
            entrance=edge.entrance,
            edge_id=edge.id,
            ts=event.since,
            raised_at=now,
            message=(
                f"edge {edge.id} at {edge.building}/{edge.entrance}: disk buffer "
                f"{percent:.0f} % full ({event.pending}/{event.capacity} readings not yet "
                f"delivered){dropped}; readings are at risk"
            ),
        )

    def _count(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            if alert.kind is AlertKind.DEVICE_OFFLINE:
                self.stats.offline_alerts += 1
            elif alert.kind is AlertKind.DEVICE_BACK:
                self.stats.back_alerts += 1
            else:
                self.stats.backlog_alerts += 1


def _hear(device: _Device, at: dt.datetime) -> None:
    if device.last_heard is None or at > device.last_heard:
        device.last_heard = at


def _duration(span: dt.timedelta) -> str:
    """A span for a person: ``41 s``, ``7 min``, ``3 h 05 min``."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _returned(device: _Device) -> bool:
    """Heard after the outage began (not merely a stale time that still looks recent)."""
    return (
        device.last_heard is not None
        and device.outage_since is not None
        and device.last_heard > device.outage_since
    )


@dataclass(slots=True)
class LivenessDriver:
    """Calls :meth:`LivenessMonitor.check` every ``interval_s`` and hands alerts to the sink."""

    monitor: LivenessMonitor
    sink: AlertSink
    interval_s: float = CHECK_INTERVAL_S
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> None:
        """Start the checking thread (once)."""
        if self._thread is not None:
            raise RuntimeError("liveness driver already started")
        self._thread = threading.Thread(target=self._run, name="gateway-liveness", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; a check in progress finishes first."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> int:
        """One check; returns how many alerts went to the sink. Errors are logged, not raised."""
        try:
            alerts = self.monitor.check()
        except Exception:  # the watchdog must outlive a bug in one check
            log.exception("liveness check failed")
            return 0
        for alert in alerts:
            try:
                self.sink.raise_alert(alert)
            except Exception:  # one failed hand-over must not lose the others
                log.exception("liveness alert not handed over", extra={"alert_id": alert.alert_id})
        return len(alerts)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.run_once()
