"""Care-profile routes: people, their sections (with ETags), memories and compiled instructions."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Response, status
from pydantic import BaseModel, ConfigDict, StringConstraints
from starlette.convertors import Convertor, register_url_convertor

from companion.accounts import AccountService
from companion.api.deps import PrincipalDep, ServicesDep
from companion.auth import Role
from companion.errors import Forbidden, PreconditionFailed
from companion.profiles.models import SECTIONS


async def care_team_only(principal: PrincipalDep) -> None:
    """Profiles are health data for the care team; a device token only opens live sessions."""
    if principal.role is Role.DEVICE:
        raise Forbidden("A device token cannot read or change care profiles")


router = APIRouter(prefix="/api/users", tags=["profiles"], dependencies=[Depends(care_team_only)])

USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
UserId = Annotated[str, Path(pattern=USER_ID_PATTERN, description="e.g. user-tiferet-001")]
NO_VERSION_MATCHES = -1  # an If-Match that is not a version can match nothing


class SectionConvertor(Convertor[str]):
    """A path segment that is one of the section names, and nothing else.

    ``/{user_id}/{section}`` matching any word made every path of that shape its own: ``PUT
    /api/users/x/alerts`` reached the section route (and answered 422 for its missing body) instead of
    405 with the alerts route's ``Allow``. Matching only the sections, an unknown name is the router's
    404, a known path with a method it lacks the router's 405, as the API document says."""

    regex = "|".join(re.escape(name) for name in SECTIONS)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


SECTION_CONVERTOR = "companion_section"  # Starlette's convertors are one global table: a unique name
register_url_convertor(SECTION_CONVERTOR, SectionConvertor())
SECTION_PATH = "/{user_id}/{section:" + SECTION_CONVERTOR + "}"


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    userId: Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)]


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> tuple[int | None, bool]:
    """(version, any): ``"3"``, ``W/"3"`` and ``3`` name version 3; ``*`` means any existing version."""
    if header is None:
        return None, False
    value = header.strip()
    if value == "*":
        return None, True
    value = value.removeprefix("W/").strip().strip('"')
    try:
        return int(value), False
    except ValueError:
        return NO_VERSION_MATCHES, False


@router.get("")
async def list_users(services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"users": await services.auth.visible_users(principal)}


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(body: NewUser, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Admins and caregivers add people; a caregiver is assigned the person it adds (one transaction).
    Someone else's person is a 404, as for a read (``AccountService.create_person``)."""
    await AccountService.of(services).create_person(principal, body.userId)
    return {"userId": body.userId}


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def erase_user(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Erase the person and everything about them, at once and for good; their live conversations end.
    Admins, and caregivers assigned to the person (why: ``companion.accounts.service``); audited."""
    await AccountService.of(services).erase_person(principal, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{user_id}")
async def get_user(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    states, memories = await services.profiles.all_sections(user_id)
    return {
        "userId": user_id,
        "sections": {
            s.name: {
                "data": s.data.model_dump(mode="json", by_alias=True) if s.data else None,
                "version": s.version,
                "updatedAt": s.updated_at.isoformat() if s.updated_at else None,
            }
            for s in states
        },
        "memories": [m.model_dump(mode="json", by_alias=True) for m in memories],
    }


@router.get("/{user_id}/instructions")
async def get_instructions(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    built = await services.instructions(user_id)
    return {
        "text": built.text,
        "version": built.version,
        "language": built.language,
        "sections": [{"name": s.name, "chars": s.chars} for s in built.sections],
        "tokensEstimate": built.tokens_estimate,
        "droppedMemories": built.dropped_memories,
    }


@router.get("/{user_id}/memories")
async def list_memories(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    memories = await services.profiles.list_memories(user_id)
    return {"memories": [m.model_dump(mode="json", by_alias=True) for m in memories]}


@router.post("/{user_id}/memories", status_code=status.HTTP_201_CREATED)
async def add_memory(
    user_id: UserId, services: ServicesDep, principal: PrincipalDep, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    memory, live = await services.profiles.add_memory(user_id, body, strict=True)
    return {"memory": memory.model_dump(mode="json", by_alias=True), "liveSessions": live.as_json()}


@router.delete("/{user_id}/memories/{memory_id}")
async def delete_memory(
    user_id: UserId, memory_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    live = await services.profiles.delete_memory(user_id, memory_id)
    return {"deleted": memory_id, "liveSessions": live.as_json()}


@router.get(SECTION_PATH)
async def get_section(
    user_id: UserId, section: str, response: Response, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    state = await services.profiles.get_section(user_id, section)
    assert state.data is not None
    assert state.version is not None
    response.headers["ETag"] = etag(state.version)
    return {"data": state.data.model_dump(mode="json", by_alias=True), "version": state.version}


@router.put(SECTION_PATH)
async def put_section(
    user_id: UserId,
    section: str,
    response: Response,
    services: ServicesDep,
    principal: PrincipalDep,
    body: Annotated[Any, Body()],
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    await services.auth.require_user(principal, user_id)
    version, any_version = parse_if_match(if_match)
    try:
        result = await services.profiles.save_section(
            user_id, section, body, if_match=version, if_match_any=any_version, strict=True
        )
    except PreconditionFailed as exc:
        exc.message = (
            f"The {section} section was changed by someone else (now version {exc.current_version}); "
            "reload it and apply your change again"
            if exc.current_version is not None
            else f"The {section} section does not exist yet: save it without If-Match to create it"
        )
        raise
    response.headers["ETag"] = etag(result.version)
    return {
        "userId": user_id,
        "section": section,
        "version": result.version,
        "data": result.data.model_dump(mode="json", by_alias=True),
        "liveSessions": result.live_sessions.as_json(),
    }
