"""Live-session routes: list, inspect, close, and refresh (confirmed) one session or all of a user's.

Every route works on any instance: a session another instance holds is found in the shared registry
and the command is routed to its owner, which answers as it would have answered itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from companion.api.deps import PrincipalDep, ServicesDep
from companion.api.users import UserId
from companion.auth import Principal
from companion.cluster.directory import SessionDirectory
from companion.errors import NotFound
from companion.services import Services

router = APIRouter(prefix="/realtime", tags=["live sessions"])


async def _visible(services: Services, principal: Principal, session_id: str) -> SessionDirectory:
    """The directory, once the caller may see this session (an unknown and a hidden one are both 404)."""
    directory = services.directory
    user_id = await directory.user_of(session_id)
    if not await services.auth.can_access(principal, user_id):
        raise NotFound(f"Session {session_id} not found")
    return directory


@router.get("/sessions")
async def list_sessions(
    services: ServicesDep,
    principal: PrincipalDep,
    includeClosed: bool = False,
) -> dict[str, Any]:
    visible = set(await services.auth.visible_users(principal))
    sessions, complete = await services.directory.all(include_closed=includeClosed)
    body: dict[str, Any] = {"sessions": [s for s in sessions if s.get("userId") in visible]}
    if not complete:
        body["complete"] = False  # other instances could not be asked (Redis unreachable)
    return body


@router.get("/session/{session_id}")
async def get_session(session_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return await (await _visible(services, principal, session_id)).get(session_id)


@router.delete("/session/{session_id}")
async def close_session(session_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    directory = await _visible(services, principal, session_id)
    return await directory.close(session_id, "closed by the care team")


@router.post("/session/{session_id}/refresh")
async def refresh_session(session_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return await (await _visible(services, principal, session_id)).refresh(session_id)


@router.post("/users/{user_id}/refresh")
async def refresh_user(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    results = await services.directory.refresh_user(user_id)
    return {"userId": user_id, "success": all(r["success"] for r in results), "sessions": results}
