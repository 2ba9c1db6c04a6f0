"""Signed, expiring links in notifications: acknowledge an alert, or open it, without a login.

A token is a JWT (HS256, key ``alerts.link_secret``) naming the alert, the action and the
contact it was sent to, with an expiry. The expiry is checked against the injected clock, not
the machine's, so tests need no sleeping. A token is good for its one alert and one action:
an ``open`` token cannot acknowledge, and a token for alert 7 says nothing about alert 8.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import quote

import jwt

from thermogate.config import DEVELOPMENT_LINK_SECRET, ConfigError, Settings

ALGORITHM: Final = "HS256"
ISSUER: Final = "thermogate-alerts"

Clock = Callable[[], dt.datetime]


class LinkAction(StrEnum):
    """What a link lets its holder do."""

    ACK = "ack"
    OPEN = "open"


class LinkError(Exception):
    """A link that cannot be honoured; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a valid token grants."""

    alert_id: int
    action: LinkAction
    contact_id: str
    expires_at: dt.datetime


class LinkSigner:
    """Makes and checks link tokens and builds the URLs the notifications carry."""

    def __init__(self, secret: str, ttl: dt.timedelta, base_url: str, clock: Clock) -> None:
        if not secret:
            raise ValueError("an empty link secret would let anyone forge links")
        self._secret = secret
        self._ttl = ttl
        self._base_url = base_url.rstrip("/")
        self._clock = clock

    def token(self, alert_id: int, action: LinkAction, contact_id: str) -> str:
        """A token for one alert and action, expiring ``ttl`` from now."""
        now = self._clock()
        claims = {
            "iss": ISSUER,
            "alert": alert_id,
            "act": action.value,
            "sub": contact_id,
            "iat": int(now.timestamp()),
            "exp": int((now + self._ttl).timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def url(self, alert_id: int, action: LinkAction, contact_id: str) -> str:
        """``<base>/alerts/<id>/ack-link?token=...`` (or ``open-link``)."""
        token = quote(self.token(alert_id, action, contact_id), safe="")
        return f"{self._base_url}/alerts/{alert_id}/{action.value}-link?token={token}"

    def verify(self, token: str, alert_id: int, action: LinkAction) -> LinkClaims:
        """The claims of a good token for this alert and action; else :class:`LinkError`.

        Tampered or foreign tokens give 403, expired ones 410 (the link worked once).
        """
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"verify_exp": False, "require": ["exp", "alert", "act", "sub"]},
            )
        except jwt.InvalidTokenError:
            raise LinkError(
                403, "This link is not valid: it was altered or not issued here."
            ) from None
        if claims["alert"] != alert_id or claims["act"] != action.value:
            raise LinkError(403, "This link is for another alert or another action.")
        expires_at = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
        if self._clock() >= expires_at:
            raise LinkError(410, "This link has expired. Open the alert list to act on it.")
        return LinkClaims(alert_id, action, str(claims["sub"]), expires_at)


def signer_from_settings(settings: Settings, clock: Clock) -> LinkSigner:
    """The signer of ``settings.alerts``; refuses the development secret in production.

    Checked here, where links are made, rather than for every process: only the process
    running the lifecycle (the records service) holds the link secret.
    """
    alerts = settings.alerts
    secret = alerts.link_secret.get_secret_value()
    if settings.environment == "production" and secret == DEVELOPMENT_LINK_SECRET:
        raise ConfigError(
            [
                "alerts.link_secret must be set to a secret outside development "
                "(THERMOGATE_ALERTS__LINK_SECRET)"
            ]
        )
    return LinkSigner(
        secret, dt.timedelta(minutes=alerts.link_ttl_minutes), alerts.public_base_url, clock
    )
