"""``/auth/token`` (OAuth2 password flow), ``/auth/me`` and account management (admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select

from thermogate.records.api.deps import AdminUser, ContextDep, CurrentUser, SessionDep
from thermogate.records.api.errors import conflict, not_found, responses
from thermogate.records.fields import Key, Short
from thermogate.records.models import User
from thermogate.records.security.passwords import hash_password
from thermogate.records.security.roles import Role
from thermogate.records.security.tokens import issue_token
from thermogate.records.services.users import UserError, authenticate, create_user

router = APIRouter(tags=["auth"])


class Token(BaseModel):
    """An access token for the ``Authorization: Bearer`` header."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int
    """Seconds until it expires."""


class Me(BaseModel):
    """The caller as the service sees it."""

    username: str
    role: Role
    unit_id: int | None
    grid_unit_id: int | None


class UserIn(BaseModel):
    """A new account."""

    username: Short
    password: Annotated[str, Field(min_length=8, max_length=200)]
    role: Role
    unit: Key | None = None
    """The dorm unit code of a unit supervisor."""
    grid_unit: Key | None = None
    """The grid unit code of a grid leader."""


class UserOut(BaseModel):
    """An account (never its password hash)."""

    username: str
    role: str
    unit_id: int | None
    grid_unit_id: int | None
    active: bool


@router.post(
    "/auth/token",
    responses={401: {"description": "Wrong user name or password."}, **responses(422)},
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    context: ContextDep,
) -> Token:
    """Exchange a user name and password for a short-lived token (records.token_minutes)."""
    user = authenticate(session, form.username, form.password)
    if user is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="wrong user name or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    minutes = context.settings.records.token_minutes
    access = issue_token(
        user.username,
        context.settings.records.jwt_secret.get_secret_value(),
        context.clock(),
        minutes,
    )
    return Token(access_token=access, expires_in=minutes * 60)


@router.get("/auth/me")
def me(who: CurrentUser) -> Me:
    """Who the token belongs to."""
    return Me(
        username=who.username, role=who.role, unit_id=who.unit_id, grid_unit_id=who.grid_unit_id
    )


@router.get("/users")
def list_users(_: AdminUser, session: SessionDep) -> list[UserOut]:
    """Every account (admin only)."""
    users = session.scalars(select(User).order_by(User.username))
    return [
        UserOut(
            username=u.username,
            role=u.role,
            unit_id=u.unit_id,
            grid_unit_id=u.grid_unit_id,
            active=u.active,
        )
        for u in users
    ]


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    responses=responses(403, 409),
)
def add_user(body: UserIn, _: AdminUser, session: SessionDep) -> UserOut:
    """Create an account (admin only)."""
    try:
        user = create_user(
            session,
            body.username,
            body.password,
            body.role,
            unit=body.unit,
            grid_unit=body.grid_unit,
        )
    except UserError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from None
    session.commit()
    return UserOut(
        username=user.username,
        role=user.role,
        unit_id=user.unit_id,
        grid_unit_id=user.grid_unit_id,
        active=user.active,
    )


class UserPatch(BaseModel):
    """What an admin may change of an account: whether it may log in, its password."""

    active: bool | None = None
    password: Annotated[str, Field(min_length=8, max_length=200)] | None = None


@router.patch("/users/{username}", responses=responses(403, 404, 409))
def change_user(
    username: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00]*$")],
    body: UserPatch,
    admin: AdminUser,
    session: SessionDep,
) -> UserOut:
    """Deactivate or reactivate an account (its tokens stop working at once), or set a
    new password (admin). An admin cannot deactivate their own account (409)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise not_found(f"user {username}")
    if body.active is False and user.username == admin.username:
        raise conflict("an admin cannot deactivate their own account")
    if body.active is not None:
        user.active = body.active
    if body.password is not None:
        user.password_hash = hash_password(body.password)
    session.commit()
    return UserOut(
        username=user.username,
        role=user.role,
        unit_id=user.unit_id,
        grid_unit_id=user.grid_unit_id,
        active=user.active,
    )
