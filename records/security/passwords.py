"""Password hashing with argon2 (pwdlib's recommended settings)."""

from __future__ import annotations

from functools import cache

from pwdlib import PasswordHash


@cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the parameters are kept in the hash)."""
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    return _hasher().verify(password, password_hash)


DUMMY_HASH = hash_password("no user has this password")
"""Verified against when the user does not exist, so both answers take the same time."""
