"""The key the records service shares with the edge to compute the same pseudonymous ids."""

from __future__ import annotations

from thermogate.config import Settings


def pseudonym_key(settings: Settings) -> bytes:
    """``edge.pseudonym_key`` as bytes: a card hashed here matches the id on its readings."""
    return settings.edge.pseudonym_key.get_secret_value().encode("utf-8")
