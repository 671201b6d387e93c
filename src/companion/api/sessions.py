"""Live-session routes: list, inspect, close, and refresh (confirmed) one session or all of a user's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from companion.api.deps import PrincipalDep, ServicesDep
from companion.api.users import UserId
from companion.auth import Principal
from companion.errors import CompanionError, NotFound
from companion.realtime.endings import Ending
from companion.realtime.records import ClosedSession
from companion.realtime.session import LiveSession, RefreshRecord
from companion.services import Services

router = APIRouter(prefix="/realtime", tags=["live sessions"])


async def _visible(services: Services, principal: Principal, session_id: str) -> LiveSession | ClosedSession:
    session = services.sessions.get(session_id)
    if not await services.auth.can_access(principal, session.user_id):
        raise NotFound(f"Session {session_id} not found")
    return session


def _refresh_body(session: LiveSession | ClosedSession, record: RefreshRecord) -> dict[str, Any]:
    message = {
        "refreshed": "The model confirmed the new instructions.",
        "unchanged": "The instructions are already current; nothing was sent.",
    }.get(record.result.value, record.message)
    return {
        "success": True,
        "message": message,
        "sessionId": session.id,
        "result": record.result.value,
        "instructionsVersion": record.version,
        "latencyMs": round(record.latency_ms, 3),
    }


@router.get("/sessions")
async def list_sessions(
    services: ServicesDep,
    principal: PrincipalDep,
    includeClosed: bool = False,
) -> dict[str, Any]:
    visible = set(await services.auth.visible_users(principal))
    sessions = services.sessions.all(include_closed=includeClosed)
    return {"sessions": [s.as_json() for s in sessions if s.user_id in visible]}


@router.get("/session/{session_id}")
async def get_session(session_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return (await _visible(services, principal, session_id)).as_json()


@router.delete("/session/{session_id}")
async def close_session(session_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    session = await _visible(services, principal, session_id)
    await session.close(Ending.NORMAL, "closed by the care team")
    return {"success": True, "sessionId": session.id, "status": session.status.value}


@router.post("/session/{session_id}/refresh")
async def refresh_session(session_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    session = await _visible(services, principal, session_id)
    record = await services.sessions.refresh(session.id)
    return _refresh_body(session, record)


@router.post("/users/{user_id}/refresh")
async def refresh_user(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    results = []
    for session, outcome in await services.sessions.refresh_user(user_id):
        if isinstance(outcome, CompanionError):
            results.append(
                {
                    "success": False,
                    "sessionId": session.id,
                    "statusCode": outcome.status,
                    "message": outcome.message,
                }
            )
        else:
            results.append(_refresh_body(session, outcome))
    return {"userId": user_id, "success": all(r["success"] for r in results), "sessions": results}
