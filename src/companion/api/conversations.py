"""A person's conversations, their day, and everything stored about them (the family's right of
access); and editing a memory learned in conversation. The care team only: a device token reads none."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response, status
from pydantic import BaseModel

from companion.api.deps import PrincipalDep, ServicesDep
from companion.api.users import UserId, care_team_only, etag, parse_if_match
from companion.auth import Principal
from companion.conversations.today import Today
from companion.conversations.views import conversation_json, decode_cursor, encode_cursor
from companion.errors import InvalidInput, PreconditionFailed

router = APIRouter(prefix="/api/users", tags=["conversations"], dependencies=[Depends(care_team_only)])

ConversationId = Annotated[str, Path(max_length=200, description="e.g. sess-0123456789abcdef")]
DEFAULT_PAGE = 20
MAX_WORDS = 200
DAY = r"^\d{4}-\d{2}-\d{2}$"


# ---- the answers' shapes, for the API document --------------------------------------------------


class TimelineAnswer(BaseModel):
    at: str
    kind: str
    label: str


class TurnAnswer(BaseModel):
    seq: int
    role: Literal["person", "companion"]
    at: str
    text: str
    cut: bool


class ConversationAnswer(BaseModel):
    id: str
    startedAt: str
    endedAt: str | None
    durationSeconds: int
    endedHow: Literal["person", "network", "cap", "revoked", "error"] | None
    records: Literal["none", "summary", "transcript"]
    deviceId: str | None
    connections: dict[str, int]
    turns: dict[str, int]
    talkSeconds: dict[str, int]
    did: dict[str, int]
    summary: str | None
    summaryKind: Literal["model", "running", "digest"] | None
    timeline: list[TimelineAnswer]


class OneConversationAnswer(BaseModel):
    conversation: ConversationAnswer
    transcript: list[TurnAnswer]


class ConversationsAnswer(BaseModel):
    conversations: list[ConversationAnswer]
    nextCursor: str | None


class DayAnswer(BaseModel):
    date: str
    minutes: float
    doses: int
    conversations: int


class RemindersToday(BaseModel):
    taken: int
    missed: int
    waiting: int


class TodayAnswer(BaseModel):
    date: str
    conversations: int
    minutes: float
    last: ConversationAnswer | None
    reminders: RemindersToday
    openAlerts: int
    memoriesToReview: int
    days: list[DayAnswer]


class ExportAnswer(BaseModel):
    exportVersion: int
    exportedAt: str
    userId: str
    profile: dict[str, Any]
    memories: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    reminders: list[dict[str, Any]]
    conversations: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    photos: list[dict[str, Any]]
    records: dict[str, list[dict[str, Any]]]


class MemoryAnswer(BaseModel):
    memory: dict[str, Any]
    version: int


def today_json(today: Today) -> dict[str, Any]:
    return {
        "date": today.day.isoformat(),
        "conversations": today.conversations,
        "minutes": round(today.minutes, 1),
        "last": conversation_json(today.last) if today.last else None,
        "reminders": {"taken": today.taken, "missed": today.missed, "waiting": today.waiting},
        "openAlerts": today.open_alerts,
        "memoriesToReview": today.memories_to_review,
        "days": [d.as_json() for d in today.days],
    }


def _day(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field} must be a day such as 2026-03-01", field=field) from None


def _who(principal: Principal) -> str:
    return principal.caregiver_id or principal.token_id


# ---- routes ------------------------------------------------------------------------------------------


@router.get("/{user_id}/conversations", response_model=None, responses={200: {"model": ConversationsAnswer}})
async def list_conversations(
    user_id: UserId,
    services: ServicesDep,
    principal: PrincipalDep,
    first_day: Annotated[
        str | None,
        Query(alias="from", pattern=DAY, description="first day (YYYY-MM-DD), in the person's zone"),
    ] = None,
    last_day: Annotated[str | None, Query(alias="to", pattern=DAY, description="last day, included")] = None,
    q: Annotated[
        str | None, Query(max_length=MAX_WORDS, description="words in a summary or transcript")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=400, description="nextCursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = DEFAULT_PAGE,
) -> dict[str, Any]:
    """Newest first; ``from``/``to`` are the person's local days; ``q`` searches summaries and, where
    kept, transcripts (Hebrew and English)."""
    await services.auth.require_user(principal, user_id)
    first, last = _day(first_day, "from"), _day(last_day, "to")
    if first and last and first > last:
        raise InvalidInput("from must not be after to", field="from")
    after = decode_cursor(cursor) if cursor else None
    start, end = await services.family.range_of(user_id, first, last)
    words = q.strip() if q else None
    page = await services.conversations.page(
        user_id, start=start, end=end, words=words or None, after=after, limit=limit + 1
    )
    more = len(page) > limit
    page = page[:limit]
    return {
        "conversations": [conversation_json(c) for c in page],
        "nextCursor": encode_cursor(page[-1]) if more and page else None,
    }


@router.get(
    "/{user_id}/conversations/{conversation_id}",
    response_model=None,
    responses={200: {"model": OneConversationAnswer}},
)
async def get_conversation(
    user_id: UserId, conversation_id: ConversationId, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """One conversation with its timeline, and its transcript where transcripts are kept."""
    await services.auth.require_user(principal, user_id)
    record, turns = await services.conversations.get(user_id, conversation_id)
    body = conversation_json(record, turns)
    transcript = body.pop("transcript")
    return {"conversation": body, "transcript": transcript}


@router.delete("/{user_id}/conversations/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_conversation(
    user_id: UserId, conversation_id: ConversationId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Delete one conversation and its transcript, for good; audited."""
    await services.auth.require_user(principal, user_id)
    await services.conversations.delete(user_id, conversation_id, actor=_who(principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{user_id}/today", response_model=None, responses={200: {"model": TodayAnswer}})
async def get_today(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """The person's day (in their zone), and 14 days of minutes talked and doses taken."""
    await services.auth.require_user(principal, user_id)
    return today_json(await services.family.today(user_id))


@router.get("/{user_id}/export", response_model=None, responses={200: {"model": ExportAnswer}})
async def export_person(user_id: UserId, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    """Everything stored about the person, as one JSON document (devices without secrets); audited."""
    await services.auth.require_user(principal, user_id)
    return await services.family.export(user_id, actor=_who(principal))


@router.get("/{user_id}/memories/{memory_id}", response_model=None, responses={200: {"model": MemoryAnswer}})
async def get_memory(
    user_id: UserId, memory_id: str, response: Response, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """One memory and its version (the ``ETag`` an edit sends back as ``If-Match``)."""
    await services.auth.require_user(principal, user_id)
    memory, version = await services.profiles.get_memory(user_id, memory_id)
    response.headers["ETag"] = etag(version)
    return {"memory": memory.model_dump(mode="json", by_alias=True), "version": version}


@router.patch(
    "/{user_id}/memories/{memory_id}", response_model=None, responses={200: {"model": MemoryAnswer}}
)
async def edit_memory(
    user_id: UserId,
    memory_id: str,
    response: Response,
    services: ServicesDep,
    principal: PrincipalDep,
    body: Annotated[Any, Body()],
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Change a memory's text, type or importance; If-Match is required. Editing a memory learned in
    conversation keeps it."""
    await services.auth.require_user(principal, user_id)
    version, any_version = parse_if_match(if_match)
    if any_version:
        version = (await services.profiles.get_memory(user_id, memory_id))[1]
    try:
        memory, saved, _ = await services.profiles.edit_memory(user_id, memory_id, body, if_match=version)
    except PreconditionFailed as exc:
        exc.message = (
            f"The memory was changed by someone else (now version {exc.current_version}); "
            "reload it and apply your change again"
        )
        raise
    response.headers["ETag"] = etag(saved)
    return {"memory": memory.model_dump(mode="json", by_alias=True), "version": saved}
