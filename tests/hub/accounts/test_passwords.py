"""Passwords: argon2id, bounded, never a default."""

from __future__ import annotations

import pytest

from hub.accounts.passwords import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    PasswordPolicyError,
    hash_password,
    needs_rehash,
    verify_password,
)
from hub.accounts.secrets import API_TOKEN_PREFIX, digest, new_api_token, plausible


def test_a_hash_verifies_only_its_password() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert hashed != hash_password("correct horse battery")  # salted
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse batterY")
    assert not verify_password("not a hash", "correct horse battery")
    assert not needs_rehash(hashed)


@pytest.mark.parametrize("password", ["", "x" * (MIN_PASSWORD_CHARS - 1), "x" * (MAX_PASSWORD_CHARS + 1)])
def test_short_and_huge_passwords_are_refused(password: str) -> None:
    with pytest.raises(PasswordPolicyError):
        hash_password(password)


def test_a_huge_password_is_not_even_hashed_when_verifying() -> None:
    assert not verify_password(hash_password("x" * MAX_PASSWORD_CHARS), "x" * (MAX_PASSWORD_CHARS + 1))


def test_tokens_are_random_marked_and_stored_as_sha256() -> None:
    first, second = new_api_token(), new_api_token()
    assert first != second
    assert first.startswith(API_TOKEN_PREFIX)
    assert plausible(first)
    assert not plausible("short")
    assert not plausible("a b" * 10)
    assert len(digest(first)) == 64
    assert digest(first) != digest(second)
