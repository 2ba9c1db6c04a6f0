"""Engine state shared between gateway instances through the broker.

With MQTT v5 shared subscriptions the broker hands each message to one instance of a group,
round robin, so the readings of one person reach any instance. Each instance therefore
publishes what a batch changed in the per-person state (:class:`EngineDelta`: re-checks
opened and closed, decisions the protocol made, personal baseline windows) on
``thermogate/v1/engine/<group>/<gateway id>`` before it acknowledges the batch, and applies
what the others publish (their own subscription, not shared, in a persistent session, so a
restarted instance receives what it missed). docs/scaling.md argues why this is correct for
the protocol's time scales.

Merging is order-tolerant: a re-check is closed only if the open one is the one that was
closed (by reading id), an older opening never replaces a newer one, a closed re-check is not
reopened by a late copy of its opening, and baseline windows are merged by reading time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from thermogate.gateway.engine.state import OpenRecheckRow

History = tuple[int, list[float], list[int]]
"""A baseline window: newest included time, values, and the time of each (ascending)."""


@dataclass(slots=True)
class EngineDelta:
    """What changed in one instance's engine since its last delta."""

    opened: dict[str, OpenRecheckRow] = field(default_factory=dict)
    closed: dict[str, str] = field(default_factory=dict)
    """person -> the reading id of the re-check that was closed."""
    decided: dict[str, tuple[int, int]] = field(default_factory=dict)
    histories: dict[str, History] = field(default_factory=dict)
    """``p:<person key>`` or ``d:<device>`` -> its window."""
    watermark_ms: int = 0

    def __bool__(self) -> bool:
        return bool(self.opened or self.closed or self.decided or self.histories)

    def merge(self, later: EngineDelta) -> None:
        """Fold a later change into this one (what both together changed)."""
        for person, row in later.opened.items():
            self.opened[person] = row
            self.closed.pop(person, None)
        for person, rid in later.closed.items():
            self.opened.pop(person, None)
            self.closed[person] = rid
        self.decided.update(later.decided)
        self.histories.update(later.histories)
        self.watermark_ms = max(self.watermark_ms, later.watermark_ms)

    def to_bytes(self) -> bytes:
        """The delta as JSON."""
        return orjson.dumps(
            {
                "v": 1,
                "opened": {
                    person: [r.reading_id, r.device_id, r.ts_ms, r.adjusted_c, r.threshold_c]
                    for person, r in self.opened.items()
                },
                "closed": self.closed,
                "decided": {rid: list(pair) for rid, pair in self.decided.items()},
                "histories": {key: list(h) for key, h in self.histories.items()},
                "watermark_ms": self.watermark_ms,
            }
        )

    @classmethod
    def from_bytes(cls, payload: bytes) -> EngineDelta:
        """Parse a delta; raises ValueError on anything not shaped like one."""
        try:
            doc: Any = orjson.loads(payload)
            if doc.get("v") != 1:
                raise ValueError(f"unsupported engine delta version {doc.get('v')!r}")
            return cls(
                opened={
                    str(person): OpenRecheckRow(
                        str(row[0]), str(row[1]), int(row[2]), float(row[3]), float(row[4])
                    )
                    for person, row in doc["opened"].items()
                },
                closed={str(p): str(rid) for p, rid in doc["closed"].items()},
                decided={str(r): (int(d[0]), int(d[1])) for r, d in doc["decided"].items()},
                histories={
                    str(key): (int(h[0]), [float(v) for v in h[1]], [int(t) for t in h[2]])
                    for key, h in doc["histories"].items()
                },
                watermark_ms=int(doc["watermark_ms"]),
            )
        except (orjson.JSONDecodeError, AttributeError, KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"not an engine delta: {exc}") from None


def merge_windows(mine: History | None, theirs: History, window: int) -> History:
    """Both windows' readings, by time, without repeats, the newest ``window`` kept."""
    if mine is None:
        return theirs
    by_time = dict(zip(mine[2], mine[1], strict=True))
    by_time.update(zip(theirs[2], theirs[1], strict=True))
    times = sorted(by_time)[-window:]
    return max(mine[0], theirs[0]), [by_time[t] for t in times], times
