"""The terminal's configuration: a TOML file validated by pydantic models.

Reading the file (:func:`read_toml`) is apart from validating the dict (:func:`validate`), so that the same models
check a file on the SD card, a config pushed by the hub and a profile in ``hardware/profiles``. Every field says
what it is for; an unknown key is an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from protocol.topics import DEVICE_ID, LIST_ID

DAY_S = 24 * 3600


class Strict(BaseModel):
    """Unknown keys are errors; models are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceSection(Strict):
    """Who this terminal is and where it stands."""

    id: Annotated[str, Field(pattern=f"^{DEVICE_ID.pattern}$", description="Device id, also its broker user name.")]
    profile: Literal["scanner", "camera", "handheld"] = Field(description="Which kind of terminal this is.")
    site: str = Field(min_length=1, max_length=64, description="Site code, e.g. a metro station or compound.")
    grid_cell: str = Field(default="", max_length=64, description="Grid cell code of the site (district base data).")
    data_dir: Path = Field(
        default=Path("/var/lib/gridpass"), description="Where the store, the lists and the state are kept."
    )


class CameraSection(Strict):
    """Where frames come from."""

    kind: Literal["opencv", "picamera", "synthetic"] = Field(
        description="opencv: USB/V4L2 device, file or stream; picamera: Pi camera; synthetic: rendered test feed."
    )
    source: str = Field(default="0", description="opencv: device index, /dev/videoN, file path or stream URL.")
    width: int = Field(default=1280, ge=160, le=4096, description="Requested frame width in pixels.")
    height: int = Field(default=720, ge=120, le=3072, description="Requested frame height in pixels.")
    fps: int = Field(default=15, ge=1, le=120, description="Requested frames per second.")


class GpioPins(Strict):
    """BCM pin numbers of the lamps, buzzer and relay."""

    green: int = Field(ge=0, le=27, description="Green lamp.")
    yellow: int = Field(ge=0, le=27, description="Yellow lamp.")
    red: int = Field(ge=0, le=27, description="Red lamp.")
    buzzer: int | None = Field(default=None, ge=0, le=27, description="Buzzer, if fitted.")
    relay: int | None = Field(default=None, ge=0, le=27, description="Gate relay, if the gate is on GPIO.")


class SerialBoardSection(Strict):
    """The RP2040 signal board on USB serial."""

    port: str = Field(default="/dev/ttyACM0", description="Serial device of the board.")
    baud: int = Field(default=115200, description="Baud rate (USB CDC ignores it, UART boards need it).")
    timeout_s: float = Field(default=0.2, gt=0, le=5, description="How long to wait for the board's reply.")
    heartbeat_s: float = Field(
        default=1.0, gt=0, le=30, description="Heartbeat interval; the board's fail-safe must be longer."
    )


class SignalSection(Strict):
    """Light, buzzer and gate."""

    indicator: Literal["console", "gpio", "serial"] = Field(description="What drives the light and buzzer.")
    gate: Literal["none", "console", "gpio", "serial"] = Field(default="none", description="What drives the gate.")
    gate_open_ms: int = Field(default=3000, ge=100, le=30000, description="How long the gate opens on pass.")
    gpio: GpioPins | None = Field(default=None, description="Pins, when the indicator or gate is on GPIO.")
    serial: SerialBoardSection | None = Field(default=None, description="The board, when it drives any signal.")

    @model_validator(mode="after")
    def _drivers_have_their_settings(self) -> Self:
        kinds = {self.indicator, self.gate}
        if "gpio" in kinds and self.gpio is None:
            raise ValueError("indicator or gate is 'gpio' but [signal.gpio] pins are missing")
        if self.gate == "gpio" and self.gpio is not None and self.gpio.relay is None:
            raise ValueError("gate is 'gpio' but [signal.gpio] has no relay pin")
        return self


