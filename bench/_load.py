"""Offered load for the end-to-end benchmarks: rate-paced paho publisher processes.

Readings are handheld forehead readings at a door (the identity calibration, so the displayed
value is the one the fever rule compares). Every publisher process has its own devices, every
device its own strictly increasing ``seq`` and millisecond timestamp, so each reading is one
distinct sample in VictoriaMetrics (which keeps one sample per series and millisecond) and a
redelivery could never inflate a count. Each step has its own entrance, so its readings are
counted on their own; each publisher of a step is a building of its own (a device is judged
against its peers in its building, and a real building has tens of devices, not thousands).
Processes are spawned (never forked), so none inherits a paho thread.

People: 90 % of readings name a pseudonymous person. A normal reading names one of ``persons``
people; a suspicious one (38.0 °C) one of the febrile few (``persons`` x ``suspicious``), since
fevers belong to a few people who are then read again (so open re-checks stay as few as in
life); a very high one (41.0 °C) names nobody, so its ``fever`` alert carries its own reading id.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import multiprocessing as mp
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import MosquittoServer

from thermogate.contract.topics import readings_topic

SPAWN: Final = mp.get_context("spawn")
READY_TIMEOUT_S: Final = 60.0
GIVE_UP_S: Final = 600.0
"""A publisher stops this long after its schedule ends, done or not (a broker gone)."""
NORMAL_C: Final = tuple(36.0 + tenth / 10 for tenth in range(13))
"""Normal displayed values, cycled per device so no device repeats one (a stuck sensor)."""
SUSPICIOUS_C: Final = 38.0  # at or above the threshold, below engine.very_high_c: a re-check
VERY_HIGH_C: Final = 41.0  # at or above engine.very_high_c: a `fever` alert at once
PERSONS: Final = 50_000
"""People whose readings flow by default: a large campus."""


@dataclasses.dataclass(frozen=True, slots=True)
class Load:
    """What one step offers: ``rate`` messages/s (None: as fast as the broker acknowledges)
    for ``messages`` messages of ``batch`` readings each, spread over ``publishers`` processes
    of ``devices`` devices each, all at the entrance ``entrance``."""

    entrance: str
    messages: int
    batch: int = 1
    rate: float | None = None
    publishers: int = 4
    devices: int = 50
    persons: int = PERSONS
    identified: float = 0.9
    suspicious: float = 0.01
    very_high: float = 0.0
    live_ts: bool = False
    inflight: int = 1000

    @property
    def readings(self) -> int:
        """Readings in the whole step."""
        return self.messages * self.batch


@dataclasses.dataclass(frozen=True, slots=True)
class _Share:
    """One publisher's part of a :class:`Load`."""

    load: Load
    index: int
    host: str
    port: int
    messages: int
    rate: float | None
    ts_base_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class PublisherResult:
    """What one publisher did (times are ``time.time()``)."""

    index: int
    sent: int
    acked: int
    last_publish: float
    last_ack: float
    behind_max_s: float
    """The furthest the publisher fell behind its schedule: its window of unacknowledged
    messages was full (the broker did not take the offered rate), or it got no CPU."""
    very_high_ids: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class LoadResult:
    """What every publisher of a step did."""

    started: float
    scheduled_end: float
    publishers: tuple[PublisherResult, ...]

    @property
    def acked(self) -> int:
        """Messages the broker acknowledged."""
        return sum(p.acked for p in self.publishers)

    @property
    def last_ack(self) -> float:
        """When the broker acknowledged the last message."""
        return max(p.last_ack for p in self.publishers)

    @property
    def behind_max_s(self) -> float:
        """The furthest any publisher fell behind its schedule."""
        return max(p.behind_max_s for p in self.publishers)

    @property
    def very_high_ids(self) -> set[str]:
        """Reading ids of every very high reading sent."""
        return {rid for p in self.publishers for rid in p.very_high_ids}


