"""Admin routes: tokens, caregiver accounts and which people each caregiver looks after."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, StringConstraints

from companion.api.deps import PrincipalDep, ServicesDep
from companion.api.users import USER_ID_PATTERN, UserId
from companion.auth import Role
from companion.errors import NotFound

router = APIRouter(prefix="/api", tags=["admin"])

MIN_PASSWORD = 8  # short passwords fall to guessing even with argon2
MAX_PASSWORD = 256  # bounds the hashing cost an attacker can ask for


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NewToken(Strict):
    role: Literal["admin", "caregiver", "device"]
    userId: Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)] | None = None
    caregiverId: Annotated[str, StringConstraints(max_length=64)] | None = None
    label: Annotated[str, StringConstraints(max_length=80)] | None = None


class NewCaregiver(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@\-]{3,64}$")]
    password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(body: NewToken, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """The token is shown in this answer only; the service keeps just its hash."""
    principal.require_admin()
    token, record = await services.auth.create_token(
        Role(body.role), user_id=body.userId, caregiver_id=body.caregiverId, label=body.label
    )
    return {
        "token": token,
        "id": record.id,
        "role": record.role,
        "userId": record.user_id,
        "caregiverId": record.caregiver_id,
    }


@router.post("/caregivers", status_code=status.HTTP_201_CREATED)
async def create_caregiver(
    body: NewCaregiver, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    principal.require_admin()
    record = await services.auth.create_caregiver(
        name=body.name, username=body.username, password=body.password
    )
    return {"id": record.id, "name": record.name, "username": record.username}


@router.get("/caregivers")
async def list_caregivers(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    principal.require_admin()
    records = await services.store.list_caregivers()
    return {
        "caregivers": [
            {"id": r.id, "name": r.name, "username": r.username, "users": await services.store.users_of(r.id)}
            for r in records
        ]
    }


@router.post("/caregivers/{caregiver_id}/users/{user_id}")
async def assign(
    caregiver_id: str, user_id: UserId, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    principal.require_admin()
    if await services.store.get_caregiver(caregiver_id) is None:
        raise NotFound(f"Caregiver {caregiver_id} not found")
    if not await services.store.user_exists(user_id):
        raise NotFound(f"User {user_id} not found")
    await services.store.assign(caregiver_id, user_id)
    return {"caregiverId": caregiver_id, "users": await services.store.users_of(caregiver_id)}


@router.delete("/caregivers/{caregiver_id}/users/{user_id}")
async def unassign(
    caregiver_id: str, user_id: UserId, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    principal.require_admin()
    if not await services.store.unassign(caregiver_id, user_id):
        raise NotFound(f"Caregiver {caregiver_id} is not assigned to {user_id}")
    return {"caregiverId": caregiver_id, "users": await services.store.users_of(caregiver_id)}
