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


class WebSection(Strict):
    """The operators' web app and HTTP API (served by ``gridpass hub run`` when this section is present)."""

    host: str = Field(default="127.0.0.1", description="Address to listen on (put TLS in front off loopback).")
    port: int = Field(default=8080, ge=1, le=65535, description="Port to listen on.")
    cookie_secure: bool = Field(
        default=True, description="Send the session cookie over HTTPS only (false only for plain loopback use)."
    )
    session_ttl_s: float = Field(default=8 * 3600, gt=0, le=30 * 86400, description="Dashboard session lifetime.")
    token_ttl_s: float = Field(default=90 * 86400, gt=0, le=400 * 86400, description="Default API token lifetime.")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024, description="Largest HTTP body.")
    login_max_failures: int = Field(
        default=5, ge=1, le=1000, description="Wrong logins per username and client before they are refused."
    )
    login_window_s: float = Field(default=300, gt=0, le=86400, description="Window of those wrong logins.")


class ConfigPushSection(Strict):
    """The key this hub signs device configurations with, and the district root's delegation of it."""

    key_file: Path = Field(description="The hub's config signing private key (PEM), from gridpass district keygen.")
    delegation_file: Path = Field(description="The root's delegation of that key (gridpass district delegate).")


class DistrictSection(Strict):
    """The district center the hub relays its reports to and pulls its lists from (the relay runs when present)."""

    url: str = Field(
        pattern=r"^https?://[^\s]+$", description="The district center, e.g. https://district.example:8443."
    )
    token_file: Path = Field(description="File holding this hub's bearer token (gridpass district hub-token).")
    ca_file: Path | None = Field(default=None, description="CA certificate to pin for an https url.")
    client_cert: Path | None = Field(default=None, description="Client certificate (PEM) when the district wants mTLS.")
    client_key: Path | None = Field(default=None, description="Its private key (PEM), unless in client_cert.")
    pull_interval_s: float = Field(default=300.0, ge=5, le=86400, description="How often the lists are pulled.")
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120, description="Connect timeout of each call.")
    read_timeout_s: float = Field(default=15.0, gt=0, le=600, description="Longest silence within an answer.")
    total_timeout_s: float = Field(default=30.0, gt=0, le=3600, description="Longest one call may take.")


class HubConfig(Strict):
    """A whole hub configuration."""

    database: DatabaseSection = Field(description="Storage.")
    broker: BrokerSection = Field(description="Broker.")
    worker: WorkerSection = Field(default_factory=WorkerSection, description="This worker.")
    lists: ListsSection = Field(description="District lists.")
    config_push: ConfigPushSection | None = Field(
        default=None, description="Signing of pushed device configurations; absent: configurations cannot be pushed."
    )
    web: WebSection | None = Field(default=None, description="Operators' web app and API; absent: not served.")
    district: DistrictSection | None = Field(
        default=None, description="District center for the relay and the list pull; absent: no relay."
    )


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
