"""Helpers of the hub API tests: a clock to move, a publisher that keeps what it was given, accounts, device keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.engine import Engine

from hub.accounts.roles import Role
from hub.operations import auth, users
from hub.operations.audit import Actor

T0 = 1_800_000_000.0
PASSWORD = "correct horse battery staple"
CLI = Actor("cli:test", Role.ADMIN, "local")


@dataclass
class Clock:
    """Time that moves only when a test says so."""

    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class KeptPublisher:
    """Keeps what the app publishes (the real-broker path is in ``test_broker.py``)."""

    connected: bool = True
    sent: list[tuple[str, bytes, bool]] = field(default_factory=list)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        if not self.connected:
            return False
        self.sent.append((topic, payload, retain))
        return True


def make_user(engine: Engine, username: str, role: Role) -> str:
    """An account with ``PASSWORD``; returns an API token of it."""
    users.create_user(engine, CLI, username, role, PASSWORD, now=T0)
    return auth.create_token(engine, CLI, "tests", now=T0, for_user=username).secret


def device_key_pem() -> str:
    """A fresh Ed25519 public key as PEM."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}
