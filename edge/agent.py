"""The edge agent at one entrance: serial devices in, stamped readings out over MQTT.

It reads every serial device of its entrance (handheld thermometers and a card reader), pairs
a swipe with the reading that follows, turns the card into a pseudonymous id, stamps UTC time
and a durable per-device sequence number, and publishes each reading at QoS 1. Refused frames
go to the dead-letter topic with their reason. Its own status and its devices' statuses are
retained; the will marks the edge ``offline`` if it dies.

Each reading is committed to the disk buffer (:mod:`thermogate.edge.buffer`) before anything
else happens to it, and the forwarder (:mod:`thermogate.edge.forwarder`) sends it and retires
it on the broker's PUBACK: nothing is lost when the broker, the network or the gateway is down,
or when the edge itself is killed.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from thermogate.config import DeviceSettings, EdgeAgentSettings, Settings
from thermogate.contract import (
    ComponentKind,
    DeviceKind,
    Reading,
    Status,
    StatusState,
    encode,
    utc_now,
)
from thermogate.contract.deadletters import dead_letter
from thermogate.contract.device_frames import (
    CardSwipe,
    HandheldReading,
    Heartbeat,
    ReadingAck,
    encode_ack,
)
from thermogate.contract.pseudonym import pseudonymous_id
from thermogate.contract.topics import deadletter_topic, status_topic
from thermogate.edge.buffer import ReadingBuffer
from thermogate.edge.clock import ClockWatch
from thermogate.edge.forwarder import Forwarder
from thermogate.edge.pairing import CardPairer
from thermogate.edge.serial_source import (
    FrameEvent,
    PortEvent,
    RejectEvent,
    SerialDeviceReader,
    SerialEvent,
)
from thermogate.mqtt import MqttConnection, Publication

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EdgeStats:
    """Counters an operator (and the demo's view) can read."""

    frames: int = 0
    readings_buffered: int = 0
    swipes: int = 0
    resends_dropped: int = 0
    clock_jumps: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


class EdgeAgent:
    """Runs one entrance until :meth:`stop`."""

    def __init__(self, settings: Settings, edge_id: str) -> None:
        self._settings = settings
        self._edge: EdgeAgentSettings = settings.edge_agent(edge_id)
        self._devices: dict[str, DeviceSettings] = {}
        for device_id in self._edge.devices:
            device = settings.device(device_id)
            if device is not None:
                self._devices[device_id] = device
        self._key = settings.edge.pseudonym_key.get_secret_value().encode("utf-8")
        self._pairer = CardPairer(settings.edge.pairing_window_s)
        self.buffer = ReadingBuffer(
            settings.edge.data_dir / self._edge.id / "buffer.sqlite3",
            settings.edge.buffer_capacity,
        )
        self._events: queue.Queue[SerialEvent] = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()
        self._battery: dict[str, int] = {}
        self._last_seen: dict[str, dt.datetime] = {}
        self._ports_open: set[str] = set()
        self._last_ts: dict[str, dt.datetime] = {}
        self._clock = ClockWatch(settings.edge.clock_jump_s)
        self.stats = EdgeStats()
        self._mqtt = MqttConnection(
            settings.mqtt,
            client_id=f"thermogate-edge-{self._edge.id}",
            will=self._status(ComponentKind.EDGE, self._edge.id, StatusState.OFFLINE),
            births=[self._status(ComponentKind.EDGE, self._edge.id, StatusState.ONLINE)],
            on_published=self._on_published,
        )
        self.forwarder = Forwarder(
            self.buffer,
            self._mqtt,
            replay_rate_per_s=settings.edge.replay_rate_per_s,
            replay_batch_max=settings.edge.replay_batch_max,
            stop=self._stop,
        )
        self._readers = [
            SerialDeviceReader(device, self._events, self._stop, settings.edge.read_timeout_s)
            for device in self._devices.values()
            if device.port is not None
        ]
        self._readers_by_device = {reader.device_id: reader for reader in self._readers}
        self._loop = threading.Thread(target=self._run, name=f"edge-{self._edge.id}", daemon=True)

    @property
    def edge_id(self) -> str:
        """This agent's id."""
        return self._edge.id

    def start(self) -> None:
        """Connect to the broker and start reading every device."""
        self._mqtt.start()
        self.forwarder.start()
        for reader in self._readers:
            reader.start()
        self._loop.start()
        log.info("edge started", extra={"edge_id": self._edge.id, "devices": list(self._devices)})

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading, publish ``stopped`` statuses, disconnect."""
        self._stop.set()
        for reader in self._readers:
            reader.join(timeout)
        self._loop.join(timeout)
        self.forwarder.join(timeout)
        finals = [self._status(ComponentKind.DEVICE, d, StatusState.STOPPED) for d in self._devices]
        finals.append(self._status(ComponentKind.EDGE, self._edge.id, StatusState.STOPPED))
        self._mqtt.stop(finals, timeout)
        log.info(
            "edge stopped",
            extra={
                "edge_id": self._edge.id,
                "buffered": self.stats.readings_buffered,
                "pending": self.buffer.pending,
            },
        )
        self.buffer.close()

    def _on_published(self, mid: int, accepted: bool) -> None:
        self.forwarder.on_published(mid, accepted)

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until the broker connection is up."""
        return self._mqtt.wait_connected(timeout)

    def _run(self) -> None:
        next_status = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + self._settings.edge.status_interval_s
                self._publish_statuses()
            try:
                event = self._events.get(timeout=0.2)
            except queue.Empty:
                continue
            self._handle(event)

    def _publish_statuses(self) -> None:
        """Periodic, retained: the edge with its buffer, each device with when it was heard."""
        if not self._mqtt.connected.is_set():
            return
        self._publish(
            self._status(
                ComponentKind.EDGE,
                self._edge.id,
                StatusState.ONLINE,
                buffer_pending=self.buffer.pending,
                buffer_capacity=self.buffer.capacity,
                buffer_dropped=self.buffer.dropped,
                clock_jumps=self.stats.clock_jumps,
            )
        )
        for device_id, device in self._devices.items():
            if device.kind == "card-reader" and device_id in self._ports_open:
                # A card reader speaks only when a card is swiped: its open port is its pulse.
                self._last_seen[device_id] = utc_now()
            if device_id not in self._last_seen:
                continue  # never heard: saying "online" would make the gateway think it was
            self._publish(
                self._status(
                    ComponentKind.DEVICE,
                    device_id,
                    StatusState.ONLINE,
                    battery_pct=self._battery.get(device_id),
                    last_seen=self._last_seen.get(device_id),
                )
            )

    def _handle(self, event: SerialEvent) -> None:
        if isinstance(event, RejectEvent):
            self._reject(event)
        elif isinstance(event, PortEvent):
            (self._ports_open.add if event.up else self._ports_open.discard)(event.device_id)
            state = StatusState.ONLINE if event.up else StatusState.STOPPED
            self._publish(self._status(ComponentKind.DEVICE, event.device_id, state, event.detail))
        else:
            self.stats.frames += 1
            self._last_seen[event.device_id] = utc_now()
            self._frame(event)

    def _frame(self, event: FrameEvent) -> None:
        frame = event.frame
        if isinstance(frame, CardSwipe):
            self.stats.swipes += 1
            self._pairer.swipe(frame.card_id, event.monotonic)
        elif isinstance(frame, HandheldReading):
            self._reading(event, frame)
        elif isinstance(frame, Heartbeat) and self._battery.get(event.device_id) != (
            frame.battery_pct
        ):
            self._battery[event.device_id] = frame.battery_pct
            detail = "low battery" if frame.low_battery else None
            self._publish(
                self._status(
                    ComponentKind.DEVICE,
                    event.device_id,
                    StatusState.ONLINE,
                    detail,
                    battery_pct=frame.battery_pct,
                    last_seen=self._last_seen.get(event.device_id),
                )
            )

    def _reading(self, event: FrameEvent, frame: HandheldReading) -> None:
        device_id = event.device_id
        if self.buffer.seen(device_id, event.raw):
            self.stats.resends_dropped += 1  # stored before; our answer was lost
            self._acknowledge(device_id, frame.dseq)
            return
        device = self._devices[device_id]
        card = self._pairer.reading(event.monotonic)
        ts = self._stamp(device_id)
        stored = self.buffer.append(
            device_id,
            lambda seq: Reading(
                device_id=device_id,
                seq=seq,
                ts=ts,
                temp_c=frame.temp_c,
                error=frame.error,
                site=frame.site,
                device_kind=device.wire_kind or DeviceKind.HANDHELD,
                placement=device.placement,
                building=self._edge.building,
                entrance=self._edge.entrance,
                person_id=pseudonymous_id(card, self._key) if card else None,
                battery_pct=frame.battery_pct,
                edge_id=self._edge.id,
            ),
            frame=event.raw,
        )
        self._acknowledge(device_id, frame.dseq)
        if stored is not None:
            self.stats.readings_buffered += 1
            self.forwarder.wake()

    def _acknowledge(self, device_id: str, dseq: int) -> None:
        """Tell the handheld its reading is on disk, so it can forget it."""
        reader = self._readers_by_device.get(device_id)
        if reader is not None:
            reader.send(encode_ack(ReadingAck(dseq)))

    def _stamp(self, device_id: str) -> dt.datetime:
        """UTC now, strictly after this device's previous reading (ms precision).

        Frames that arrive in one read (a burst after a stall) would otherwise share a
        millisecond, and databases that keep milliseconds only would merge them.
        """
        now = utc_now()
        if self._clock.jumped():
            self.stats.clock_jumps += 1
            self._last_ts.clear()  # a jump back is real time now, not a reason to freeze
        last = self._last_ts.get(device_id)
        if last is not None and now <= last:
            now = last + dt.timedelta(milliseconds=1)
        self._last_ts[device_id] = now
        return now

    def _reject(self, event: RejectEvent) -> None:
        self.stats.rejected[event.reason] += 1
        log.warning(
            "serial frame refused",
            extra={
                "device_id": event.device_id,
                "reason": event.reason,
                "raw": event.raw[:80].hex(),
            },
        )
        letter = dead_letter(self._edge.id, event.reason, f"serial:{event.device_id}", event.raw)
        self._mqtt.publish(deadletter_topic(self._edge.id), encode(letter), qos=1)

    def _publish(self, publication: Publication) -> None:
        self._mqtt.publish(
            publication.topic, publication.payload, publication.qos, publication.retain
        )

    def _status(
        self,
        component: ComponentKind,
        component_id: str,
        state: StatusState,
        detail: str | None = None,
        **fields: object,
    ) -> Publication:
        status = Status.model_validate(
            {
                "component": component,
                "id": component_id,
                "state": state,
                "ts": utc_now(),
                "detail": detail,
                **fields,
            }
        )
        return Publication(status_topic(component, component_id), encode(status), 1, True)


def run_edge(settings: Settings, edge_id: str, stop: threading.Event) -> EdgeStats:
    """Run one edge agent until ``stop`` is set (the ``thermogate edge`` command)."""
    agent = EdgeAgent(settings, edge_id)
    agent.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        agent.stop()
    return agent.stats
