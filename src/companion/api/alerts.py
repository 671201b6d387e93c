"""Alerts, newest first, each with its deliveries (who was sent what, and every try); acknowledging and
resolving them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from companion.api.deps import PrincipalDep, ServicesDep
from companion.api.users import UserId, care_team_only
from companion.auth import Principal
from companion.care.alerts import Alert, AlertDelivery

router = APIRouter(prefix="/api/users", tags=["alerts"])


# The answers' shapes, for the API document only (the routes build them with alert_json).
class AttemptAnswer(BaseModel):
    at: datetime
    result: Literal["sent", "failed", "retry"]
    detail: str


class DeliveryAnswer(BaseModel):
    stage: int
    channel: str
    to: str
    address: str
    status: str
    attempts: list[AttemptAnswer]


class AlertAnswer(Alert):
    deliveries: list[DeliveryAnswer]


class AlertsAnswer(BaseModel):
    alerts: list[AlertAnswer]


class OneAlertAnswer(BaseModel):
    alert: AlertAnswer


def alert_json(alert: Alert, deliveries: list[AlertDelivery]) -> dict[str, Any]:
    body = alert.model_dump(mode="json", by_alias=True)
    body["deliveries"] = [d.as_json() for d in deliveries]
    return body


def _who(principal: Principal) -> str:
    return principal.caregiver_id or principal.token_id


@router.get("/{user_id}/alerts", response_model=None, responses={200: {"model": AlertsAnswer}})
async def list_alerts(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    await care_team_only(principal)
    await services.auth.require_user(principal, user_id)
    alerts = await services.alerts.list(user_id)
    deliveries = await services.alerts.deliveries_by_alert(user_id)
    return {"alerts": [alert_json(a, deliveries.get(a.id, [])) for a in alerts]}


@router.post(
    "/{user_id}/alerts/{alert_id}/acknowledge",
    response_model=None,
    responses={200: {"model": OneAlertAnswer}},
)
async def acknowledge_alert(
    user_id: UserId, alert_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Stops the alert's escalation; the first acknowledgement is kept."""
    await care_team_only(principal)
    await services.auth.require_user(principal, user_id)
    alert = await services.alerts.acknowledge(user_id, alert_id, by=_who(principal), via="api")
    return {"alert": alert_json(alert, await services.alerts.deliveries(user_id, alert_id))}


@router.post(
    "/{user_id}/alerts/{alert_id}/resolve", response_model=None, responses={200: {"model": OneAlertAnswer}}
)
async def resolve_alert(
    user_id: UserId, alert_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    await care_team_only(principal)
    await services.auth.require_user(principal, user_id)
    alert = await services.alerts.resolve(user_id, alert_id, by=_who(principal), via="api")
    return {"alert": alert_json(alert, await services.alerts.deliveries(user_id, alert_id))}
