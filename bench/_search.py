"""One measured step (a fixed offered rate for a fixed time) and the search for the highest
rate a consumer sustains with nothing lost, shared by the throughput and latency benchmarks.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from _harness import Consumer
from _load import Load, LoadResult, publishing


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """The figures of one step at one offered rate."""

    consumer: str
    rate: float
    """Offered readings/s."""
    readings: int
    published_rate: float
    """Readings/s the broker acknowledged to the publishers over the step."""
    taken: int
    confirmed: int
    """Readings found where they must arrive (-1: the consumer's own count is exact)."""
    lag_s: float
    """From the scheduled end of the offered load to the last reading taken (inf: never)."""
    backlog_max: int
    backlog_trend: float
    """Trend of the troughs of (acknowledged to publishers - taken) in the step's second half,
    readings/s."""
    behind_s: float
    passed: bool
    why: str
    sent: LoadResult
    """What the publishers did (their reports)."""


def _idle(consumer: Consumer, batch: int, quiet_s: float = 1.0, timeout_s: float = 120.0) -> int:
    """Wait until the consumer has taken nothing new for ``quiet_s`` (a failed step may still
    drain); returns its count."""
    deadline = time.monotonic() + timeout_s
    count = consumer.taken(batch)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        again = consumer.taken(batch)
        if again == count:
            break
        count = again
    return count


def _trough_trend(points: Sequence[tuple[float, float]], bin_s: float = 2.0) -> float:
    """Trend of the backlog's troughs, readings/s: the least each ``bin_s`` holds, fitted.

    A consumer that stores in batches leaves a sawtooth (the backlog climbs while a batch is
    stored, then drops); its troughs rise only when the consumer falls behind for good.
    """
    if len(points) < 2:
        return 0.0
    first, last = points[0][0], points[-1][0]
    bins = max(3, int((last - first) / bin_s))
    width = (last - first) / bins or 1.0
    troughs: dict[int, tuple[float, float]] = {}
    for t, backlog in points:
        index = min(bins - 1, int((t - first) / width))
        if index not in troughs or backlog < troughs[index][1]:
            troughs[index] = (first + (index + 0.5) * width, backlog)
    return _slope(sorted(troughs.values()))


def _slope(points: Sequence[tuple[float, float]]) -> float:
    if len(points) < 3:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_b = sum(b for _, b in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (b - mean_b) for t, b in points) / var


def run_step(
    consumer: Consumer,
    load: Load,
    *,
    grace_s: float,
    drain_timeout_s: float,
    growth_limit: float = 0.02,
    sample_s: float = 0.25,
) -> Step:
    """Offer ``load`` to ``consumer`` through its broker and judge whether it kept up.

    Passed: every reading arrived (counted by the consumer and, for the gateway, in
    VictoriaMetrics), the last one within ``grace_s`` of the scheduled end of the load, and
    the backlog did not keep growing: over the second half of the step, the trend of its
    troughs stayed under ``growth_limit`` of the offered rate per second, or added up to less
    than a quarter second of the load.
    """
    batch = load.batch
    base = _idle(consumer, batch)
    samples: list[tuple[float, float]] = []
    done_at = math.inf
    with publishing(load, consumer.broker) as publishers:
        end = publishers.scheduled_end
        while True:
            now = time.time()
            taken = consumer.taken(batch) - base
            if publishers.started <= now <= end:
                samples.append((now, publishers.acked() * batch - taken))
            if taken >= load.readings:
                done_at = now
                break
            if now > end + drain_timeout_s:
                break
            time.sleep(sample_s)
        result = publishers.finish()
    taken = consumer.taken(batch) - base
    confirmed = consumer.confirm(load) if taken >= load.readings else -1
    duration = max(result.last_ack, end) - result.started
    published_rate = result.acked * batch / duration if duration > 0 else math.inf
    lag = max(0.0, done_at - end)
    settled = publishers.started + max(2.0, 0.5 * (end - publishers.started))
    middle = [p for p in samples if p[0] >= settled]
    trend = _trough_trend(middle)
    growth = trend * (end - settled)  # over the settled part of the step
    rate = load.readings / (end - publishers.started) if end > publishers.started else math.inf
    why = []
    if result.acked < load.messages:
        why.append(f"broker acknowledged {result.acked}/{load.messages} messages")
    if taken < load.readings:
        why.append(f"{load.readings - taken} readings missing after {drain_timeout_s:.0f} s")
    elif taken > load.readings:
        why.append(f"{taken - load.readings} readings too many")
    if confirmed >= 0 and confirmed != load.readings:
        why.append(f"{confirmed} of {load.readings} readings in VictoriaMetrics")
    if lag > grace_s:
        why.append(f"finished {lag:.1f} s after the load (grace {grace_s:.1f} s)")
    if trend > growth_limit * rate and growth > 0.25 * rate:
        why.append(f"backlog grew {trend:,.0f} readings/s")
    if why and result.behind_max_s > grace_s / 2:
        why.append(f"publishers up to {result.behind_max_s:.1f} s late: load not offered on time")
    return Step(
        consumer=consumer.name,
        rate=rate,
        readings=load.readings,
        published_rate=published_rate,
        taken=taken,
        confirmed=confirmed,
        lag_s=lag,
        backlog_max=int(max((b for _, b in samples), default=0)),
        backlog_trend=trend,
        behind_s=result.behind_max_s,
        passed=not why,
        why="; ".join(why) or "kept up, nothing lost",
        sent=result,
    )


class RateSearch:
    """The highest passing rate: ramp by ``factor`` from ``start`` until a step fails (or down
    until one passes), then ``refine`` bisections between the last pass and the first fail."""

    def __init__(
        self, start: float, factor: float, refine: int, max_rate: float, resolution: float
    ) -> None:
        self.next: float | None = start
        self.factor = factor
        self.refine = refine
        self.max_rate = max_rate
        self.resolution = resolution
        self.best: float | None = None
        self.failed: float | None = None

    def record(self, rate: float, passed: bool) -> None:
        """Take a step's verdict and choose the next rate (None: done)."""
        if passed:
            self.best = max(self.best or 0.0, rate)
        else:
            self.failed = rate if self.failed is None else min(self.failed, rate)
        if self.failed is None:  # still ramping up
            upward = self._round(rate * self.factor)
            self.next = upward if upward <= self.max_rate and upward > rate else None
        elif self.best is None:  # ramping down to a first pass
            downward = self._round(rate / self.factor)
            self.next = downward if downward >= self.resolution and downward < rate else None
        elif self.refine > 0 and self.failed - self.best > 2 * self.resolution:
            self.refine -= 1
            self.next = self._round((self.best + self.failed) / 2)
        else:
            self.next = None

    def _round(self, rate: float) -> float:
        return float(max(self.resolution, round(rate / self.resolution) * self.resolution))


def load_for(rate: float, duration_s: float, batch: int, entrance: str, **options: Any) -> Load:
    """A :class:`Load` offering ``rate`` readings/s for ``duration_s`` in messages of ``batch``."""
    messages = max(1, round(rate * duration_s / batch))
    return Load(entrance=entrance, messages=messages, batch=batch, rate=rate / batch, **options)


def print_step(step: Step) -> None:
    """One line per step, as it finishes."""
    lag = "never" if math.isinf(step.lag_s) else f"{step.lag_s:5.2f} s"
    print(
        f"  {step.consumer:<9} {step.rate:>9,.0f}/s offered {step.published_rate:>9,.0f}/s acked"
        f" | {step.taken:>9,} of {step.readings:>9,} taken, last +{lag}"
        f" | backlog max {step.backlog_max:>7,} trend {step.backlog_trend:>+7,.0f}/s"
        f" | publishers late <= {step.behind_s:.2f} s"
        f" | {'PASS' if step.passed else 'FAIL'}: {step.why}",
        flush=True,
    )


def interleave(
    searches: dict[str, RateSearch],
    run: Callable[[str, float, int], Step],
    confirm: int = 0,
) -> list[Step]:
    """Run each search's next step in turn (so background load affects all alike).

    A failed step is run again up to ``confirm`` times, and the rate passes if any run passes:
    on a machine shared with other work, one burst of someone else's load must not end a ramp.
    """
    steps: list[Step] = []
    number = 0
    while any(search.next is not None for search in searches.values()):
        for name, search in searches.items():
            rate = search.next
            if rate is None:
                continue
            for _ in range(1 + confirm):
                number += 1
                step = run(name, rate, number)
                print_step(step)
                steps.append(step)
                if step.passed:
                    break
            search.record(rate, step.passed)
    return steps
