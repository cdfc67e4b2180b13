"""Operator passwords: argon2id hashes (argon2-cffi, RFC 9106 low-memory profile), a bounded length, no defaults."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256
"""Longer passwords are refused before hashing, so a huge body cannot make the hub hash megabytes."""


class PasswordPolicyError(ValueError):
    """A password the hub does not accept (too short or too long)."""


_HASHER = PasswordHasher()


def check_policy(password: str) -> str:
    """The password itself, if it is acceptable."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordPolicyError(f"a password has at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordPolicyError(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    return password


def hash_password(password: str) -> str:
    """An argon2id hash of an acceptable password (salted; a different string every time)."""
    return _HASHER.hash(check_policy(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; a password beyond the length limit or a malformed hash never does."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


DUMMY_HASH = _HASHER.hash("gridpass-no-such-user-dummy")
"""Verified against when the user does not exist, so an unknown name costs as much time as a wrong password."""
