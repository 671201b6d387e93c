"""A person's conversations on the dashboard: the history (dates, words, pages), one conversation
(summary, timeline, transcript where kept, delete), and the memories learned in conversation (edit,
keep, remove, and which conversation taught each). The person's page shows their today
(``today.py``), with the 14-day strip drawn by ``strip.py``.

Summaries and transcripts are a model's and a person's words: the templates escape them like any
other text (Jinja's autoescape), and nothing of theirs is ever marked safe.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Response

from companion.conversations.views import decode_cursor, encode_cursor
from companion.dashboard.pages import person_crumb
from companion.dashboard.web import PREFIX, DashboardRoute, MemberDep, Page, PostDep
from companion.errors import InvalidInput, PreconditionFailed
from companion.profiles.models import MemorySource

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

PAGE_SIZE = 20


def _who(page: Page) -> str:
    return page.principal.caregiver_id or page.principal.token_id


def _day(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@router.get("/people/{user_id}/conversations")
async def conversations(page: MemberDep, user_id: str) -> Response:
    await page.person(user_id)
    query = page.request.query_params
    first, last = _day(query.get("from", "")), _day(query.get("to", ""))
    words = query.get("q", "").strip()[:200]
    error = None
    if (query.get("from") and first is None) or (query.get("to") and last is None):
        error = page.t("history.bad_date")
    elif first and last and first > last:
        error = page.t("history.bad_range")
    after = None
    cursor = query.get("cursor", "")
    if cursor:
        try:
            after = decode_cursor(cursor)
        except InvalidInput:
            error = page.t("history.bad_cursor")
    found: list[Any] = []
    next_cursor = None
    if error is None:
        start, end = await page.services.family.range_of(user_id, first, last)
        found = await page.services.conversations.page(
            user_id, start=start, end=end, words=words or None, after=after, limit=PAGE_SIZE + 1
        )
        if len(found) > PAGE_SIZE:
            found = found[:PAGE_SIZE]
            next_cursor = encode_cursor(found[-1])
    return page.render(
        "conversations.html",
        status=422 if error else 200,
        person=await person_crumb(page, user_id),
        conversations=found,
        filters={"from": query.get("from", ""), "to": query.get("to", ""), "q": words},
        next_cursor=next_cursor,
        error=error,
        flash=page.session.pop_flash() if page.session else None,
    )


@router.get("/people/{user_id}/conversations/{conversation_id}")
async def conversation(page: MemberDep, user_id: str, conversation_id: str) -> Response:
    await page.person(user_id)
    record, turns = await page.services.conversations.get(user_id, conversation_id)
    return page.render(
        "conversation.html", person=await person_crumb(page, user_id), record=record, turns=turns
    )


@router.post("/people/{user_id}/conversations/{conversation_id}/delete")
async def delete_conversation(page: PostDep, user_id: str, conversation_id: str) -> Response:
    await page.person(user_id)
    await page.services.conversations.delete(user_id, conversation_id, actor=_who(page))
    page.set_flash(message=page.t("history.deleted"))
    return page.redirect(f"{PREFIX}/people/{user_id}/conversations")


# ---- memories ----------------------------------------------------------------------------------------


async def _memories_page(page: Page, user_id: str, status: int = 200, **context: Any) -> Response:
    memories = await page.services.profiles.list_memories(user_id)
    versions = {}
    for memory in memories:
        versions[memory.id] = (await page.services.profiles.get_memory(user_id, memory.id))[1]
    values: dict[str, Any] = {
        "person": await person_crumb(page, user_id),
        "memories": sorted(memories, key=lambda m: (m.created_at, m.id), reverse=True),
        "versions": versions,
        "conversation": MemorySource.CONVERSATION,
        "error": None,
        "error_id": None,
        "flash": page.session.pop_flash() if page.session else None,
    }
    values.update(context)
    return page.render("memories.html", status=status, **values)


@router.get("/people/{user_id}/memories")
async def memories(page: MemberDep, user_id: str) -> Response:
    await page.person(user_id)
    return await _memories_page(page, user_id)


@router.post("/people/{user_id}/memories/{memory_id}")
async def edit_memory(page: PostDep, user_id: str, memory_id: str) -> Response:
    """Save an edit from the version the page showed; someone else's edit in between is not lost."""
    await page.person(user_id)
    try:
        version = int(page.field("version"))
    except ValueError:
        version = -1
    body = {"text": page.field("text"), "importance": page.field("importance") or None}
    try:
        await page.services.profiles.edit_memory(
            user_id, memory_id, {k: v for k, v in body.items() if v}, if_match=version, strict=False
        )
    except PreconditionFailed:
        return await _memories_page(page, user_id, 409, error=page.t("memories.conflict"), error_id=memory_id)
    except InvalidInput as exc:
        return await _memories_page(page, user_id, 422, error=exc.message, error_id=memory_id)
    page.set_flash(message=page.t("memories.saved"))
    return page.redirect(f"{PREFIX}/people/{user_id}/memories")


@router.post("/people/{user_id}/memories/{memory_id}/keep")
async def keep_memory(page: PostDep, user_id: str, memory_id: str) -> Response:
    await page.person(user_id)
    await page.services.profiles.confirm_memory(user_id, memory_id)
    page.set_flash(message=page.t("memories.kept"))
    return page.redirect(f"{PREFIX}/people/{user_id}/memories")


@router.post("/people/{user_id}/memories/{memory_id}/remove")
async def remove_memory(page: PostDep, user_id: str, memory_id: str) -> Response:
    await page.person(user_id)
    await page.services.profiles.delete_memory(user_id, memory_id)
    page.set_flash(message=page.t("memories.removed"))
    return page.redirect(f"{PREFIX}/people/{user_id}/memories")
