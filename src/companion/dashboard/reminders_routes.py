"""A person's reminders on the dashboard: today's, with what happened to each, and how the last 30 days
went per medication. A caregiver may mark one as taken (they gave it, or the person told them).

Times are shown in the person's time zone (the family thinks in the person's day), said once at the top;
an unknown zone is called out, since the reminders then run on UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Response

from companion.care.reminder_records import DayView
from companion.care.reminder_routes import ReminderDep
from companion.dashboard.pages import person_crumb
from companion.dashboard.web import PREFIX, DashboardRoute, MemberDep, PostDep
from companion.store.base import ReminderRecord

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

PAGE: Final = PREFIX + "/people/{user_id}/reminders"
# The dashboard's existing badge colours: green for confirmed, red for missed, amber while waiting.
BADGES: Final = {
    "acknowledged": "live",
    "missed": "failed",
    "due": "high",
    "delivered": "high",
    "snoozed": "high",
    "cancelled": "",
    "void": "",
}
MARKABLE: Final = frozenset({"due", "delivered", "snoozed", "missed"})


def _rows(view: DayView) -> list[dict[str, Any]]:
    zone = view.zone.zone

    def local(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%H:%M") if moment is not None else ""

    rows = []
    for reminder in view.reminders:
        rows.append(
            {
                "record": reminder,
                "at": local(reminder.due_at),
                "moved": local(reminder.due_at) != reminder.local_time,  # a spring-forward gap
                "badge": BADGES.get(reminder.state, ""),
                "delivered": local(reminder.delivered_at),
                "acked": local(reminder.acked_at),
                "snoozed_until": local(reminder.snoozed_until) if reminder.state == "snoozed" else "",
                "markable": reminder.state in MARKABLE,
            }
        )
    return rows


def _rate(taken: int, missed: int) -> int | None:
    decided = taken + missed
    return round(100 * taken / decided) if decided else None


@router.get("/people/{user_id}/reminders")
async def reminders_page(page: MemberDep, service: ReminderDep, user_id: str) -> Response:
    await page.person(user_id)
    view = await service.day_view(user_id)
    adherence = [{"record": a, "rate": _rate(a.acknowledged, a.missed)} for a in view.adherence]
    return page.render(
        "reminders.html",
        person=await person_crumb(page, user_id),
        view=view,
        rows=_rows(view),
        adherence=adherence,
        days=(view.day - view.since).days + 1,
        flash=page.session.pop_flash() if page.session else None,
    )


@router.post("/people/{user_id}/reminders/{reminder_id}/taken")
async def mark_taken(page: PostDep, service: ReminderDep, user_id: str, reminder_id: str) -> Response:
    await page.person(user_id)
    record: ReminderRecord = await service.acknowledge(user_id, reminder_id, via="dashboard")
    page.set_flash(message=page.t("reminders.marked") if record.state == "acknowledged" else "")
    return page.redirect(f"{PREFIX}/people/{user_id}/reminders")
