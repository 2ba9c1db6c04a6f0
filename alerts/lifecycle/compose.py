"""What one notification says: title, body with signed links, and its idempotency key.

The body is plain text every channel can carry (WeCom and DingTalk bots, e-mail, ntfy, a JSON
webhook's ``message``). Its last line is ``Idempotency-Key: <key>``; channels that take
headers (JSON webhooks, e-mail) also get the key as an ``Idempotency-Key`` header.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from thermogate.alerts.lifecycle.links import LinkAction, LinkSigner
from thermogate.alerts.lifecycle.tables import LifecycleAlert

KEY_HEADER: Final = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A notification's text for one contact."""

    title: str
    body: str


def idempotency_key(alert_id: int, round_no: int, contact_id: str, channel_index: int) -> str:
    """``tg-<alert>-r<round>-<hash of contact and channel>``: the same message, the same key."""
    digest = hashlib.sha256(f"{contact_id}\x00{channel_index}".encode()).hexdigest()[:16]
    return f"tg-{alert_id}-r{round_no}-{digest}"


def render(
    alert: LifecycleAlert, *, purpose: str, step: int, contact_id: str, key: str, links: LinkSigner
) -> Rendered:
    """Title and body of one notification about ``alert`` to ``contact_id``."""
    head = {"raised": "", "escalated": f"[ESCALATION {step}] ", "upgraded": "[UPGRADED] "}
    where = alert.building if alert.entrance is None else f"{alert.building}/{alert.entrance}"
    title = f"{head.get(purpose, '')}{alert.severity.upper()} {alert.kind} · {where} · #{alert.id}"
    if alert.person_id is not None:
        title += f" · person {alert.person_id}"
    lines = [alert.message]
    facts = f"Alert #{alert.id}: {alert.kind}, {alert.severity}, {alert.state}"
    if alert.count > 1:
        facts += f", {alert.count} alerts in this episode"
    if alert.last_temp_c is not None:
        facts += f", latest {alert.last_temp_c:.1f} °C"
    if alert.max_temp_c is not None and alert.count > 1:
        facts += f" (highest {alert.max_temp_c:.1f} °C)"
    facts += f", since {alert.first_at:%Y-%m-%d %H:%M} UTC."
    lines.append(facts)
    if purpose == "escalated":
        lines.append(f"Not acknowledged yet: escalation step {step}.")
    lines.append(f"Acknowledge: {links.url(alert.id, LinkAction.ACK, contact_id)}")
    lines.append(f"Open: {links.url(alert.id, LinkAction.OPEN, contact_id)}")
    lines.append(f"{KEY_HEADER}: {key}")
    return Rendered(title=title, body="\n".join(lines))
