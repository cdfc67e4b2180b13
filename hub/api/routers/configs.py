"""``/api/v1/devices/{id}/config``: push a signed configuration to a terminal, see the versions and the answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from hub.api.deps import ClientDep, ContextDep, EngineDep, NowDep, RequireOperator, RequireViewer, actor
from hub.api.models import Request
from hub.api.problems import PROBLEM_RESPONSES
from hub.operations import configs
from hub.operations.errors import NotFoundError
from hub.storage.configs import ConfigVersion

router = APIRouter(prefix="/api/v1/devices", tags=["configs"], responses=PROBLEM_RESPONSES)

DeviceIdPath = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$", description="Device id.")]
Limit = Annotated[int, Query(ge=1, le=100)]


class ConfigUpdate(Request):
    """The settings that override the terminal's own file, as a whole (not merged with the previous push)."""

    settings: dict[str, dict[str, Any]] = Field(
        description='Section (or dotted path to a sub-table) -> key -> value, e.g. {"scan": {"hold_off_s": 4.0}}.'
    )


class ConfigPublic(BaseModel):
    """One pushed version and what the terminal answered."""

    device_id: str
    version: int
    settings: dict[str, dict[str, Any]]
    created_at: float
    created_by: str
    published_at: float | None
    answer: str = Field(description="waiting, taken or refused.")
    answered_at: float | None
    answer_detail: str | None

    @classmethod
    def of(cls, config: ConfigVersion) -> ConfigPublic:
        """From the storage view."""
        answer = "waiting" if config.answer_ok is None else ("taken" if config.answer_ok else "refused")
        return cls(
            device_id=config.device_id, version=config.version, settings=config.settings,
            created_at=config.created_at, created_by=config.created_by, published_at=config.published_at,
            answer=answer, answered_at=config.answered_at, answer_detail=config.answer_detail,
        )  # fmt: skip


@router.put("/{device_id}/config", response_model=ConfigPublic, status_code=status.HTTP_202_ACCEPTED)
def push(
    *, device_id: DeviceIdPath, body: ConfigUpdate, operator: RequireOperator, context: ContextDep, client: ClientDep,
    now: NowDep,
) -> ConfigPublic:  # fmt: skip
    """Number, sign and publish (retained) the device's next configuration; the terminal checks it with its own
    config models, answers, and restarts into it when it takes it."""
    result = configs.push_config(
        context.services.engine, context.services.publisher, context.services.config_signer,
        actor(operator, client), device_id, settings=body.settings, now=now,
    )  # fmt: skip
    return ConfigPublic.of(result.config)


@router.get("/{device_id}/config", response_model=ConfigPublic)
def current(*, device_id: DeviceIdPath, _viewer: RequireViewer, engine: EngineDep) -> ConfigPublic:
    """The newest configuration pushed to the device, and its answer."""
    config = configs.current_config(engine, device_id)
    if config is None:
        raise NotFoundError(f"no configuration was pushed to {device_id}")
    return ConfigPublic.of(config)


@router.get("/{device_id}/configs", response_model=list[ConfigPublic])
def history(
    *,
    device_id: DeviceIdPath,
    _viewer: RequireViewer,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ConfigPublic]:
    """Every version pushed to the device, newest first."""
    return [ConfigPublic.of(config) for config in configs.history(engine, device_id, limit=limit)]
