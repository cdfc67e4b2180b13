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

from protocol.reasons import Decision, Reason
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

    kind: Literal["opencv", "picamera", "synthetic", "scene"] = Field(
        description="opencv: USB/V4L2 device, file or stream; picamera: Pi camera; synthetic: rendered feed of "
        "passes shown to a scanner; scene: rendered feed of people walking past a camera terminal."
    )
    source: str = Field(default="0", description="opencv: device index, /dev/videoN, file path or stream URL.")
    width: int = Field(default=1280, ge=160, le=4096, description="Requested frame width in pixels.")
    height: int = Field(default=720, ge=120, le=3072, description="Requested frame height in pixels.")
    fps: int = Field(default=15, ge=1, le=120, description="Requested frames per second.")
    seed: int = Field(default=0, ge=0, le=2**31, description="scene: seed of the rendered feed (same seed, same feed).")


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
    image_chunk_bytes: int = Field(
        default=64 * 1024, ge=1024, le=256 * 1024, description="Image bytes per chunk message (resumable transfer)."
    )
    image_window_bytes: int = Field(
        default=256 * 1024, ge=1024, le=8 * 1024 * 1024, description="Image bytes sent beyond what the hub confirmed."
    )

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> Self:
        if self.ca_file is None and self.broker_host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("ca_file is required when the broker is not on loopback (MQTT runs over TLS)")
        return self


class MetricsSection(Strict):
    """Prometheus endpoint, on loopback only."""

    port: int = Field(default=9464, ge=0, le=65535, description="TCP port; 0 turns the endpoint off.")


GRID_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
CATEGORY_CODE = r"^[a-z0-9_]{1,64}$"
PUBLIC_COMPLAINT = "public_complaint"


class GpsSection(Strict):
    """The handheld's GPS receiver."""

    kind: Literal["nmea", "gpsd", "none"] = Field(
        default="none", description="nmea: NMEA 0183 on a serial port; gpsd: the GPS daemon; none: no position."
    )
    port: str = Field(default="/dev/ttyUSB0", description="nmea: serial device of the receiver.")
    baud: int = Field(default=9600, ge=1200, le=921600, description="nmea: baud rate of the receiver.")
    timeout_s: float = Field(default=1.0, gt=0, le=5, description="nmea: how long one read waits for a line.")
    host: str = Field(default="127.0.0.1", description="gpsd: host of the daemon (normally this terminal).")
    gpsd_port: int = Field(default=2947, ge=1, le=65535, description="gpsd: TCP port of the daemon.")


class GridCellSection(Strict):
    """One grid cell of the district's base data: its code and outline."""

    code: Annotated[str, Field(pattern=GRID_CODE, description="Grid cell code, as the district names it.")]
    polygon: list[tuple[float, float]] = Field(
        min_length=3, max_length=1000, description="Outline as [lat, lon] vertices in degrees (WGS 84), not closed."
    )


class HandheldSection(Strict):
    """The grid worker's handheld: incident categories, grid cells, GPS and its touch screen page."""

    categories: list[Annotated[str, Field(pattern=CATEGORY_CODE)]] = Field(
        default_factory=lambda: [PUBLIC_COMPLAINT, "sanitation", "facility_damage", "gathering", "other"],
        min_length=1,
        max_length=32,
        description="Incident category codes offered on the form; must include public_complaint.",
    )
    labels: dict[str, Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=dict, description="Button label per category code (default: the code in words)."
    )
    grid_cells: list[GridCellSection] = Field(
        default_factory=list, max_length=10000, description="Grid cells an incident position is placed in."
    )
    gps: GpsSection = Field(default_factory=GpsSection, description="Position source.")
    web_port: int = Field(default=8080, ge=1, le=65535, description="Port of the touch screen page on 127.0.0.1.")
    photo_max_bytes: int = Field(
        default=4 * 2**20, ge=64 * 1024, le=8 * 2**20, description="Largest photo (JPEG bytes) kept with an incident."
    )
    photo_max_side: int = Field(default=4096, ge=320, le=16384, description="Largest photo width or height in pixels.")
    photo_max_count: int = Field(default=4, ge=1, le=8, description="Photos per incident at most.")
    note_max_chars: int = Field(default=1000, ge=1, le=1000, description="Longest note.")

    @model_validator(mode="after")
    def _categories_and_cells(self) -> Self:
        if PUBLIC_COMPLAINT not in self.categories:
            raise ValueError(f"categories must include {PUBLIC_COMPLAINT!r} (complaints received in the field)")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("a category is listed twice")
        unknown = set(self.labels) - set(self.categories)
        if unknown:
            raise ValueError(f"labels for categories not listed: {sorted(unknown)}")
        codes = [cell.code for cell in self.grid_cells]
        if len(set(codes)) != len(codes):
            raise ValueError("a grid cell code is listed twice")
        return self


Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class MotionSection(Strict):
    """Motion detection by frame differencing against a running background."""

    enabled: bool = Field(default=True, description="Take a snapshot when motion is seen.")
    threshold: int = Field(
        default=25, ge=1, le=255, description="Grey levels a pixel must differ from the background to count."
    )
    min_area: float = Field(
        default=0.005, gt=0, le=1, description="Fraction of the watched area that must change to count as motion."
    )
    min_interval_s: float = Field(default=5.0, ge=0, le=DAY_S, description="Motion snapshots at most this often.")
    analysis_width: int = Field(
        default=320, ge=16, le=1920, description="Frames are shrunk to this width for the comparison."
    )
    mask: list[Annotated[list[tuple[Fraction, Fraction]], Field(min_length=3, max_length=64)]] = Field(
        default_factory=list,
        max_length=32,
        description="Polygons where motion is ignored, each a list of [x, y] points as fractions of the frame.",
    )


