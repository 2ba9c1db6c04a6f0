"""The desk's browser session: the API's short-lived JWT in a cookie, and CSRF tokens.

After logging in, the cookie :data:`SESSION_COOKIE` holds the same access token
``/auth/token`` issues (``records.token_minutes``), HttpOnly and SameSite=Strict, so scripts
cannot read it and other sites cannot send it. Every POST form carries a CSRF token in a
hidden field: an HMAC (key ``records.jwt_secret``) of that session's token, so it is good for
one session only and needs no server-side state. The login form is protected the same way
with a random nonce in :data:`LOGIN_COOKIE`, so another site cannot log a browser in as
someone else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from fastapi import Request, Response

from thermogate.records.context import RecordsContext

PATH: Final = "/desk"
SESSION_COOKIE: Final = "tg_desk"
LOGIN_COOKIE: Final = "tg_desk_login"
CSRF_FIELD: Final = "csrf"
LOGIN_NONCE_MAX_AGE_S: Final = 3600


def csrf_token(context: RecordsContext, purpose: str, value: str) -> str:
    """The form token bound to ``value`` (a session token or a login nonce)."""
    key = context.settings.records.jwt_secret.get_secret_value().encode()
    message = f"thermogate-desk-csrf\x00{purpose}\x00{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def csrf_valid(context: RecordsContext, purpose: str, value: str | None, sent: str | None) -> bool:
    """Whether a form's token matches the one bound to ``value`` (constant time)."""
    if not value or not sent:
        return False
    return hmac.compare_digest(csrf_token(context, purpose, value), sent)


def _secure(request: Request) -> bool:
    """Cookies are Secure when the page is served over HTTPS (a TLS proxy sets the scheme)."""
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, token: str, max_age_s: int) -> None:
    """Keep the access token in the session cookie; drop the login nonce."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age_s,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=PATH)


def clear_session(response: Response) -> None:
    """Log out: forget the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path=PATH, httponly=True, samesite="strict")


def login_nonce(request: Request) -> tuple[str, bool]:
    """The browser's login nonce, and whether it is new (to be set as a cookie)."""
    current = request.cookies.get(LOGIN_COOKIE)
    if current and len(current) <= 64:
        return current, False
    return secrets.token_urlsafe(24), True


def set_login_nonce(response: Response, request: Request, nonce: str) -> None:
    """Remember the login nonce the login form's token is bound to."""
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_NONCE_MAX_AGE_S,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
