"""``/api/v1/devices/{id}/commands`` and ``/api/v1/commands``: send a command, see commands and their results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from hub.api.deps import ClientDep, ContextDep, EngineDep, NowDep, RequireOperator, RequireViewer, actor
from hub.api.models import CommandCreate, CommandPublic
from hub.api.problems import PROBLEM_RESPONSES
from hub.operations import commands
from hub.operations.commands import COMMAND_TTL_S

router = APIRouter(prefix="/api/v1", tags=["commands"], responses=PROBLEM_RESPONSES)

DeviceIdPath = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$", description="Device id.")]
Limit = Annotated[int, Query(ge=1, le=commands.MAX_PAGE)]


@router.post("/devices/{device_id}/commands", response_model=CommandPublic, status_code=status.HTTP_202_ACCEPTED)
def send_command(
    *, device_id: DeviceIdPath, body: CommandCreate, operator: RequireOperator, context: ContextDep, client: ClientDep,
    now: NowDep,
) -> CommandPublic:  # fmt: skip
    """Send a command; the answer's ``id`` is its correlation id, ``published`` whether the broker took it; the
    device's result appears on the command once it answers."""
    view = commands.send(
        context.services.engine, actor(operator, client), device_id, body.command, body.args, now=now,
        publisher=context.services.publisher, ttl_s=body.ttl_s or COMMAND_TTL_S,
    )  # fmt: skip
    return CommandPublic.of(view)


@router.get("/devices/{device_id}/commands", response_model=list[CommandPublic])
def device_commands(
    *, device_id: DeviceIdPath, _viewer: RequireViewer, engine: EngineDep, limit: Limit = 50
) -> list[CommandPublic]:
    """A device's commands, newest first."""
    return [CommandPublic.of(view) for view in commands.list_commands(engine, device_id=device_id, limit=limit)]


@router.get("/commands", response_model=list[CommandPublic])
def all_commands(*, _viewer: RequireViewer, engine: EngineDep, limit: Limit = 50) -> list[CommandPublic]:
    """Every device's commands, newest first."""
    return [CommandPublic.of(view) for view in commands.list_commands(engine, limit=limit)]


@router.get("/commands/{command_id}", response_model=CommandPublic)
def get_command(
    *, command_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], _viewer: RequireViewer, engine: EngineDep
) -> CommandPublic:
    """One command and its result."""
    return CommandPublic.of(commands.get_command(engine, command_id))
