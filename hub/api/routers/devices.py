"""``/api/v1/devices``: inventory with presence, pre-authorise, approve, edit, decommission."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from hub.api.deps import ClientDep, ContextDep, EngineDep, NowDep, RequireOperator, RequireViewer, actor
from hub.api.models import DeviceChanged, DeviceCreate, DevicePublic, DeviceUpdate
from hub.api.problems import PROBLEM_RESPONSES
from hub.operations import fleet
from hub.operations.fleet import BrokerSide, DeviceDetail, Enrolment
from hub.storage.devices import DeviceStatus

router = APIRouter(prefix="/api/v1/devices", tags=["devices"], responses=PROBLEM_RESPONSES)

DeviceIdPath = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$", description="Device id.")]


def _changed(detail: DeviceDetail, side: BrokerSide) -> DeviceChanged:
    return DeviceChanged(**DevicePublic.of(detail).model_dump(), broker=side.value)


@router.get("", response_model=list[DevicePublic])
def list_devices(
    *, _viewer: RequireViewer, engine: EngineDep, status: DeviceStatus | None = None
) -> list[DevicePublic]:
    """Every device (or those in one ``status``) with presence and streams."""
    return [DevicePublic.of(detail) for detail in fleet.details(engine, status)]


@router.post(
    "",
    response_model=DeviceChanged,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": DeviceChanged, "description": "The same id with the same key was there already."},
        502: {"description": "The hub enrolled it; the broker did not (repeat the request)."},
    },
)
def preauthorise(
    *,
    body: DeviceCreate,
    operator: RequireOperator,
    context: ContextDep,
    client: ClientDep,
    now: NowDep,
    response: Response,
) -> DeviceChanged:
    """Pre-authorise a terminal by id and key (the flashing tool): 201 created; the same id and key again changes
    nothing (200, and sets the broker password again); another key is a 409. ``approved: false`` records a pending
    request."""
    enrolment = Enrolment(
        body.id, body.public_key_pem, body.profile, body.site, body.grid_cell, body.broker_password, body.approved
    )
    done = fleet.preauthorise(
        context.services.engine, actor(operator, client), enrolment, now=now, broker=context.services.broker
    )
    if not done.created:
        response.status_code = status.HTTP_200_OK
    return _changed(done.detail, done.broker)


@router.get("/{device_id}", response_model=DevicePublic)
def get_device(*, device_id: DeviceIdPath, _viewer: RequireViewer, engine: EngineDep) -> DevicePublic:
    """One device."""
    return DevicePublic.of(fleet.device_detail(engine, device_id))


@router.patch("/{device_id}", response_model=DevicePublic)
def update_device(
    *, device_id: DeviceIdPath, body: DeviceUpdate, operator: RequireOperator, engine: EngineDep, client: ClientDep,
    now: NowDep,
) -> DevicePublic:  # fmt: skip
    """Change a device's site or grid cell."""
    changes = body.model_dump(exclude_unset=True)
    return DevicePublic.of(fleet.update(engine, actor(operator, client), device_id, changes, now=now))


@router.post("/{device_id}/approve", response_model=DevicePublic)
def approve(
    *, device_id: DeviceIdPath, operator: RequireOperator, engine: EngineDep, client: ClientDep, now: NowDep
) -> DevicePublic:
    """Approve a pending request."""
    return DevicePublic.of(fleet.approve(engine, actor(operator, client), device_id, now=now))


@router.post(
    "/{device_id}/decommission",
    response_model=DeviceChanged,
    responses={502: {"description": "The hub refuses it; the broker did not disable it (repeat the request)."}},
)
def decommission(
    *, device_id: DeviceIdPath, operator: RequireOperator, context: ContextDep, client: ClientDep, now: NowDep
) -> DeviceChanged:
    """Retire a terminal: the hub refuses its batches at once, the broker disables it and drops its connection."""
    detail, side = fleet.decommission(
        context.services.engine, actor(operator, client), device_id, now=now, broker=context.services.broker
    )
    return _changed(detail, side)
