"""Short-lived access tokens: HS256 JWTs carrying the user name and role."""

from __future__ import annotations

import datetime as dt

import jwt

ALGORITHM = "HS256"
ISSUER = "thermogate-records"


class TokenError(Exception):
    """The token is missing, malformed, badly signed or expired."""


def issue_token(username: str, secret: str, now: dt.datetime, minutes: int) -> str:
    """A token for ``username`` valid for ``minutes`` from ``now``."""
    claims = {
        "sub": username,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(minutes=minutes)).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def subject_of(token: str, secret: str, now: dt.datetime) -> str:
    """The user name a valid token was issued to; :class:`TokenError` otherwise.

    Expiry is checked against ``now`` (the app's clock), not the system clock, so tests can
    move time instead of sleeping; the issue time is not compared with the system clock either.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from None
    if not isinstance(claims["exp"], int) or claims["exp"] <= now.timestamp():
        raise TokenError("token expired")
    subject = claims["sub"]
    if not isinstance(subject, str):
        raise TokenError("bad subject")
    return subject
