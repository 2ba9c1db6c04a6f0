"""Pseudonymous person ids: what the time series and the wire carry instead of people.

A card id is a direct identifier (the registry links it to a name), so the edge replaces it
with a keyed hash before anything leaves the entrance. Every edge, the gateway and the
records service share the key, so the same card always gives the same id, and without the
key the id cannot be turned back into a card.
"""

from __future__ import annotations

import hashlib
import hmac


def pseudonymous_id(card_id: str, key: bytes) -> str:
    """``p-`` followed by 16 hex digits of HMAC-SHA256(key, card id)."""
    digest = hmac.new(key, card_id.strip().upper().encode("utf-8"), hashlib.sha256).hexdigest()
    return f"p-{digest[:16]}"
