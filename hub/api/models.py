"""The API's request and response shapes, split as Create / Update / Public per resource; every field bounded.

Requests forbid unknown fields. Times are Unix seconds (the hub's one representation of time).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hub.accounts.passwords import MAX_PASSWORD_CHARS
from hub.accounts.roles import Role
from hub.operations.audit import AuditView, Outcome
from hub.operations.auth import TokenView
from hub.operations.commands import MAX_ARGS, CommandView
from hub.operations.fleet import DeviceDetail
from hub.operations.users import UserView
from hub.storage.devices import PROFILES, DeviceStatus
from protocol.messages import Command

Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
DeviceId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,64}$")]
Place = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_CHARS)]
ArgValue = Annotated[str, StringConstraints(max_length=256)] | int | float | bool | None


class Request(BaseModel):
    """Unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


# --- auth --------------------------------------------------------------------------------------------------------


class LoginCreate(Request):
    """Username and password, to open a dashboard session (cookie)."""

    username: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(description="Username.")
    password: Password = Field(description="Password.")


class SessionPublic(BaseModel):
    """The session just opened; send ``csrf_token`` as ``X-CSRF-Token`` with changes made through the cookie."""

    username: str
    role: Role
    csrf_token: str
    expires_at: float


class MePublic(BaseModel):
    """Who the request acts as."""

    username: str
    role: Role
    via: str = Field(description="session or token")


class TokenCreate(Request):
    """A new API token."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(description="What it is for.")
    ttl_s: float | None = Field(default=None, gt=0, le=400 * 86400, description="Lifetime; default from [web].")
    username: Username | None = Field(default=None, description="Owner (admins only); default: yourself.")


class TokenPublic(BaseModel):
    """An API token as listed (never its secret)."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: float
    expires_at: float
    revoked_at: float | None
    last_used_at: float | None

    @classmethod
    def of(cls, view: TokenView) -> TokenPublic:
        """From the operation's view."""
        return cls(**{name: getattr(view, name) for name in cls.model_fields})


class TokenCreated(TokenPublic):
    """A token just made: ``token`` is shown this once."""

    token: str


# --- users -------------------------------------------------------------------------------------------------------


class UserCreate(Request):
    """A new operator account."""

    username: Username
    role: Role
    password: Password


class UserUpdate(Request):
    """Changes to an account (absent: unchanged)."""

    role: Role | None = None
    disabled: bool | None = None
    password: Password | None = None


class UserPublic(BaseModel):
    """An operator account."""

    username: str
    role: Role
    disabled: bool
    created_at: float
    password_changed_at: float

    @classmethod
    def of(cls, view: UserView) -> UserPublic:
        """From the operation's view."""
        return cls(**{name: getattr(view, name) for name in cls.model_fields})


# --- devices -----------------------------------------------------------------------------------------------------


class DeviceCreate(Request):
    """Pre-authorise a terminal (the flashing tool sends this) or record a request to approve later."""

    id: DeviceId = Field(description="Device id, also its broker user name.")
    public_key_pem: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="The terminal's Ed25519 public key, PEM (SubjectPublicKeyInfo)."
    )
    profile: Annotated[str, StringConstraints(pattern="^(" + "|".join(sorted(PROFILES)) + ")$")] = Field(
        description="scanner, camera or handheld."
    )
    site: Place | None = None
    grid_cell: Place | None = None
    broker_password: Annotated[str, StringConstraints(min_length=16, max_length=256)] | None = Field(
        default=None, description="The terminal's broker password, set on the broker (dynamic security)."
    )
    approved: bool = Field(default=True, description="False: a pending request an operator approves later.")


class DeviceUpdate(Request):
    """Inventory changes (absent: unchanged; null: cleared)."""

    site: Place | None = None
    grid_cell: Place | None = None


class PresencePublic(BaseModel):
    """What the hub knows of a terminal's connection and data, each fact separately (sync spec)."""

    connected: bool
    state: str | None = Field(description="online, offline (connection lost) or stopped (clean stop).")
    last_activity_at: float | None
    data_currency_at: float | None = Field(description="The newest stored record's time (device clock).")
    backlog: dict[str, int] | None
    firmware: str | None
    lists: dict[str, Any] | None
    clock: dict[str, Any] | None
    storage: dict[str, Any] | None
    updated_at: float | None


