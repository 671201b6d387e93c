"""Reminders on the elder's page, in headless Chromium against the service on a loopback port.

The service runs in this process (uvicorn) so the reminder service can be given a clock the test moves:
the page's card appears when a dose comes due, "remind me in 10 minutes" puts it away for ten (test)
minutes, "taken" confirms it, "talk to me" opens a real conversation with the offline engine (and the
page stops asking while it lasts) whose one greeting says the reminder, recorded as said, after which
the card does not come back, and a dose nobody confirms is missed and the family alerted.
What the page does is checked from outside: the card in the DOM, the page's requests, its chime
counter, its captions, and the store.

The person's time zone is picked so that their local time is mid-morning (an ``Etc/GMT`` zone, no
daylight saving): the doses are a few minutes ahead of the real clock and never cross midnight, so a
reminder loop of the service itself, ticking on the real clock, finds nothing to do with them.
A missing Chromium or Playwright skips locally and fails under CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import pytest
import uvicorn

from companion.app import create_app
from companion.settings import Settings
from services import require_service
from tests.care.reminder_fixtures import (
    OffsetClock,
    Rig,
    install_reminders,
    local_hhmm,
    medications,
    mid_morning_zone,
    person,
)
from tests.dashboard.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, UI_TIMEOUT_MS
from tests.elder.audio_fixtures import mic_script

try:
    from playwright.async_api import Browser, Page, Request, async_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    async_playwright = None  # type: ignore[assignment]

ADMIN: Final = "reminder-page-admin"
USER: Final = "user-reminder-page"
MEDIA_ARGS: Final = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")
AUTOPLAY: Final = "--autoplay-policy=no-user-gesture-required"
POLL_S: Final = 0.5  # the page asks this often here (20 s in service)
CARD: Final = "#reminder"


@dataclass
class Served:
    base: str
    rig: Rig
    clock: OffsetClock
    services: Any
    requests: list[tuple[str, str]] = field(default_factory=list)

    async def save(self, section: str, body: dict[str, Any]) -> None:
        await self.services.profiles.save_section(USER, section, body, if_match=None, if_match_any=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    if async_playwright is None:
        require_service("Chromium", "the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    port = free_port()
    app = create_app(Settings(data_dir=tmp_path, admin_token=ADMIN, port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        clock = OffsetClock()
        rig = install_reminders(app, clock(), poll_s=POLL_S, clock=clock)
        services = app.state.services
        await services.store.create_user(USER)
        yield Served(f"http://127.0.0.1:{port}", rig, clock, services)
        await rig.service.close()
        await rig.store.close()
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def chromium(work: Path) -> AsyncIterator[Browser]:
    # a silent microphone: the fake device's beeps would be heard as the person speaking over the greeting
    mic = mic_script(work / "silence.wav", [60.0])
    args = [*CHROMIUM_ARGS, *MEDIA_ARGS, AUTOPLAY, f"--use-file-for-fake-audio-capture={mic.arg()}"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield browser
        finally:
            await browser.close()


async def paired_page(browser: Browser, served: Served, width: int = 1024) -> Page:
    """A tablet paired to the person by the link a caregiver gets, landing on /app."""
    made = await served.services.devices.create_pairing(USER, created_by=None)
    context = await browser.new_context(viewport={"width": width, "height": 800}, base_url=served.base)
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = await context.new_page()

    def seen(request: Request) -> None:
        if "/app/reminders" in request.url:
            served.requests.append((request.method, request.url))

    page.on("request", seen)
    await page.goto(f"/app/pair/{made.code}")
    async with page.expect_navigation():
        await page.locator("#pair-link button[type=submit]").click()
    assert page.url.rstrip("/").endswith("/app"), page.url
    return page


async def state_of(served: Served, reminder_id: str) -> tuple[str, str | None, str | None]:
    record = await served.rig.store.get_reminder(USER, reminder_id)
    assert record is not None
    return record.state, record.delivered_via, record.acked_via


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for: {what}")
        await asyncio.sleep(0.05)


async def debug(page: Page) -> dict[str, Any]:
    value: dict[str, Any] = await page.evaluate("() => JSON.parse(JSON.stringify(window.companionReminders))")
    return value


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"app-reminder-{name}.png"), full_page=True)


async def test_the_card_rings_snoozes_confirms_talks_and_a_missed_dose_reaches_the_family(
    served: Served, tmp_path: Path
) -> None:
    start = served.clock().replace(second=0, microsecond=0) + timedelta(minutes=2)
    zone = mid_morning_zone(start)
    first, second = start, start + timedelta(minutes=20)
    await served.save("profile", person(timezone=zone))
    await served.save(
        "safety", medications(("אקמול", '500 מ"ג', [local_hhmm(first, zone), local_hhmm(second, zone)]))
    )
    card = None

    async with chromium(tmp_path) as browser:
        page = await paired_page(browser, served)
        await until(lambda: _polled(served, 2), "the page asks for reminders")
        assert await page.locator(CARD).is_hidden(), "nothing is due yet"

        # 1. the dose comes due: the card, in Hebrew, right to left, with a chime
        served.clock.set(first + timedelta(seconds=5))
        await page.locator(CARD).wait_for(state="visible")
        assert await page.locator("#reminder-title").text_content() == "הגיע הזמן לתרופה"
        assert (
            await page.locator("#reminder-text").text_content() == 'הגיע הזמן לקחת אקמול 500 מ"ג. לקחת כבר?'
        )
        buttons = page.locator(f"{CARD} button")
        assert await buttons.all_text_contents() == ["לקחתי עכשיו", "הזכר לי בעוד 10 דקות", "דבר איתי"]
        assert await page.evaluate("() => document.documentElement.dir") == "rtl"
        assert (await debug(page))["rings"] == 1
        card = await page.locator(CARD).get_attribute("data-id")
        assert card is not None
        assert await state_of(served, card) == ("delivered", "page", None)
        box = await page.get_by_role("button", name="לקחתי עכשיו").bounding_box()
        assert box is not None and box["height"] >= 90, "a big target for unsteady hands"
        await shot(page, "card-he-1024")
        await page.set_viewport_size({"width": 360, "height": 740})
        await shot(page, "card-he-360")
        await page.set_viewport_size({"width": 1024, "height": 800})

        # 2. "remind me in 10 minutes": away for ten minutes, then back with another chime
        await page.get_by_role("button", name="הזכר לי בעוד 10 דקות").click()
        await page.locator(CARD).wait_for(state="hidden")
        await until(lambda: _is(served, card, "snoozed"), "snoozed in the store")
        record = await served.rig.store.get_reminder(USER, card)
        assert record is not None and record.snoozed_until is not None
        assert abs((record.snoozed_until - (first + timedelta(minutes=10, seconds=5))).total_seconds()) < 5
        # three more polls after the store has it (the first may be answered before the page has the
        # service's confirmation, and is then not shown): the card stays away
        polled = sum(1 for method, _ in served.requests if method == "GET")
        await until(lambda: _polled(served, polled + 3), "the page asks three more times")
        assert await page.locator(CARD).is_hidden()
        served.clock.set(record.snoozed_until + timedelta(seconds=1))
        await page.locator(CARD).wait_for(state="visible")
        assert (await debug(page))["rings"] == 2

        # 3. "taken": confirmed from the page
        await page.get_by_role("button", name="לקחתי עכשיו").click()
        await page.locator(CARD).wait_for(state="hidden")
        await until(lambda: _is(served, card, "acknowledged"), "acknowledged in the store")
        assert await state_of(served, card) == ("acknowledged", "page", "page")

        # 4. the second dose: "talk to me" opens a conversation whose one greeting says it
        served.clock.set(second + timedelta(seconds=5))
        await page.locator(CARD).wait_for(state="visible")
        talked = await page.locator(CARD).get_attribute("data-id")
        assert talked is not None and talked != card
        await page.get_by_role("button", name="דבר איתי").click()
        await until(lambda: _via(served, talked, "conversation"), "said in the greeting", timeout_s=30)
        assert await state_of(served, talked) == ("delivered", "conversation", None)
        sentence = 'הגיע הזמן לקחת אקמול 500 מ"ג. לקחת כבר?'
        spoken = page.locator("#captions .line.companion")
        await page.wait_for_function(
            """(s) => [...document.querySelectorAll("#captions .line.companion")]
                .some((p) => p.textContent.includes(s))""",
            arg=sentence,
        )
        [greeting] = await spoken.all_text_contents()  # one answer: the greeting, then the reminder
        assert greeting.startswith("בוקר טוב") and greeting.endswith(sentence), greeting
        assert greeting.count("טוב לשמוע אותך") == 1 and greeting.count(sentence) == 1, greeting
        await served.rig.service.tick(served.clock())
        await served.rig.service.drain()
        assert served.rig.conversation.said == [], "said once, by the greeting: not asked again"
        assert not (await debug(page))["active"], "the page does not ask while the conversation is live"
        assert await page.locator(CARD).is_hidden()
        assert await spoken.count() == 1, "no second greeting"

        # the conversation ends unconfirmed: said, so the card does not come back
        polled = sum(1 for method, _ in served.requests if method == "GET")
        await page.locator("#talk").click()
        await page.wait_for_function('() => document.getElementById("status").dataset.state === "idle"')
        await until(lambda: _polled(served, polled + 2), "the page asks again")
        assert await page.locator(CARD).is_hidden()

        # 5. nobody confirms: missed, the family is alerted once, and the card goes
        served.clock.set(second + timedelta(minutes=31))
        await served.rig.service.tick(served.clock())
        await served.rig.service.tick(served.clock())
        assert await state_of(served, talked) == ("missed", "conversation", None)
        summary = f'אקמול 500 מ"ג בשעה {local_hhmm(second, zone)} לא אושרה'
        assert served.rig.family.alerts == [
            (USER, {"severity": "medium", "summary": summary, "rule": "reminder", "reminderId": talked})
        ]
        await page.locator(CARD).wait_for(state="hidden")
        assert (await debug(page))["actions"] == [[card, "snooze"], [card, "taken"], [talked, "talk"]]


async def _polled(served: Served, count: int) -> bool:
    return sum(1 for method, _ in served.requests if method == "GET") >= count


async def _via(served: Served, reminder_id: str, via: str) -> bool:
    return (await state_of(served, reminder_id))[1] == via


async def _is(served: Served, reminder_id: str, state: str) -> bool:
    return (await state_of(served, reminder_id))[0] == state
