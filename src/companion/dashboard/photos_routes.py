"""The wizard's photos step acts at once: upload, describe, move and delete each photo (its bytes
cannot wait in a draft), then lands back on the step with what happened in words.

Every route names the person and checks that the caregiver may see them; every POST carries the
form's CSRF token (``PostDep``). The thumbnail is served to the signed-in caregiver only, never cached.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Response
from starlette.datastructures import UploadFile

from companion.api.headers import NOSNIFF
from companion.api.photos import PHOTO_ID_PATTERN, photos_of
from companion.dashboard.web import PREFIX, DashboardRoute, MemberDep, Page, PostDep
from companion.dashboard.wizard import PHOTOS_STEP
from companion.errors import CompanionError, NotFound
from companion.photos.imaging import THUMB_PX
from companion.photos.service import Incoming, Listed

router = APIRouter(prefix=PREFIX + "/people/{user_id}", route_class=DashboardRoute, include_in_schema=False)
MB = 1024 * 1024


def step_url(user_id: str) -> str:
    return f"{PREFIX}/people/{user_id}/wizard/{PHOTOS_STEP}#list-photos"


def _check_id(photo_id: str) -> None:
    if not re.fullmatch(PHOTO_ID_PATTERN, photo_id):
        raise NotFound("There is no such photo")


async def step_context(page: Page, user_id: str) -> dict[str, Any]:
    """What the photos step shows: the photos in order, the family's names to choose from, the usage."""
    services = page.services
    library = photos_of(services)
    entries = await library.list(user_id)
    usage = await services.store.photo_usage(user_id)
    context = await services.profiles.context(user_id)
    family = [m.name for m in context.profile.family_members] if context.profile else []
    return {
        "photos": [_view(entry) for entry in entries],
        "family": family,
        "usage": {
            "count": usage.count,
            "max_count": library.limits.max_count,
            "mb": round(usage.stored_bytes / MB, 1),
            "quota_mb": library.limits.quota_bytes // MB,
        },
    }


def _view(entry: Listed) -> dict[str, Any]:
    photo, facts = entry.photo, entry.facts
    width, height = (facts.width, facts.height) if facts else (0, 0)
    scale = min(1.0, THUMB_PX / max(width, height, 1))  # the thumbnail's size, so the list does not jump
    return {
        "id": photo.id,
        "caption": photo.caption,
        "people": photo.people,
        "when": photo.when,
        "where": photo.where,
        "only_when_asked": photo.only_when_asked,
        "width": width,
        "thumb_width": max(1, round(width * scale)),
        "thumb_height": max(1, round(height * scale)),
    }


@router.post("/photos")
async def upload(page: PostDep, user_id: str) -> Response:
    await page.person(user_id)
    files = [f for f in page.form.getlist("files") if isinstance(f, UploadFile) and (f.filename or f.size)]
    if not files:
        page.set_flash(notice=page.t("photos.pick_first"))
        return page.redirect(step_url(user_id))
    try:
        outcomes = await photos_of(page.services).upload(
            user_id, [Incoming(f.filename or "", f.size, f.read) for f in files]
        )
    except CompanionError as exc:
        page.set_flash(notice=exc.message)
        return page.redirect(step_url(user_id))
    stored = sum(1 for o in outcomes if o.photo is not None)
    lines = [page.t("photos.added", n=stored)] if stored else []
    lines += [
        page.t("photos.refused", file=o.name or "?", message=o.error.message)
        for o in outcomes
        if o.error is not None
    ]
    page.set_flash(notice=" ".join(lines))
    return page.redirect(step_url(user_id))


@router.post("/photos/{photo_id}")
async def change(page: PostDep, user_id: str, photo_id: str) -> Response:
    """One photo's form: save its description, move it up or down, or delete it."""
    await page.person(user_id)
    _check_id(photo_id)
    library = photos_of(page.services)
    action = page.field("action") or "save"
    try:
        if action == "delete":
            await library.delete(user_id, photo_id)
            page.set_flash(notice=page.t("photos.deleted"))
        elif action in ("up", "down"):
            order = [entry.photo.id for entry in await library.list(user_id)]
            if photo_id not in order:
                raise NotFound("There is no such photo")
            to = max(order.index(photo_id) + (-1 if action == "up" else 1), 0)
            await library.edit(user_id, photo_id, {"position": to})
        else:
            await library.edit(user_id, photo_id, _description(page))
            page.set_flash(notice=page.t("photos.saved"))
    except NotFound:
        raise
    except CompanionError as exc:
        page.set_flash(notice=exc.message)
    return page.redirect(step_url(user_id))


def _description(page: Page) -> dict[str, Any]:
    people = page.fields("people")
    others = [name.strip() for name in page.field("others").split(",") if name.strip()]
    return {
        "caption": page.field("caption"),
        "people": list(dict.fromkeys([*people, *others])),
        "when": page.field("when"),
        "where": page.field("where"),
        "onlyWhenAsked": page.field("onlyWhenAsked") == "true",
    }


@router.get("/photos/{photo_id}/thumb")
async def thumbnail(page: MemberDep, user_id: str, photo_id: str) -> Response:
    await page.person(user_id)
    _check_id(photo_id)
    data, media_type = await photos_of(page.services).image(user_id, photo_id, "thumb")
    return Response(data, media_type=media_type, headers={"Cache-Control": "private, no-store", **NOSNIFF})
