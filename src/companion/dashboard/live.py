"""Live sessions of the caregiver's people: a table that updates itself, and confirmed refreshes.

The page polls ``/dashboard/sessions/rows`` (an HTML fragment behind the dashboard session; the JSON
``/realtime/sessions`` wants a bearer token). "Refresh now" and "refresh all" are CSRF-checked forms
that wait for the model's confirmation and report it. With several instances the table lists every
instance's conversations and the buttons reach whichever instance holds one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from companion.dashboard.pages import people_names
from companion.dashboard.saving import retry_refresh
from companion.dashboard.web import PREFIX, DashboardRoute, MemberDep, Page, PostDep
from companion.errors import CompanionError, NotFound

router = APIRouter(prefix=PREFIX + "/sessions", route_class=DashboardRoute, include_in_schema=False)

POLL_INTERVAL_MS = 2000  # fresh enough to watch a refresh land, light enough for a phone


# A refresh that failed in any way is "failed" to a family; the kind of failure is an admin's detail.
REFRESH_OK = frozenset({"refreshed", "unchanged"})


async def _sessions(page: Page) -> list[dict[str, Any]]:
    users = set(await page.services.auth.visible_users(page.principal))
    sessions, _ = await page.services.directory.all()
    return [s for s in sessions if s.get("userId") in users]


async def _rows(page: Page) -> list[dict[str, Any]]:
    """Each conversation as a family reads it (whose, on which tablet, since when, state, last refresh)
    beside its JSON, whose technical parts (ids, turns, tokens, versions) only administrators see."""
    sessions = await _sessions(page)
    user_ids = sorted({str(s["userId"]) for s in sessions})
    names = await people_names(page, user_ids)
    tablets = {d.id: d.label for u in user_ids for d in await page.services.devices.devices_of(u)}
    rows = []
    for s in sessions:
        device = s.get("deviceId")
        refresh = s.get("lastRefresh")
        rows.append(
            {
                "s": s,
                "name": names.get(str(s["userId"]), str(s["userId"])),
                "device": tablets.get(device) if device else None,
                "device_word": "sessions.device_gone" if device else "sessions.device_app",
                "refresh_ok": refresh is not None and refresh.get("result") in REFRESH_OK,
            }
        )
    return rows


@router.get("")
async def sessions_page(page: MemberDep) -> Response:
    return page.render(
        "sessions.html",
        rows=await _rows(page),
        poll_ms=POLL_INTERVAL_MS,
        flash=page.session.pop_flash() if page.session else None,
    )


@router.get("/rows")
async def sessions_rows(page: MemberDep) -> Response:
    return page.render("sessions_rows.html", rows=await _rows(page))


@router.post("/refresh-all")
async def refresh_all(page: PostDep) -> Response:
    users = sorted({str(s["userId"]) for s in await _sessions(page)})
    refreshed = unchanged = failed = 0
    for user_id in users:
        counts = await retry_refresh(page.services, user_id)
        refreshed, unchanged, failed = (
            refreshed + counts.refreshed,
            unchanged + counts.unchanged,
            failed + counts.failed,
        )
    page.set_flash(
        message=page.t("sessions.refreshed_all", refreshed=refreshed, unchanged=unchanged, failed=failed),
        failed=failed > 0,
    )
    return page.redirect(PREFIX + "/sessions")


@router.post("/{session_id}/refresh")
async def refresh_one(page: PostDep, session_id: str) -> Response:
    directory = page.services.directory
    if not await page.services.auth.can_access(page.principal, await directory.user_of(session_id)):
        raise NotFound(f"Session {session_id} not found")
    try:
        answer = await directory.refresh(session_id)
    except CompanionError as exc:
        page.set_flash(message=page.t("sessions.refresh_failed", detail=exc.message), failed=True)
    else:
        page.set_flash(message=page.t(f"sessions.result.{answer['result']}"), failed=False)
    return page.redirect(PREFIX + "/sessions")
