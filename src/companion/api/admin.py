"""Admin routes: caregiver accounts, which people each caregiver looks after, and (``tokens``) tokens.

The rules live in ``AccountService``; these routes only translate HTTP to it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, StringConstraints

from companion.accounts import AccountService
from companion.api import tokens
from companion.api.deps import PrincipalDep, ServicesDep
from companion.api.users import USER_ID_PATTERN, UserId

router = APIRouter(prefix="/api", tags=["admin"])
# Mounted here so that the app's wiring (one include of this router) also serves /api/tokens.
router.include_router(tokens.router)

MIN_PASSWORD = 8  # short passwords fall to guessing even with argon2
MAX_PASSWORD = 256  # bounds the hashing cost an attacker can ask for
NewToken = tokens.NewToken  # kept importable from here for existing callers


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NewCaregiver(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@\-]{3,64}$")]
    password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
    users: list[Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)]] = []


@router.post("/caregivers", status_code=status.HTTP_201_CREATED)
async def create_caregiver(
    body: NewCaregiver, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """With ``users``, the account and its assignments are made together or not at all."""
    record = await AccountService.of(services).create_caregiver(
        principal, name=body.name, username=body.username, password=body.password, user_ids=body.users
    )
    users = sorted(set(body.users))
    return {"id": record.id, "name": record.name, "username": record.username, "users": users}


@router.get("/caregivers")
async def list_caregivers(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    views = await AccountService.of(services).list_caregivers(principal)
    return {
        "caregivers": [
            {"id": v.record.id, "name": v.record.name, "username": v.record.username, "users": v.users}
            for v in views
        ]
    }


@router.delete("/caregivers/{caregiver_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_caregiver(caregiver_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """The account, its tokens and its assignments; the people it looked after stay."""
    await AccountService.of(services).erase_caregiver(principal, caregiver_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/caregivers/{caregiver_id}/users/{user_id}")
async def assign(
    caregiver_id: str, user_id: UserId, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    users = await AccountService.of(services).assign(principal, caregiver_id, user_id)
    return {"caregiverId": caregiver_id, "users": users}


@router.delete("/caregivers/{caregiver_id}/users/{user_id}")
async def unassign(
    caregiver_id: str, user_id: UserId, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    users = await AccountService.of(services).unassign(principal, caregiver_id, user_id)
    return {"caregiverId": caregiver_id, "users": users}
