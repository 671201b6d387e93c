"""A person's tablets: pairing codes for new ones, the list, and disconnecting one.

Only the care team (a caregiver of that person, or an admin) may do any of it; a device token gets
403 like on every care-team route, and another family's person is the usual plain 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from companion.api.deps import PrincipalDep, ServicesDep
from companion.api.headers import NO_STORE
from companion.api.users import UserId, care_team_only
from companion.edge import public_base_url
from companion.elder import paths
from companion.services import Services
from companion.store import DeviceRecord

router = APIRouter(prefix="/api/users", tags=["devices"], dependencies=[Depends(care_team_only)])


# The answers' shapes, for the API document only (the routes build them as plain dicts).
class PairingAnswer(BaseModel):
    code: str
    url: str
    expiresAt: datetime


class DeviceAnswer(BaseModel):
    id: str
    label: str
    userId: str
    createdAt: datetime
    lastSeenAt: datetime
    liveSessions: int


class DevicesAnswer(BaseModel):
    devices: list[DeviceAnswer]


def pairing_url(request: Request, code: str) -> str:
    """Absolute, at the address the tablet will open (``COMPANION_PUBLIC_URL`` when set)."""
    settings = request.app.state.services.settings
    return public_base_url(settings, request) + paths.PAIR + "/" + code


def device_json(device: DeviceRecord, services: Services) -> dict[str, Any]:
    return {
        "id": device.id,
        "label": device.label,
        "userId": device.user_id,
        "createdAt": device.created_at.isoformat(),
        "lastSeenAt": device.last_seen_at.isoformat(),
        "liveSessions": len(services.sessions.of_device(device.id)),
    }


@router.post(
    "/{user_id}/pairings", status_code=status.HTTP_201_CREATED, responses={201: {"model": PairingAnswer}}
)
async def create_pairing(
    user_id: UserId, request: Request, services: ServicesDep, principal: PrincipalDep
) -> JSONResponse:
    """A single-use code (and its link) that pairs one tablet with this person within ten minutes."""
    await services.auth.require_user(principal, user_id)
    pairing = await services.devices.create_pairing(
        user_id, created_by=principal.caregiver_id or principal.token_id
    )
    body = {
        "code": pairing.code,
        "url": pairing_url(request, pairing.code),
        "expiresAt": pairing.expires_at.isoformat(),
    }
    return JSONResponse(body, status_code=status.HTTP_201_CREATED, headers=NO_STORE)


@router.get("/{user_id}/devices", response_model=None, responses={200: {"model": DevicesAnswer}})
async def list_devices(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    return {"devices": [device_json(d, services) for d in await services.devices.devices_of(user_id)]}


@router.delete("/{user_id}/devices/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_device(
    user_id: UserId, device_id: str, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """The device, its secrets and its live conversations end now; its cookie stops working."""
    await services.auth.require_user(principal, user_id)
    await services.devices.revoke(user_id, device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
