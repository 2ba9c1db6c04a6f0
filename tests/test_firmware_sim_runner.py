"""A building's simulation on real ptys: what its counters claim is what a serial reader gets."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from test_firmware_sim_devices import BackgroundReader

from thermogate.config import BuildingSettings, DeviceSettings, Settings
from thermogate.contract.device_frames import CardSwipe, HandheldReading, Heartbeat
from thermogate.contract.topics import READINGS_FILTER
from thermogate.firmware_sim.kiosk import KioskRunner
from thermogate.firmware_sim.runner import BuildingSimulation, create_ports
from thermogate.firmware_sim.scenario import ScenarioConfig, Target, Weather


def _settings(kiosk: bool = False, mqtt=None) -> Settings:
    devices = [
        DeviceSettings(id="hh-w2-main-1", kind="handheld", building="wenyuan-2", entrance="main"),
        DeviceSettings(
            id="cr-w2-main-1", kind="card-reader", building="wenyuan-2", entrance="main"
        ),
        DeviceSettings(id="hh-w2-north-1", kind="handheld", building="wenyuan-2", entrance="north"),
        DeviceSettings(
            id="cr-w2-north-1", kind="card-reader", building="wenyuan-2", entrance="north"
        ),
        DeviceSettings(id="hh-w3-main-1", kind="handheld", building="wenyuan-3", entrance="main"),
    ]
    if kiosk:
        devices.append(
            DeviceSettings(id="kiosk-w2-main", kind="kiosk", building="wenyuan-2", entrance="main")
        )
    extra = {"mqtt": mqtt} if mqtt is not None else {}
    return Settings(
        buildings=[
            BuildingSettings(
                id="wenyuan-2", name="Wenyuan Building 2", entrances=["main", "north"]
            ),
            BuildingSettings(id="wenyuan-3", name="Wenyuan Building 3", entrances=["main"]),
        ],
        devices=devices,
        **extra,
    )


# A mild evening indoors-outdoors gap, so that some fevers show at the door.
MILD = ScenarioConfig(weather=Weather.constant(12.0, hall_c=22.0))


@pytest.fixture
def ports(tmp_path):
    created = create_ports(_settings(), "wenyuan-2", tmp_path / "dev")
    yield created
    for port in created.values():
        port.close()


def _ends_with_heartbeat(reader) -> bool:
    with reader.lock:
        return bool(reader.frames) and isinstance(reader.frames[-1], Heartbeat)


def _run(settings, ports, seed=1, **kw):
    readers = {device: BackgroundReader(port.device) for device, port in ports.items()}
    for reader in readers.values():
        reader.start()
    seen = []
    simulation = BuildingSimulation(
        settings,
        "wenyuan-2",
        ports,
        kw.pop("kiosk", None),
        rate_per_s=60.0,
        fever_rate=kw.pop("fever_rate", 0.3),
        malformed_every=kw.pop("malformed_every", 5),
        max_passages=kw.pop("max_passages", 60),
        seed=seed,
        speed=25.0,
        heartbeat_every_s=0.3,
        scenario=MILD,
        on_passage=lambda p, ok: seen.append((p, ok)),
        **kw,
    )
    simulation.start()
    try:
        assert simulation.finished.wait(15)
        assert simulation.join(2)
        counters = simulation.counters
        # Let the readers drain the lines: a final heartbeat marks the end of each.
        for device in ("hh-w2-main-1", "hh-w2-north-1"):
            assert simulation.handhelds[device].heartbeat()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(
            _ends_with_heartbeat(r.reader) for d, r in readers.items() if d.startswith("hh-")
        ):
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        for reader in readers.values():
            reader.stop()
    return counters, {d: r.reader for d, r in readers.items()}, seen


def test_create_ports_links_every_serial_device_of_the_building(ports, tmp_path):
    assert sorted(ports) == ["cr-w2-main-1", "cr-w2-north-1", "hh-w2-main-1", "hh-w2-north-1"]
    for device, port in ports.items():
        link = tmp_path / "dev" / device
        assert port.device == str(link)
        assert link.resolve() == Path(port.path).resolve()


def test_counters_match_the_frames_a_serial_reader_gets(ports):
    counters, readers, seen = _run(_settings(), ports)
    hh = [readers["hh-w2-main-1"], readers["hh-w2-north-1"]]
    cr = [readers["cr-w2-main-1"], readers["cr-w2-north-1"]]
    readings = [f for r in hh for f in r.frames if isinstance(f, HandheldReading)]
    assert counters.passages == 60 == len(seen)
    assert counters.readings_sent == len(readings) == 60  # every passage is a handheld reading
    assert counters.error_readings == sum(r.error is not None for r in readings)
    assert counters.fevers_sent == sum(r.temp_c is not None and r.temp_c >= 37.3 for r in readings)
    assert counters.fevers_sent > 0
    assert counters.malformed_sent == 12  # every 5th passage
    assert sum(len(r.refusals) for r in hh) == counters.malformed_sent
    assert counters.swipes == sum(isinstance(f, CardSwipe) for r in cr for f in r.frames)
    assert counters.heartbeats + 2 == sum(isinstance(f, Heartbeat) for r in hh for f in r.frames)
    assert counters.frames_dropped == 0
    assert sum(counters.per_entrance.values()) == 60
    for entrance, reader in (("main", hh[0]), ("north", hh[1])):
        assert counters.per_entrance[entrance] == sum(
            isinstance(f, HandheldReading) for f in reader.frames
        )
    # The readings shown are the passages' displays, in order, on the right device.
    for device, reader in (("hh-w2-main-1", hh[0]), ("hh-w2-north-1", hh[1])):
        shown = [(f.temp_c, f.error) for f in reader.frames if isinstance(f, HandheldReading)]
        expected = [(p.display.temp_c, p.display.error) for p, _ in seen if p.device_id == device]
        assert shown == expected
    # Each resident's swipe reached the reader of their entrance (strays come on top).
    swiped = [p.card_id for p, _ in seen if p.card_id]
    cards = [f.card_id for r in cr for f in r.frames if isinstance(f, CardSwipe)]
    assert set(swiped) <= set(cards) and len(cards) >= len(swiped)
    assert counters.unidentified == sum(p.card_id is None for p, _ in seen)
    assert counters.truly_febrile == sum(p.truth_febrile for p, _ in seen)


def test_the_same_seed_replays_the_same_passages(ports):
    _, _, first = _run(_settings(), ports, seed=7, max_passages=20, malformed_every=None)
    _, _, second = _run(_settings(), ports, seed=7, max_passages=20, malformed_every=None)
    assert [p for p, _ in first] == [p for p, _ in second]


def test_stop_ends_the_run_within_a_second(ports):
    simulation = BuildingSimulation(
        _settings(),
        "wenyuan-2",
        ports,
        None,
        rate_per_s=0.5,
        fever_rate=0.002,
        malformed_every=None,
        max_passages=None,
        seed=3,
    )
    simulation.start()
    time.sleep(0.3)
    started = time.monotonic()
    simulation.stop()
    assert simulation.join(1.0)
    assert time.monotonic() - started < 1.0
    assert simulation.finished.is_set()


def test_a_building_without_handhelds_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no handheld"):
        BuildingSimulation(_settings(), "wenyuan-3", {}, None, 1.0, 0.0, None, 1, 0)


def test_lobby_passages_go_through_the_kiosk(mosquitto, ports, tmp_path):
    settings = _settings(kiosk=True, mqtt=mosquitto.mqtt_settings())
    received: list[dict] = []
    watcher = paho.Client(CallbackAPIVersion.VERSION2, client_id="runner-test-watch")
    watcher.on_connect = lambda c, *_: c.subscribe(READINGS_FILTER, 1)
    watcher.on_message = lambda _c, _u, m: received.append(orjson.loads(m.payload))
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.loop_start()
    kiosk = KioskRunner.from_settings(settings, "kiosk-w2-main", tmp_path / "state")
    try:
        assert kiosk.start(wait_connected_s=10)
        time.sleep(0.3)  # the watcher's subscription is in place
        counters, _, seen = _run(settings, ports, kiosk=kiosk, max_passages=80)
        assert counters.kiosk_readings == sum(p.target is Target.KIOSK for p, _ in seen) > 0
        assert counters.readings_sent + counters.kiosk_readings == 80
        assert kiosk.wait_published(counters.kiosk_readings, 10)
        deadline = time.monotonic() + 5
        while len(received) < counters.kiosk_readings and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        kiosk.stop()
        watcher.disconnect()
        watcher.loop_stop()
    assert len(received) == counters.kiosk_readings
    kiosk_passages = [p for p, _ in seen if p.target is Target.KIOSK]
    assert [r.get("temp_c") for r in received] == [p.display.temp_c for p in kiosk_passages]
    assert [r.get("person_id") for r in received] == [p.person_id for p in kiosk_passages]
    assert counters.kiosk_fevers == sum((r.get("temp_c") or 0) >= 37.3 for r in received)
