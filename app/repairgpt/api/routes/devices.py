"""Devices: list and search by name, brand, model, category or alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from repairgpt.api.deps import ReadSessionDep
from repairgpt.api.problems import ProblemError
from repairgpt.models import Device
from repairgpt.schemas import MAX_DB_INT, DevicePublic, DevicesPublic, SafeStr
from repairgpt.services.devices import search_devices

router = APIRouter(prefix="/devices", tags=["devices"])


@router.get("", response_model=DevicesPublic, summary="List or search devices")
def list_devices(
    session: ReadSessionDep,
    q: Annotated[SafeStr | None, Query(max_length=200, description="Name, brand or alias.")] = None,
    category: Annotated[SafeStr | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DevicesPublic:
    devices, count = search_devices(
        session=session, q=q, category=category, limit=limit, offset=offset
    )
    return DevicesPublic(data=[DevicePublic.model_validate(d) for d in devices], count=count)


@router.get("/{device_id}", response_model=DevicePublic, summary="One device")
def get_device(
    session: ReadSessionDep, device_id: Annotated[int, Path(ge=1, le=MAX_DB_INT)]
) -> DevicePublic:
    device = session.get(Device, device_id)
    if device is None:
        raise ProblemError(404, f"Device {device_id} does not exist.", slug="not-found")
    return DevicePublic.model_validate(device)
