"""Dependencies of the API: the session, the clock, the caller, and role checks.

``SessionDep`` opens one session per request (committed by the handler); ``CurrentUser`` is
the :class:`Principal` of a valid bearer token; ``require(...)`` refuses other roles (403).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from thermogate.records.context import RecordsContext
from thermogate.records.models import User
from thermogate.records.security.roles import Principal, Role
from thermogate.records.security.tokens import TokenError, subject_of

oauth2 = OAuth2PasswordBearer(tokenUrl="/auth/token")


def get_context(request: Request) -> RecordsContext:
    """The app's shared context (built in the lifespan)."""
    context: RecordsContext = request.app.state.records
    return context


ContextDep = Annotated[RecordsContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    """One session per request, closed (and rolled back if uncommitted) afterwards."""
    with context.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_now(context: ContextDep) -> dt.datetime:
    """The app's clock (injected in tests)."""
    return context.clock()


NowDep = Annotated[dt.datetime, Depends(get_now)]

UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="not authenticated",
    headers={"WWW-Authenticate": "Bearer"},
)


def principal_from_token(token: str, context: RecordsContext, session: Session) -> Principal:
    """The caller of a valid token whose account still exists and is active (else 401).

    Shared by the bearer login of the API and the cookie session of the desk pages.
    """
    try:
        username = subject_of(
            token, context.settings.records.jwt_secret.get_secret_value(), context.clock()
        )
    except TokenError:
        raise UNAUTHORIZED from None
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise UNAUTHORIZED
    return Principal(
        username=user.username,
        role=Role(user.role),
        unit_id=user.unit_id,
        grid_unit_id=user.grid_unit_id,
    )


def get_principal(
    token: Annotated[str, Depends(oauth2)], context: ContextDep, session: SessionDep
) -> Principal:
    """The caller of the request's bearer token (401 unless valid and active)."""
    return principal_from_token(token, context, session)


CurrentUser = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` through (403 for the others)."""

    def check(principal: CurrentUser) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"role {principal.role.value} may not do this",
            )
        return principal

    return check


AdminUser = Annotated[Principal, Depends(require(Role.ADMIN))]
DeskUser = Annotated[Principal, Depends(require(Role.ADMIN, Role.DUTY))]
ClinicUser = Annotated[Principal, Depends(require(Role.CLINIC))]
HumanUser = Annotated[
    Principal,
    Depends(require(Role.ADMIN, Role.DUTY, Role.CLINIC, Role.UNIT_SUPERVISOR, Role.GRID_LEADER)),
]
"""Any person's account (not the gateway's machine account)."""
IntegrationUser = Annotated[Principal, Depends(require(Role.ADMIN, Role.GATEWAY))]
"""The gateway (or an admin): registry, people, readings."""
