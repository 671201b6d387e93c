"""The family's view of conversations in real headless Chromium (Hebrew, right to left): the person's
page opens on today with the 14-day strip, the history with search and a date filter, one conversation.
Screenshots land in ``artifacts/screenshots/``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import expect

from companion.clock import utcnow
from companion.conversations.digests import DigestService
from companion.store.base import ConversationRecord, ConversationWrite, TimelineEntry
from tests.dashboard.test_dashboard_browser import Pages, base, browser, live, login, pages, shot
from tests.live.conftest import USER, Live
from tests.live.test_conversation_records import ended_conversations, talk_and_leave

__all__ = ["browser", "live", "pages"]  # the module's fixtures, shared with the dashboard's browser tests
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def an_older_conversation(live: Live, days_ago: int) -> ConversationRecord:
    started = utcnow() - timedelta(days=days_ago)
    record = ConversationRecord(
        f"sess-older-{days_ago}",
        USER,
        None,
        "summary",
        started,
        ended_at=started + timedelta(minutes=20),
        ended_how="network",
        person_turns=9,
        companion_turns=9,
        person_talk_ms=6 * 60_000,
        companion_talk_ms=5 * 60_000,
        songs=1,
        summary="דיבר על החתונה של יוסי ועל הנכדים. נשמע שמח.",
        summary_kind="model",
        timeline=(TimelineEntry(started + timedelta(minutes=5), "song", "אריק איינשטיין"),),
    )
    assert await live.services.store.save_conversation(ConversationWrite(record, first=True))
    return record


async def test_today_history_search_dates_and_one_conversation(pages: Pages, live: Live) -> None:
    older = await an_older_conversation(live, 3)
    await talk_and_leave(live, "I planted tomatoes in the garden")
    await ended_conversations(live, 2)

    page = await pages.new()
    await login(page, live)
    await page.get_by_role("link", name="משה", exact=True).click()
    await expect(page.get_by_role("heading", name="היום")).to_be_visible()
    await expect(page.locator("#today-conversations")).to_have_text("1")
    await expect(page.locator("#today-summary")).to_contain_text("tomatoes")
    strip = page.locator("svg.strip")
    await expect(strip).to_be_visible()
    assert await strip.locator("g.day").count() == 14
    assert await strip.locator("rect.talk:not(.none)").count() == 2, "today and three days ago"
    await shot(page, "conversations-01-today")

    phone = await pages.new(width=360, height=800)
    await login(phone, live)
    await phone.goto(f"{base(live)}/dashboard/people/{USER}")
    box = await phone.locator("svg.strip").bounding_box()
    assert box is not None and box["width"] <= 360, "the strip fits a phone"
    await shot(phone, "conversations-02-today-360px")

    await page.get_by_role("link", name="שיחות", exact=True).first.click()
    await expect(page.get_by_role("heading", name="שיחות", exact=True)).to_be_visible()
    assert await page.locator("li.conversation").count() == 2
    await page.get_by_label("מילים (בסיכומים ובתמלילים)").fill("החתונה")
    await page.get_by_role("button", name="הצג", exact=True).click()
    await expect(page.locator("li.conversation")).to_have_count(1)
    await expect(page.locator("li.conversation")).to_contain_text("יוסי")
    await shot(page, "conversations-03-search")

    await page.get_by_label("מילים (בסיכומים ובתמלילים)").fill("")
    today = utcnow().astimezone(await live.services.family.zone(USER)).date()  # the person's day
    await page.get_by_label("מתאריך").fill(today.isoformat())
    await page.get_by_label("עד תאריך").fill(today.isoformat())
    await page.get_by_role("button", name="הצג", exact=True).click()
    await expect(page.locator("li.conversation")).to_have_count(1)
    await expect(page.locator("li.conversation")).to_contain_text("tomatoes")
    await shot(page, "conversations-04-dates")

    await page.goto(f"{base(live)}/dashboard/people/{USER}/conversations/{older.id}")
    await expect(page.locator("#conversation-summary")).to_contain_text("החתונה של יוסי")
    await expect(page.locator("ol.timeline")).to_contain_text("אריק איינשטיין")
    await expect(page.locator("ol.timeline")).to_contain_text("החיבור נותק")
    await shot(page, "conversations-05-one")
    await page.get_by_role("button", name="מחיקת השיחה").click()
    await expect(page.get_by_role("status")).to_have_text("השיחה נמחקה.")
    assert await live.services.store.get_conversation(USER, older.id) is None


async def test_the_digest_unsubscribe_link_works_once_without_signing_in(pages: Pages, live: Live) -> None:
    services = live.services
    safety = await services.profiles.get_section(USER, "safety")
    assert safety.data is not None
    body = safety.data.model_dump(mode="json", by_alias=True)
    body["emergencyContacts"][0] |= {"email": "dana@example.com", "digest": "daily", "digestTime": "00:00"}
    await services.profiles.save_section(USER, "safety", body, if_match=safety.version)

    async def no_alerts(user_id: str) -> int:
        return 0

    digests = DigestService(services.store, services.profiles, no_alerts, public_url=base(live))
    assert await digests.tick(utcnow()) == 1
    [job] = [j for j in await services.store.jobs_of_user(USER) if j.payload.get("type") == "digest"]
    assert job.address == "dana@example.com" and job.channel == "email"
    link = job.payload["unsubscribeUrl"]
    assert link.startswith(base(live) + "/digest/unsubscribe/")
    assert "tomatoes" not in str(job.payload), "nothing more than the day's summaries"

    page = await pages.new(width=390, height=800)
    await page.goto(link)
    await expect(page.get_by_role("heading", name="הפסקת הודעות הסיכום")).to_be_visible()
    await shot(page, "digest-01-unsubscribe")
    await page.get_by_role("button", name="הפסקת ההודעות").click()
    await expect(page.get_by_role("heading", name="ההודעות הופסקו")).to_be_visible()
    await shot(page, "digest-02-unsubscribed")
    after = await services.profiles.get_section(USER, "safety")
    assert after.data is not None
    assert after.data.model_dump(by_alias=True)["emergencyContacts"][0]["digest"] == "none"
    again = await page.goto(link)
    assert again is not None and again.status == 410, "single use"
