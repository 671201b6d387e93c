"""Alerts raised by conversations, newest first, and resolving them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from companion.api.deps import PrincipalDep, ServicesDep
from companion.api.users import UserId, care_team_only

router = APIRouter(prefix="/api/users", tags=["alerts"])


@router.get("/{user_id}/alerts")
async def list_alerts(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    await care_team_only(principal)
    await services.auth.require_user(principal, user_id)
    return {"alerts": [a.model_dump(mode="json", by_alias=True) for a in await services.alerts.list(user_id)]}


@router.post("/{user_id}/alerts/{alert_id}/resolve")
async def resolve_alert(
    user_id: UserId, alert_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    await care_team_only(principal)
    await services.auth.require_user(principal, user_id)
    alert = await services.alerts.resolve(user_id, alert_id, by=principal.caregiver_id or principal.token_id)
    return {"alert": alert.model_dump(mode="json", by_alias=True)}
