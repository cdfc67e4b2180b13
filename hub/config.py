"""The hub's configuration: a TOML file validated by pydantic models (unknown keys are errors)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Strict(BaseModel):
    """Unknown keys are errors; immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSection(Strict):
    """Where the hub keeps everything."""

    url: str = Field(description="sqlite:///path/hub.db, or postgresql://user@host/db for several workers.")


class BrokerSection(Strict):
    """The broker, and the hub's own credentials on it."""

    host: str = Field(default="127.0.0.1", description="Broker host.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    username: str = Field(default="hub", description="The hub's broker user.")
    password_file: Path = Field(description="File holding the hub's broker password.")
    ca_file: Path | None = Field(default=None, description="CA certificate when the broker is reached over TLS.")
    admin_user: str | None = Field(default=None, description="Dynamic-security admin user, to enrol devices.")
    admin_password_file: Path | None = Field(default=None, description="File holding that admin's password.")


class WorkerSection(Strict):
    """This ingest worker."""

    id: str = Field(default="hub-1", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Unique per worker process.")
    share_group: str | None = Field(
        default="ingest", description="MQTT 5 shared subscription group: workers in one group split the load."
    )


class ListsSection(Strict):
    """The district's root key, which signs every list the hub passes down."""

    root_key: Path = Field(description="District root public key (PEM).")


class HubConfig(Strict):
    """A whole hub configuration."""

    database: DatabaseSection = Field(description="Storage.")
    broker: BrokerSection = Field(description="Broker.")
    worker: WorkerSection = Field(default_factory=WorkerSection, description="This worker.")
    lists: ListsSection = Field(description="District lists.")


class HubConfigError(Exception):
    """A hub config that cannot be used; ``problems`` lists (key path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(f"{source}: " + "; ".join(f"{key}: {message}" for key, message in problems))
        self.source = source
        self.problems = problems


def validate(raw: dict[str, Any], source: str = "config") -> HubConfig:
    """Validate a config dict."""
    try:
        return HubConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in error["loc"]) or "(top)", error["msg"]) for error in exc.errors()]
        raise HubConfigError(source, problems) from exc


def load(path: Path) -> HubConfig:
    """Read and validate a hub config file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HubConfigError(str(path), [("(file)", f"cannot read: {exc.strerror}")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise HubConfigError(str(path), [("(file)", f"not valid TOML: {exc}")]) from exc
    return validate(raw, str(path))