class ScanSection(Strict):
    """How scans become decisions."""

    hold_off_s: float = Field(
        default=3.0, gt=0, le=60, description="The same code seen again after this long is a new presentation."
    )
    max_list_age_s: int = Field(
        default=3 * DAY_S, gt=0, description="Lists not confirmed current for longer than this make pass a check."
    )


class ListsSection(Strict):
    """The district's signed lists."""

    root_key: Path = Field(description="District root public key (PEM), provisioned at flashing.")
    list_id: Annotated[str, Field(pattern=f"^{LIST_ID.pattern}$", description="Revocation list id, e.g. CN-SH-PD.")]


class StoreSection(Strict):
    """Retention on the terminal: only what the hub acknowledged is ever pruned."""

    max_rows: int = Field(default=500_000, ge=1000, description="Events kept at most, acknowledged ones pruned first.")
    max_bytes: int = Field(default=512 * 2**20, ge=2**20, description="Database size budget in bytes.")
    max_age_days: int = Field(default=30, ge=1, description="Acknowledged events older than this are pruned.")


class SyncSection(Strict):
    """The hub's broker, this terminal's credentials and the outbox's pace."""

    broker_host: str = Field(description="Broker host name or address.")
    broker_port: int = Field(default=8883, ge=1, le=65535, description="Broker port (8883 with TLS, 1883 loopback).")
    password_file: Path = Field(description="File holding this terminal's broker password (written at flashing).")
    key_file: Path = Field(description="This terminal's Ed25519 private key (PEM), made at flashing.")
    ca_file: Path | None = Field(default=None, description="The hub's CA certificate; required unless on loopback.")
    batch_records: int = Field(default=200, ge=1, le=1000, description="Records per batch at most.")
    batch_bytes: int = Field(default=48 * 1024, ge=1024, le=256 * 1024, description="Bytes per batch at most.")
    window: int = Field(default=4, ge=1, le=64, description="Unacknowledged batches per stream at most.")
    ack_timeout_s: float = Field(default=30.0, gt=0, description="Send again from the last ack after this long.")
    rate_messages_s: float = Field(default=20.0, gt=0, description="Rate cap in messages per second.")
    rate_bytes_s: float = Field(default=256 * 1024, gt=0, description="Rate cap in bytes per second.")

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> Self:
        if self.ca_file is None and self.broker_host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("ca_file is required when the broker is not on loopback (MQTT runs over TLS)")
        return self


class MetricsSection(Strict):
    """Prometheus endpoint, on loopback only."""

    port: int = Field(default=9464, ge=0, le=65535, description="TCP port; 0 turns the endpoint off.")


class DeviceConfig(Strict):
    """A whole terminal configuration."""

    device: DeviceSection = Field(description="Identity and place.")
    camera: CameraSection = Field(description="Frame source.")
    signal: SignalSection = Field(description="Light, buzzer and gate.")
    lists: ListsSection = Field(description="Signed lists from the district.")
    scan: ScanSection = Field(default_factory=ScanSection, description="Scan behaviour.")
    store: StoreSection = Field(default_factory=StoreSection, description="Retention budgets.")
    metrics: MetricsSection = Field(default_factory=MetricsSection, description="Metrics endpoint.")
    sync: SyncSection | None = Field(default=None, description="Sync with the hub; absent: the terminal runs alone.")


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` lists (key path, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(f"{source}: " + "; ".join(f"{key}: {message}" for key, message in problems))
        self.source = source
        self.problems = problems


def read_toml(path: Path) -> dict[str, Any]:
    """The raw dict of a TOML file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [("(file)", f"cannot read: {exc.strerror}")]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [("(file)", f"not valid TOML: {exc}")]) from exc


def validate(raw: dict[str, Any], source: str = "config") -> DeviceConfig:
    """Validate a config dict; every problem is reported with its key path."""
    try:
        return DeviceConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in error["loc"]) or "(top)", error["msg"]) for error in exc.errors()]
        raise ConfigError(source, problems) from exc


def load(path: Path) -> DeviceConfig:
    """Read and validate a config file."""
    return validate(read_toml(path), str(path))
