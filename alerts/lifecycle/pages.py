"""The small HTML pages behind the signed links: confirm, done, the alert, and link errors.

Server-rendered with escaping of every value; no script. A link's GET only shows a page (mail
scanners and chat previews fetch links on their own); acknowledging takes the page's POST.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from thermogate.alerts.lifecycle.tables import AlertEvent, LifecycleAlert

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse}td,th{padding:.2rem .6rem;text-align:left;"
    "border-bottom:1px solid #ddd}.critical{color:#b00}.warning{color:#a60}"
    "button{font-size:1.1rem;padding:.5rem 1.2rem}"
)


def page(title: str, body: str) -> str:
    """A whole HTML document."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def summary(alert: LifecycleAlert) -> str:
    """The facts of an alert as a table (pseudonymous person id only)."""
    where = alert.building if alert.entrance is None else f"{alert.building}/{alert.entrance}"
    rows = [
        ("Alert", f"#{alert.id}"),
        ("Kind", alert.kind),
        ("Severity", alert.severity),
        ("State", alert.state),
        ("Where", where),
        ("Device", alert.device_id or alert.edge_id or "—"),
        ("Person", alert.person_id or "not identified"),
        ("Latest", "—" if alert.last_temp_c is None else f"{alert.last_temp_c:.1f} °C"),
        ("Readings", str(alert.count)),
        ("Since", f"{alert.first_at:%Y-%m-%d %H:%M} UTC"),
        ("Message", alert.message),
    ]
    if alert.acknowledged_at is not None:
        rows.append(
            ("Acknowledged", f"{alert.acknowledged_by} at {alert.acknowledged_at:%H:%M} UTC")
        )
    if alert.cleared_at is not None:
        rows.append(("Cleared", f"{alert.cleared_by} at {alert.cleared_at:%H:%M} UTC"))
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="{escape(alert.severity)}">{cells}</table>'


def history(events: Sequence[AlertEvent]) -> str:
    """The alert's events, oldest first."""
    items = "".join(
        f"<li>{e.at:%Y-%m-%d %H:%M:%S} {escape(e.action)}"
        f"{'' if e.actor is None else ' by ' + escape(e.actor)}"
        f"{'' if not e.detail else ': ' + escape(e.detail)}</li>"
        for e in events
    )
    return f"<h2>History</h2><ol>{items}</ol>"


def confirm_ack(alert: LifecycleAlert, token: str) -> str:
    """The acknowledge link's page: the alert and one button (a POST)."""
    form = (
        f'<form method="post" action="/alerts/{alert.id}/ack-link">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<button type="submit">Acknowledge alert #{alert.id}</button></form>'
    )
    return page(f"Acknowledge alert #{alert.id}?", summary(alert) + form)


def acknowledged(alert: LifecycleAlert) -> str:
    """After a link acknowledged (or found the alert already acknowledged or cleared)."""
    text = {
        "acknowledged": "The alert is acknowledged: escalation has stopped.",
        "cleared": "The alert is already cleared.",
    }.get(alert.state, "")
    return page(f"Alert #{alert.id} {alert.state}", f"<p>{escape(text)}</p>" + summary(alert))


def opened(alert: LifecycleAlert, events: Sequence[AlertEvent], ack_token: str) -> str:
    """The open link's page: the alert, its history, and the acknowledge button if raised
    (carrying a fresh acknowledge token for the same contact)."""
    body = summary(alert) + history(events)
    if alert.state == "raised":
        body += (
            f'<form method="post" action="/alerts/{alert.id}/ack-link">'
            f'<input type="hidden" name="token" value="{escape(ack_token)}">'
            f'<button type="submit">Acknowledge</button></form>'
        )
    return page(f"Alert #{alert.id}", body)


def link_error(status: int, reason: str) -> str:
    """A clear page for a link that cannot be honoured (tampered, expired, wrong alert)."""
    title = "Link expired" if status == 410 else "Link not valid"
    return page(title, f"<p>{escape(reason)}</p><p>HTTP {status}</p>")