class StreamPublic(BaseModel):
    """A stream's progress at the hub."""

    stream: str
    contiguous_upto: int
    max_seq: int
    last_received_at: float | None


class DevicePublic(BaseModel):
    """A terminal's inventory and presence."""

    id: str
    status: DeviceStatus
    profile: str
    site: str | None
    grid_cell: str | None
    created_at: float
    enrolled_at: float | None
    decommissioned_at: float | None
    public_key_pem: str
    presence: PresencePublic | None
    streams: list[StreamPublic]

    @classmethod
    def of(cls, detail: DeviceDetail) -> DevicePublic:
        """From the operation's view."""
        device, presence = detail.device, detail.presence
        return cls(
            id=device.id,
            status=device.status,
            profile=device.profile,
            site=device.site,
            grid_cell=device.grid_cell,
            created_at=device.created_at,
            enrolled_at=device.enrolled_at,
            decommissioned_at=device.decommissioned_at,
            public_key_pem=detail.public_key_pem,
            presence=None
            if presence is None
            else PresencePublic(
                connected=presence.connected,
                state=None if presence.state is None else presence.state.value,
                last_activity_at=presence.last_activity_at,
                data_currency_at=presence.data_currency_at,
                backlog=presence.backlog,
                firmware=presence.firmware,
                lists=presence.lists,
                clock=presence.clock,
                storage=presence.storage,
                updated_at=presence.updated_at,
            ),
            streams=[
                StreamPublic(
                    stream=s.stream.value, contiguous_upto=s.contiguous_upto, max_seq=s.max_seq,
                    last_received_at=s.last_received_at,
                )
                for s in detail.streams
            ],
        )  # fmt: skip


class BrokerOutcome(BaseModel):
    """What the broker side of an enrolment or decommission did."""

    broker: str = Field(description="done, not_configured (no broker admin) or skipped (nothing to do there).")


class DeviceChanged(DevicePublic, BrokerOutcome):
    """A device after a change, with what the broker did."""


# --- commands ----------------------------------------------------------------------------------------------------


class CommandCreate(Request):
    """A command for a terminal."""

    command: Command
    args: dict[Annotated[str, StringConstraints(min_length=1, max_length=32)], ArgValue] = Field(
        default_factory=dict, max_length=MAX_ARGS, description="Command arguments (resend: stream, from, to)."
    )
    ttl_s: float | None = Field(default=None, gt=0, le=7 * 86400, description="Void after this long.")


class CommandPublic(BaseModel):
    """A command and the terminal's answer (``result_ok`` null: no answer yet)."""

    id: str = Field(description="The correlation id.")
    device_id: str
    command: str
    args: dict[str, Any]
    created_by: str
    created_at: float
    expires_at: float | None
    published: bool = Field(description="Handed to the broker (false: the hub was not connected).")
    result_ok: bool | None
    result_detail: str | None
    result_at: float | None

    @classmethod
    def of(cls, view: CommandView) -> CommandPublic:
        """From the operation's view."""
        return cls(**{name: getattr(view, name) for name in cls.model_fields})


# --- audit, lists, stats -----------------------------------------------------------------------------------------


class AuditPublic(BaseModel):
    """One operator action."""

    id: int
    at: float
    actor: str
    actor_role: str | None
    action: str
    target: str | None
    outcome: Outcome
    detail: str | None
    client: str | None

    @classmethod
    def of(cls, view: AuditView) -> AuditPublic:
        """From the operation's view."""
        return cls(**{name: getattr(view, name) for name in cls.model_fields})


class HeldListPublic(BaseModel):
    """A list version the hub holds and passes down."""

    kind: str
    list_id: str
    seq: int
    base: int
    ts: int
    received_at: float


class TerminalListsPublic(BaseModel):
    """The list versions a terminal reported in its last birth."""

    device_id: str
    lists: dict[str, Any] | None


class ListsPublic(BaseModel):
    """List versions at the hub and at each terminal."""

    hub: list[HeldListPublic]
    terminals: list[TerminalListsPublic]


class StatsPublic(BaseModel):
    """Basic figures."""

    devices: dict[str, int] = Field(description="Devices by status.")
    online: int
    events: int = Field(description="Scan events stored.")
    events_by_decision: dict[str, int]
    refusals: dict[str, int] = Field(description="Refused messages by reason.")
    relay_pending: int


class HealthPublic(BaseModel):
    """Whether the hub works."""

    status: str
    database: str
    broker: str