def mqtt_client(client_id: str) -> paho.Client:
    """A paho MQTT 5 client with an unbounded outgoing queue."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id, protocol=paho.MQTTv5)
    client.max_queued_messages_set(0)
    return client


def _ts_text(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class _Readings:
    """Builds one publisher's messages: devices in turn, each with its own seq and clock."""

    def __init__(self, share: _Share) -> None:
        load = share.load
        self.load = load
        self.building = f"{load.entrance}-p{share.index}"
        self.devices = [f"{self.building}-d{j:03d}" for j in range(load.devices)]
        self.topics = [readings_topic(self.building, load.entrance, d) for d in self.devices]
        self.seq = [0] * load.devices
        self.last_ms = [0] * load.devices
        self.ts_base_ms = share.ts_base_ms
        self.rng = random.Random(f"{load.entrance}:{share.index}")
        self.very_high_ids: list[str] = []
        self.febrile = max(1, round(load.persons * load.suspicious))

    def message(self, index: int) -> tuple[str, bytes]:
        """The ``index``-th message: one reading, or a batch of one device's readings."""
        device = index % len(self.devices)
        readings = [self._reading(device) for _ in range(self.load.batch)]
        if self.load.batch == 1:
            return self.topics[device], orjson.dumps(readings[0])
        return self.topics[device], orjson.dumps({"v": 1, "readings": readings})

    def _reading(self, device: int) -> dict[str, object]:
        load, rng = self.load, self.rng
        self.seq[device] += 1
        seq = self.seq[device]
        if load.live_ts:  # the wall clock at publish, strictly increasing per device
            ms = max(time.time_ns() // 1_000_000, self.last_ms[device] + 1)
        else:  # a recorded past, one millisecond per reading of a device
            ms = self.ts_base_ms + seq
        self.last_ms[device] = ms
        draw = rng.random()
        person: str | None = None
        identified = load.persons > 0 and rng.random() < load.identified
        if draw < load.very_high:  # unidentified, so its `fever` names this very reading
            temp = VERY_HIGH_C
            self.very_high_ids.append(f"{self.devices[device]}:{seq}")
        elif draw < load.very_high + load.suspicious:
            temp = SUSPICIOUS_C
            if identified:
                person = f"p-f{rng.randrange(self.febrile):015x}"
        else:
            temp = NORMAL_C[(seq + device) % len(NORMAL_C)]
            if identified:
                person = f"p-{rng.randrange(load.persons):016x}"
        reading: dict[str, object] = {
            "v": 1,
            "device_id": self.devices[device],
            "seq": seq,
            "ts": _ts_text(ms),
            "temp_c": temp,
            "site": "forehead",
            "device_kind": "handheld",
            "placement": "door",
            "building": self.building,
            "entrance": load.entrance,
        }
        if person is not None:
            reading["person_id"] = person
        return reading


def _publisher_main(share: _Share, ready: Any, go: Any, start_at: Any, acked: Any) -> None:
    """One publisher process: connect, wait for the common start, publish on schedule."""
    parent = os.getppid()  # an orphan stops (the benchmark was killed)
    builder = _Readings(share)
    client = mqtt_client(f"bench-pub-{share.load.entrance}-{share.index}")
    client.max_inflight_messages_set(share.load.inflight)
    state = {"acks": 0, "last_ack": 0.0}

    def on_publish(_c: paho.Client, _u: object, _mid: int, _rc: object, _p: object) -> None:
        state["acks"] += 1
        state["last_ack"] = time.time()
        acked[share.index] = state["acks"]

    client.on_publish = on_publish
    client.connect(share.host, share.port)
    client.loop_start()
    ready.put(share.index)
    if not go.wait(READY_TIMEOUT_S):
        client.loop_stop()
        return
    began = float(start_at.value)
    time.sleep(max(0.0, began - time.time()))
    window = 2 * share.load.inflight
    give_up = began + (share.messages / share.rate if share.rate else 0.0) + GIVE_UP_S
    sent, behind_max = 0, 0.0
    while sent < share.messages and time.time() < give_up and os.getppid() == parent:
        now = time.time()
        due = share.messages
        if share.rate is not None:
            due = min(share.messages, int((now - began) * share.rate) + 1)
            # How late this publisher is (window of unacknowledged messages full, or no CPU).
            behind_max = max(behind_max, (due - 1 - sent) / share.rate)
        while sent < due and sent - state["acks"] < window:
            topic, payload = builder.message(sent)
            client.publish(topic, payload, qos=1)
            sent += 1
        time.sleep(0.001 if sent < due else 0.002)
    last_publish = time.time()
    deadline = time.monotonic() + GIVE_UP_S
    while state["acks"] < sent and time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.005)
    client.disconnect()
    client.loop_stop()
    ready.put(
        PublisherResult(
            index=share.index,
            sent=sent,
            acked=int(state["acks"]),
            last_publish=last_publish,
            last_ack=float(state["last_ack"]),
            behind_max_s=behind_max,
            very_high_ids=tuple(builder.very_high_ids),
        )
    )


class Publishers:
    """Runs a :class:`Load` on a broker from several processes; :meth:`acked` is live."""

    def __init__(self, load: Load, broker: MosquittoServer, start_delay_s: float = 0.5) -> None:
        self.load = load
        self.broker = broker
        self.start_delay_s = start_delay_s
        self._acked: Any = SPAWN.RawArray("q", load.publishers)
        self._queue: Any = SPAWN.Queue()
        self._go: Any = SPAWN.Event()
        self._start_at: Any = SPAWN.RawValue("d", 0.0)
        self._processes: list[Any] = []
        self.started = 0.0
        self.scheduled_end = 0.0

    def acked(self) -> int:
        """Messages the broker has acknowledged so far, all publishers together."""
        return int(sum(self._acked[:]))

    def start(self) -> None:
        """Start the processes, wait until each is connected, then release them together."""
        load = self.load
        base_ms = time.time_ns() // 1_000_000 - 3_600_000
        per, extra = divmod(load.messages, load.publishers)
        for index in range(load.publishers):
            messages = per + (1 if index < extra else 0)
            rate = None if load.rate is None else load.rate * messages / load.messages
            share = _Share(load, index, self.broker.host, self.broker.port, messages, rate, base_ms)
            process = SPAWN.Process(
                target=_publisher_main,
                args=(share, self._queue, self._go, self._start_at, self._acked),
                daemon=True,
            )
            process.start()
            self._processes.append(process)
        for _ in range(load.publishers):
            self._queue.get(timeout=READY_TIMEOUT_S)
        self.started = time.time() + self.start_delay_s
        duration = 0.0 if load.rate is None else load.messages / load.rate
        self.scheduled_end = self.started + duration
        self._start_at.value = self.started
        self._go.set()

    def finish(self, timeout_s: float = 600.0) -> LoadResult:
        """Wait for every publisher's report."""
        results = [self._queue.get(timeout=timeout_s) for _ in self._processes]
        for process in self._processes:
            process.join(10.0)
        return LoadResult(
            self.started, self.scheduled_end, tuple(sorted(results, key=lambda r: r.index))
        )

    def close(self) -> None:
        """Stop whatever still runs (after an error)."""
        for process in self._processes:
            if process.is_alive():
                process.kill()
            process.join(5.0)


@contextlib.contextmanager
def publishing(load: Load, broker: MosquittoServer) -> Iterator[Publishers]:
    """Started :class:`Publishers`, always cleaned up."""
    publishers = Publishers(load, broker)
    try:
        publishers.start()
        yield publishers
    finally:
        publishers.close()
