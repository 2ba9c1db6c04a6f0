"""Accounts: create one, check a password, bootstrap the first admin."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from thermogate.records.models import DormUnit, GridUnit, User
from thermogate.records.security.passwords import DUMMY_HASH, hash_password, verify_password
from thermogate.records.security.roles import Role

log = logging.getLogger(__name__)

MIN_PASSWORD = 8


class UserError(ValueError):
    """The account cannot be created as asked (the message says why)."""


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role,
    *,
    unit: str | None = None,
    grid_unit: str | None = None,
) -> User:
    """Add an account; a unit supervisor needs its ``unit`` code, a grid leader its grid unit."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password: at least {MIN_PASSWORD} characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"username {username!r} is taken")
    unit_id = grid_unit_id = None
    if role is Role.UNIT_SUPERVISOR:
        if unit is None:
            raise UserError("a unit_supervisor needs a unit")
        unit_id = session.scalar(select(DormUnit.id).where(DormUnit.code == unit))
        if unit_id is None:
            raise UserError(f"unknown unit {unit!r}")
    if role is Role.GRID_LEADER:
        if grid_unit is None:
            raise UserError("a grid_leader needs a grid unit")
        grid_unit_id = session.scalar(select(GridUnit.id).where(GridUnit.code == grid_unit))
        if grid_unit_id is None:
            raise UserError(f"unknown grid unit {grid_unit!r}")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        unit_id=unit_id,
        grid_unit_id=grid_unit_id,
        active=True,
    )
    session.add(user)
    session.flush()
    log.info("user created", extra={"username": username, "role": role.value})
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active account with this name and password, or None (same work either way)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password(password, DUMMY_HASH)
        return None
    if not user.active or not verify_password(password, user.password_hash):
        return None
    return user


def bootstrap_admin(session: Session, username: str, password: str) -> bool:
    """Create the first admin when there is no account at all (the demo); True if created."""
    if session.scalar(select(func.count()).select_from(User)):
        return False
    create_user(session, username, password, Role.ADMIN)
    session.commit()
    return True
