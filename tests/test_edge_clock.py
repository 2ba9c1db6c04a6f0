"""The edge notices its wall clock jumping, and does not mistake time passing for a jump."""

from __future__ import annotations

from thermogate.edge.clock import ClockWatch


class FakeClocks:
    def __init__(self) -> None:
        self.wall = 1_700_000_000.0
        self.mono = 100.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_time_passing_is_not_a_jump_but_a_step_is():
    clocks = FakeClocks()
    watch = ClockWatch(2.0, wall=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    clocks.advance(3600)
    assert not watch.jumped()
    clocks.wall += 1.5  # NTP slews a little: below the threshold
    assert not watch.jumped()
    clocks.wall -= 3600  # an operator sets the clock back an hour
    assert watch.jumped()
    assert not watch.jumped()  # reported once
    clocks.wall += 30
    assert watch.jumped()
