"""The caregiver's people, one person's page (and erasing them), and what the AI is told (alerts:
``alerts_routes``).

Every page about a person first asks ``AuthService.require_user``: a person not assigned to this
caregiver gives the same 404 page as one that does not exist. The people list reads every listed
person's name and alerts in one query (``_summaries``), not two queries a person.
"""

from __future__ import annotations

import difflib
import re
import secrets
from collections import Counter
from typing import Any

from fastapi import APIRouter, Response

from companion.accounts import AccountService
from companion.api.users import USER_ID_PATTERN
from companion.care.alerts import ALERT_KIND, Alert
from companion.dashboard.devices import panel as tablet_panel
from companion.dashboard.today import today_panel
from companion.dashboard.web import PREFIX, DashboardRoute, MemberDep, Page, PostDep
from companion.dashboard.wizard import Draft, has_unsent_changes
from companion.errors import AlreadyExists, NotFound
from companion.profiles.models import Profile
from companion.profiles.service import SECTION_DOC_ID, read_stored
from companion.realtime.session import LiveSession

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

PROFILE_KIND = "profile"  # the section whose personal info names the person
DIFF_CONTEXT_LINES = 2  # enough around a change to see where in the instructions it is
_USER_ID = re.compile(USER_ID_PATTERN)


async def person_name(page: Page, user_id: str) -> str:
    """The person's preferred or full name, or "a new person" when no profile was saved yet."""
    try:
        state = await page.services.profiles.get_section(user_id, "profile")
    except NotFound:
        return page.t("people.unnamed")
    if not isinstance(state.data, Profile):
        return page.t("people.unnamed")
    info = state.data.personal_info
    return info.preferred_name or info.full_name


async def person_crumb(page: Page, user_id: str) -> dict[str, str]:
    """The person as a page's breadcrumb names them."""
    return {"id": user_id, "name": await person_name(page, user_id)}


async def _summaries(page: Page, user_ids: list[str]) -> list[dict[str, Any]]:
    """Name, live sessions and open alerts of each person, from one query for all of them."""
    names: dict[str, str] = {}
    open_alerts: Counter[str] = Counter()
    for doc in await page.services.store.documents_of(user_ids, (PROFILE_KIND, ALERT_KIND)):
        if doc.kind == PROFILE_KIND and doc.doc_id == SECTION_DOC_ID:
            profile = read_stored(Profile, doc)
            if profile is not None:
                info = profile.personal_info
                names[doc.user_id] = info.preferred_name or info.full_name
        elif doc.kind == ALERT_KIND:
            alert = read_stored(Alert, doc)
            if alert is not None and not alert.resolved:
                open_alerts[doc.user_id] += 1
    return [
        {
            "id": user_id,
            "name": names.get(user_id) or page.t("people.unnamed"),
            "live": len(page.services.sessions.of_user(user_id)),
            "open_alerts": open_alerts[user_id],
        }
        for user_id in user_ids
    ]


async def people_names(page: Page, user_ids: list[str]) -> dict[str, str]:
    """Each person's preferred or full name (their id when no profile was saved), in one query."""
    return {summary["id"]: summary["name"] for summary in await _summaries(page, user_ids)}


async def _summary(page: Page, user_id: str) -> dict[str, Any]:
    [summary] = await _summaries(page, [user_id])
    return summary


async def _people_page(page: Page, status: int = 200, **context: Any) -> Response:
    users = await page.services.auth.visible_users(page.principal)
    values: dict[str, Any] = {
        "people": await _summaries(page, users),
        "error": None,
        "new_id": "",
        "flash": page.session.pop_flash() if page.session else None,
    }
    values.update(context)
    return page.render("people.html", status=status, **values)


@router.get("/people")
async def people(page: MemberDep) -> Response:
    return await _people_page(page)


def new_person_id() -> str:
    """An id made for a new person: the family never has to invent one (the API still takes theirs)."""
    return "person-" + secrets.token_hex(6)


@router.post("/people")
async def new_person(page: PostDep) -> Response:
    user_id = page.field("user_id") or new_person_id()
    if not _USER_ID.match(user_id):
        return await _people_page(page, 422, error=page.t("people.bad_id"), new_id=user_id)
    try:
        await AccountService.of(page.services).create_person(page.principal, user_id)
    except (AlreadyExists, NotFound):
        # One answer whether the person is this caregiver's or another family's (NotFound): the page
        # must not tell them apart.
        return await _people_page(page, 409, error=page.t("people.taken"), new_id=user_id)
    return page.redirect(f"{PREFIX}/people/{user_id}/wizard")


async def _has_draft(page: Page, user_id: str) -> bool:
    """A wizard draft worth continuing: one that holds a change (opening the wizard, or pressing "next"
    without changing anything, leaves a draft that is identical to the saved profile: none)."""
    if page.session is None or user_id not in page.session.drafts:
        return False
    draft = await page.draft(user_id)
    return isinstance(draft, Draft) and has_unsent_changes(draft)


async def _person_page(page: Page, user_id: str, status: int = 200, **context: Any) -> Response:
    await page.person(user_id)
    states, memories = await page.services.profiles.all_sections(user_id)
    values: dict[str, Any] = {
        "person": await _summary(page, user_id),
        "sections": states,
        "memory_count": len(memories),
        "sessions": page.services.sessions.of_user(user_id),
        "has_draft": await _has_draft(page, user_id),
        "tablets": await tablet_panel(page, user_id),
        "erase_error": None,
        **await today_panel(page, user_id),
    }
    values.update(context)
    return page.render("person.html", status=status, **values)


@router.get("/people/{user_id}")
async def person(page: MemberDep, user_id: str) -> Response:
    return await _person_page(page, user_id)


@router.post("/people/{user_id}/erase")
async def erase_person(page: PostDep, user_id: str) -> Response:
    """Erase the person for good: the form asks for their id to be typed, so no stray click does it.
    Admins and the person's own caregivers may (``companion.accounts.service`` says why)."""
    await page.person(user_id)
    if page.field("confirm") != user_id:
        return await _person_page(page, user_id, 422, erase_error=page.t("person.erase_mismatch"))
    await AccountService.of(page.services).erase_person(page.principal, user_id)
    if page.session is not None:
        page.session.drafts.pop(user_id, None)
    page.set_flash(message=page.t("person.erased", id=user_id))
    return page.redirect(f"{PREFIX}/people")


def line_diff(before: str, after: str) -> list[tuple[str, str]]:
    """(kind, line) pairs: kind is "+", "-", " " or "@" (a hunk header)."""
    lines = []
    for line in difflib.unified_diff(
        before.splitlines(), after.splitlines(), lineterm="", n=DIFF_CONTEXT_LINES
    ):
        if line.startswith(("---", "+++")):
            continue
        kind = line[:1] if line[:1] in "+- @" else " "
        lines.append((kind, line[1:] if kind != "@" else line))
    return lines


def _session_diff(session: LiveSession) -> dict[str, Any]:
    previous, current = session.previous_instructions, session.instructions
    return {
        "session": session.as_json(),
        "diff": line_diff(previous.text, current.text) if previous and current else None,
    }


@router.get("/people/{user_id}/instructions")
async def instructions(page: MemberDep, user_id: str) -> Response:
    await page.person(user_id)
    built = await page.services.instructions(user_id)
    return page.render(
        "instructions.html",
        person=await _summary(page, user_id),
        built=built,
        sessions=[_session_diff(s) for s in page.services.sessions.of_user(user_id)],
    )
