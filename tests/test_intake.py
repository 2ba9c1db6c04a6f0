"""The gateway's intake is bounded in bytes as well as messages: a batch never holds much more
than ``batch_max_bytes``, and the receive path waits (briefly) while the queue is full."""

from __future__ import annotations

import threading

import paho.mqtt.client as paho

from thermogate.gateway.intake import Intake


def message(mid: int, size: int) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(mid=mid, topic=b"thermogate/v1/readings/b/e/d")
    msg.payload = b"x" * size
    msg.qos = 1
    return msg


def test_batches_stop_at_the_byte_bound_and_free_the_room():
    intake = Intake(100, epoch=lambda: 1, max_bytes=10_000)
    for mid in range(10):
        intake.on_message(message(mid, 100))
    assert intake.queued_bytes == 1000
    batch = intake.take_batch(100, 0.01, max_bytes=250)
    assert [e.mid for e in batch] == [0, 1, 2]  # the one that reaches the bound is the last
    assert intake.queued_bytes == 700
    rest = intake.take_batch(100, 0.01, max_bytes=10_000)
    assert [e.mid for e in rest] == list(range(3, 10))
    assert intake.queued_bytes == 0


def test_the_receive_path_waits_while_the_queue_is_full_of_bytes():
    intake = Intake(100, epoch=lambda: 1, max_bytes=300)
    for mid in range(3):
        intake.on_message(message(mid, 100))
    arrived = threading.Event()

    def receive() -> None:
        intake.on_message(message(3, 100))
        arrived.set()

    thread = threading.Thread(target=receive)
    thread.start()
    assert not arrived.wait(0.1)  # full: the network thread waits
    assert [e.mid for e in intake.take_batch(1, 0.01)] == [0]
    assert arrived.wait(1.0)  # room again: it goes on at once
    thread.join()
    assert [e.mid for e in intake.take_batch(10, 0.01)] == [1, 2, 3]


def test_a_full_queue_never_stops_the_receive_path_for_long():
    intake = Intake(100, epoch=lambda: 1, max_bytes=100)
    intake.on_message(message(0, 100))
    intake.on_message(message(1, 100))  # waits at most ROOM_WAIT_S, then takes it anyway
    assert intake.queued_bytes == 200
    assert [e.mid for e in intake.take_batch(10, 0.01, max_bytes=1000)] == [0, 1]
