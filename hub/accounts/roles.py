"""Operator roles: each one can do what the ones below it can."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What an operator account may do."""

    VIEWER = "viewer"
    """Reads everything an operator sees: fleet, presence, commands and their results, lists, stats."""
    OPERATOR = "operator"
    """Also commands devices, enrols, approves and decommissions them, and reads the audit log."""
    ADMIN = "admin"
    """Also manages operator accounts and everyone's API tokens."""

    @property
    def rank(self) -> int:
        """Higher can do more."""
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
