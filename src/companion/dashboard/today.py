"""The person's page opens on their today: the figures, the last conversation, and the 14-day strip."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from companion.dashboard.strip import strip_svg
from companion.dashboard.web import Page


async def today_panel(page: Page, user_id: str) -> dict[str, Any]:
    """What the person's page opens on: their today, and the strip as SVG markup (built here from
    numbers and the page's own words only, so it is safe to place as it is)."""
    today = await page.services.family.today(user_id)
    svg = strip_svg(
        today.days,
        title=page.t("today.strip_title"),
        bar_title=page.t("today.strip_bar"),
        rtl=page.lang == "he",
    )
    return {"today": today, "strip": Markup(svg)}  # noqa: S704 - numbers and our own escaped words