class TriggerSection(Strict):
    """Snapshots asked for by the hub or by a scanner's decision at this checkpoint."""

    on_decision: list[Reason | Decision] = Field(
        default_factory=lambda: list[Reason | Decision]([Decision.INVALID, Reason.REVOKED]),
        max_length=32,
        description="Decisions (e.g. invalid: forged or tampered) or reasons (e.g. revoked) that take a snapshot.",
    )
    min_interval_s: float = Field(
        default=2.0, ge=0, le=DAY_S, description="Triggered snapshots at most this often; sooner ones are dropped."
    )


class ImageBudgetSection(Strict):
    """Snapshot retention on the terminal: only snapshots the hub acknowledged and confirmed are removed."""

    max_bytes: int = Field(default=256 * 2**20, ge=2**20, description="Bytes of snapshot images kept at most.")
    max_count: int = Field(default=5000, ge=1, description="Snapshots kept at most.")
    max_age_days: float = Field(default=14, gt=0, le=3650, description="Confirmed snapshots older than this go.")


class SnapshotsSection(Strict):
    """A camera terminal's snapshots: when they are taken, how they are encoded, how many are kept."""

    camera: str = Field(
        default="main", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$", description="This camera's name in snapshots."
    )
    periodic_s: float = Field(
        default=300.0, ge=0, le=DAY_S, description="A snapshot when none was taken for this long; 0 turns it off."
    )
    motion: MotionSection = Field(default_factory=MotionSection, description="Motion snapshots.")
    triggers: TriggerSection = Field(default_factory=TriggerSection, description="Command and decision snapshots.")
    jpeg_quality: int = Field(default=80, ge=10, le=100, description="JPEG quality of the snapshots (10..100).")
    max_width: int = Field(default=1280, ge=160, le=4096, description="Snapshots wider than this are scaled down.")
    budget: ImageBudgetSection = Field(default_factory=ImageBudgetSection, description="Retention on the terminal.")
    stall_s: float = Field(
        default=10.0, gt=0, le=3600, description="No frame for this long: the camera is reported stalled and reopened."
    )
    prune_every_s: float = Field(default=60.0, gt=0, le=DAY_S, description="How often retention is applied.")


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
    handheld: HandheldSection | None = Field(
        default=None, description="Incidents, GPS and the touch screen; required by the handheld profile."
    )
    snapshots: SnapshotsSection | None = Field(
        default=None, description="Snapshot policies, encoding and budget; required by the camera profile."
    )

    @model_validator(mode="after")
    def _handheld_has_its_section(self) -> Self:
        if self.device.profile == "handheld" and self.handheld is None:
            raise ValueError("profile 'handheld' needs a [handheld] section (categories, grid cells, gps, web port)")
        return self

    @model_validator(mode="after")
    def _camera_has_its_section(self) -> Self:
        if self.device.profile == "camera" and self.snapshots is None:
            raise ValueError("profile 'camera' needs a [snapshots] section (policies, jpeg quality, budget)")
        return self


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
