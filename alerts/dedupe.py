"""A bounded memory of recently seen ids: the in-process fast path before the outbox."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Final

DEFAULT_CAPACITY: Final = 100_000
"""About 10 MB of ids; far more alerts than a campus raises between two restarts."""


class RecentIds:
    """Remembers the last ``capacity`` ids, least recently seen evicted first (thread-safe)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        """Record ``key``; True when it is new, False when it was already remembered."""
        with self._lock:
            if key in self._ids:
                self._ids.move_to_end(key)
                return False
            self._ids[key] = None
            if len(self._ids) > self._capacity:
                self._ids.popitem(last=False)
            return True

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._ids

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)
