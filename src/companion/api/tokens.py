"""Token routes (administrators): make one, list them without their secrets, revoke one.

A revoked token stops working at the next request, on every instance (each request reads the token's
row), and a device token's live conversations end at once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from companion.accounts import AccountService
from companion.api.deps import PrincipalDep, ServicesDep
from companion.api.users import USER_ID_PATTERN
from companion.auth import Role
from companion.auth.service import MAX_TOKEN_LIFETIME_S, MIN_TOKEN_LIFETIME_S
from companion.store import TokenRecord

router = APIRouter(prefix="/tokens", tags=["admin"])


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    role: Literal["admin", "caregiver", "device"]
    userId: Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)] | None = None
    caregiverId: Annotated[str, StringConstraints(max_length=64)] | None = None
    label: Annotated[str, StringConstraints(max_length=80)] | None = None
    expiresIn: (
        Annotated[
            int,
            Field(
                ge=MIN_TOKEN_LIFETIME_S,
                le=MAX_TOKEN_LIFETIME_S,
                description="Seconds until the token stops working; default by role (admin 30 days, "
                "caregiver 180 days, device 365 days)",
            ),
        ]
        | None
    ) = None


def token_json(record: TokenRecord) -> dict[str, Any]:
    """What may be shown about a token: never its secret, nor its hash."""
    return {
        "id": record.id,
        "role": record.role,
        "userId": record.user_id,
        "caregiverId": record.caregiver_id,
        "label": record.label,
        "created": record.created_at.isoformat(),
        "expires": record.expires_at.isoformat() if record.expires_at else None,
        "lastUsed": record.last_used_at.isoformat() if record.last_used_at else None,
    }


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_token(body: NewToken, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """The token is shown in this answer only; the service keeps just its hash."""
    token, record = await AccountService.of(services).create_token(
        principal,
        Role(body.role),
        user_id=body.userId,
        caregiver_id=body.caregiverId,
        label=body.label,
        expires_in=body.expiresIn,
    )
    return {"token": token, **token_json(record)}


@router.get("")
async def list_tokens(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    records = await AccountService.of(services).list_tokens(principal)
    return {"tokens": [token_json(r) for r in records]}


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    await AccountService.of(services).revoke_token(principal, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
