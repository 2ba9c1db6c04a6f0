"""Push notifications of alerts: what a receiver gets, and the channels that send it.

A push carries a short human ``title`` and, as its ``body``, the alert's wire document (the
very bytes published on MQTT, contract v1). The body's ``alert_id`` is the idempotency key:
a receiver that sees the same id twice drops the second. Through apprise's ``json://`` URL a
receiver gets::

    {"version": "1.0", "title": "CRITICAL fever 38.4 °C ...", "message": "{\\"v\\":1,...}",
     "attachments": [], "type": "failure"}

Transports are table-driven: anything with a loggable ``name`` and a ``send`` returning True
on delivery is a :class:`Channel`. :func:`apprise_channels` builds one per configured URL, all
sharing one :class:`apprise.Apprise` object, so a failed target is retried alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import apprise
from pydantic import SecretStr

from thermogate.config import ConfigError
from thermogate.contract.messages import Alert, Severity, encode

NOTIFY_TYPES: Final[dict[Severity, apprise.NotifyType]] = {
    Severity.INFO: apprise.NotifyType.INFO,
    Severity.WARNING: apprise.NotifyType.WARNING,
    Severity.CRITICAL: apprise.NotifyType.FAILURE,
}
"""How an alert's severity maps onto apprise's notification types (the payload's ``type``)."""

TAG_PREFIX: Final = "thermogate-push-"


@dataclass(frozen=True, slots=True)
class PushNotification:
    """One alert rendered once for every push channel."""

    key: str
    """Idempotency key: the alert id, also inside ``body``."""
    title: str
    body: str
    notify_type: apprise.NotifyType

    @classmethod
    def from_alert(cls, alert: Alert) -> PushNotification:
        """Render an alert: a compact title for humans, the wire document as the body."""
        return cls(
            key=alert.alert_id,
            title=render_title(alert),
            body=encode(alert).decode(),
            notify_type=NOTIFY_TYPES[alert.severity],
        )


def render_title(alert: Alert) -> str:
    """``CRITICAL fever 38.4 °C (threshold 37.3 °C) · wenyuan-2/north · hh-01 · 08:42:10 UTC``."""
    head = f"{alert.severity.value.upper()} {alert.kind.value}"
    if alert.temp_c is not None:
        head += f" {alert.temp_c:.1f} °C"
        if alert.threshold_c is not None:
            head += f" (threshold {alert.threshold_c:.1f} °C)"
    place = alert.building if alert.entrance is None else f"{alert.building}/{alert.entrance}"
    parts = [head, place]
    parts += [part for part in (alert.device_id or alert.edge_id,) if part is not None]
    if alert.person_id is not None:
        parts.append(f"person {alert.person_id}")
    parts.append(alert.ts.strftime("%H:%M:%S UTC"))
    return " · ".join(parts)


class Channel(Protocol):
    """One push target: ``send`` returns True once the target accepted the notification.

    ``send`` may also raise; the dispatcher treats both as a failed attempt and retries.
    """

    @property
    def name(self) -> str:
        """A name safe to log (no secrets)."""
        ...

    def send(self, notification: PushNotification) -> bool:
        """Deliver one notification; True when the target accepted it."""
        ...


class AppriseChannel:
    """One configured apprise URL, reached through the shared :class:`apprise.Apprise`."""

    def __init__(self, notifier: apprise.Apprise, tag: str, name: str) -> None:
        self._notifier = notifier
        self._tag = tag
        self._name = name

    @property
    def name(self) -> str:
        """The URL with its secrets masked by apprise."""
        return self._name

    def send(self, notification: PushNotification) -> bool:
        """Notify only the services added under this channel's tag."""
        result = self._notifier.notify(
            body=notification.body,
            title=notification.title,
            notify_type=notification.notify_type,
            tag=self._tag,
            match_always=False,
        )
        return bool(result)


def apprise_channels(urls: Sequence[SecretStr]) -> list[AppriseChannel]:
    """One channel per configured URL, all in one :class:`apprise.Apprise` object.

    Raises :class:`ConfigError` naming every URL apprise cannot use (never a half-built set).
    """
    notifier = apprise.Apprise()
    channels: list[AppriseChannel] = []
    problems: list[str] = []
    for index, url in enumerate(urls):
        tag = f"{TAG_PREFIX}{index}"
        before = len(notifier)
        raw = url.get_secret_value()
        if not notifier.add(raw, tag=tag) or len(notifier) == before:
            scheme = raw.split("://", 1)[0] if "://" in raw else "?"
            problems.append(
                f"alerts.push_urls[{index}]: apprise cannot use this URL (scheme {scheme!r})"
            )
            continue
        names = [u.split("?", 1)[0] for u in notifier.urls(privacy=True)[before:]]
        channels.append(AppriseChannel(notifier, tag, ", ".join(names)))
    if problems:
        raise ConfigError(problems)
    return channels
