"""Build a dead letter from refused bytes: the one way every component does it."""

from __future__ import annotations

import base64

from thermogate.contract.messages import DeadLetter, utc_now


def dead_letter(source: str, reason: str, topic: str, payload: bytes) -> DeadLetter:
    """A :class:`DeadLetter` carrying ``payload`` (base64, and as text when it is UTF-8)."""
    try:
        text: str | None = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return DeadLetter(
        source=source,
        reason=reason,
        topic=topic,
        payload_b64=base64.b64encode(payload).decode("ascii"),
        payload_text=text,
        received_at=utc_now(),
    )
