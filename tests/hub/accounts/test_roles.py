"""Roles are ordered: admin > operator > viewer."""

from __future__ import annotations

from hub.accounts.roles import Role


def test_roles_allow_what_lower_roles_may() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)
    assert all(role.allows(role) for role in Role)
