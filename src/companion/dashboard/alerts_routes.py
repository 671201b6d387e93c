"""A person's alerts on the dashboard: each with the messages sent about it (when, by which channel, to
whom, with what result), who acknowledged it, and the buttons to acknowledge and to resolve it.

Acknowledging says "someone is on it" and stops the escalation of a critical alert; resolving says it is
over (and acknowledges too, if no one had).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from companion.dashboard.pages import person_crumb
from companion.dashboard.web import PREFIX, DashboardRoute, MemberDep, Page, PostDep

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

# The rules the service itself names with a code (``care.reminders``: a missed reminder), shown in words;
# any other rule is the model's quotation of the profile's own words, shown as it is.
RULE_CODES = frozenset({"reminder"})


def _who(page: Page) -> str:
    principal = page.principal
    display = page.session.display_name if page.session else None
    return display or principal.caregiver_id or principal.token_id


@router.get("/people/{user_id}/alerts")
async def alerts(page: MemberDep, user_id: str) -> Response:
    await page.person(user_id)
    return page.render(
        "alerts.html",
        person=await person_crumb(page, user_id),
        alerts=await page.services.alerts.list(user_id),
        deliveries=await page.services.alerts.deliveries_by_alert(user_id),
        rule_codes=RULE_CODES,
        flash=page.session.pop_flash() if page.session else None,
    )


@router.post("/people/{user_id}/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(page: PostDep, user_id: str, alert_id: str) -> Response:
    await page.person(user_id)
    await page.services.alerts.acknowledge(user_id, alert_id, by=_who(page), via="dashboard")
    page.set_flash(message=page.t("alerts.acknowledged"))
    return page.redirect(f"{PREFIX}/people/{user_id}/alerts")


@router.post("/people/{user_id}/alerts/{alert_id}/resolve")
async def resolve_alert(page: PostDep, user_id: str, alert_id: str) -> Response:
    await page.person(user_id)
    await page.services.alerts.resolve(user_id, alert_id, by=_who(page), via="dashboard")
    page.set_flash(message=page.t("alerts.resolved"))
    return page.redirect(f"{PREFIX}/people/{user_id}/alerts")
