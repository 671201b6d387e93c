"""The dashboard in real headless Chromium against the real service on loopback (offline engine).

Screenshots of every wizard step land in ``artifacts/screenshots/`` (git-ignored) for people to look at.
A missing /usr/bin/chromium skips these tests on a developer machine and fails them under ``CI=true``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from companion.realtime.session import Status
from services import require_service
from tests.live.conftest import USER, Live, eventually, run_live

try:
    from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
except ImportError:  # pragma: no cover - the dev extra installs it
    async_playwright = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NAOMI = "נעמי שמר"
ARIK = "אריק איינשטיין"
SAVED_LIVE = "פרופיל נשמר בהצלחה! השינויים עודכנו באפליקציה הפעילה."
SAVED_NEXT = "פרופיל נשמר בהצלחה! השינויים יחולו בשיחה הבאה."
STEP_KEYS = (
    "personal",
    "background",
    "family",
    "contacts",
    "medications",
    "routine",
    "safety",
    "memories",
    "music",
    "photos",
    "review",
)
UI_TIMEOUT_MS = 10_000  # generous for a loaded CI machine

# One Chromium for the module (each test gets its own context and its own service): one event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if async_playwright is None:
        require_service("Chromium", "the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async for value in run_live(tmp_path):
        yield value


def base(live: Live) -> str:
    return f"http://127.0.0.1:{live.port}"


class Pages:
    """Opens pages in fresh browser contexts (own cookies) and closes them after the test."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []

    async def new(self, width: int = 1024, height: int = 900, timezone_id: str | None = None) -> Page:
        context = await self.browser.new_context(
            viewport={"width": width, "height": height}, timezone_id=timezone_id
        )
        context.set_default_timeout(UI_TIMEOUT_MS)
        self.contexts.append(context)
        return await context.new_page()


@pytest_asyncio.fixture(loop_scope="module")
async def pages(browser: Browser) -> AsyncIterator[Pages]:
    opened = Pages(browser)
    yield opened
    for context in opened.contexts:
        await context.close()


async def login(page: Page, live: Live, username: str = "tiferet", password: str = "demo-password") -> None:
    await page.goto(base(live) + "/dashboard/login")
    await page.get_by_label("שם משתמש", exact=True).fill(username)
    await page.get_by_label("סיסמה", exact=True).fill(password)
    await page.get_by_role("button", name="כניסה", exact=True).click()
    await expect(page.get_by_role("heading", name="האנשים שלי")).to_be_visible()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def at_step(page: Page, number: int) -> None:
    await expect(page.locator("#step-count")).to_have_text(f"שלב {number} מתוך 11")


async def test_removing_an_artist_in_the_wizard_refreshes_the_live_conversation(
    pages: Pages, live: Live
) -> None:
    client = await live.connect()
    session = live.services.sessions.of_user(USER)[0]
    await eventually(lambda: session.status is Status.ACTIVE, "the live session is active")
    assert NAOMI in live.engine_session().config["instructions"]

    page = await pages.new()
    await login(page, live)
    await page.get_by_role("link", name="משה", exact=True).click()
    await page.get_by_role("link", name="עריכת הפרופיל", exact=True).click()
    for number, key in enumerate(STEP_KEYS[:8], start=1):
        await at_step(page, number)
        await shot(page, f"wizard-{number:02d}-{key}")
        await page.get_by_role("button", name="הבא", exact=True).click()

    await at_step(page, 9)
    artists = page.locator("#list-preferredArtists")
    await expect(artists.get_by_text(NAOMI)).to_be_visible()
    await shot(page, "wizard-09-music")
    await page.get_by_role("button", name=f"הסר {NAOMI}").click()
    await expect(artists.get_by_text(NAOMI)).to_have_count(0)
    await expect(artists.get_by_text(ARIK)).to_be_visible()
    await shot(page, "wizard-09-music-removed")
    await page.get_by_role("button", name="הבא", exact=True).click()

    await at_step(page, 10)
    await shot(page, "wizard-10-photos")
    await page.get_by_role("button", name="הבא", exact=True).click()

    await at_step(page, 11)
    await expect(page.locator("table.changes")).to_contain_text(NAOMI)
    await shot(page, "wizard-11-review")
    await page.get_by_role("button", name="שלח והשלם").click()
    await expect(page.get_by_text(SAVED_LIVE)).to_be_visible()
    await shot(page, "wizard-saved")

    # The running conversation took the new instructions, confirmed by the model.
    instructions = live.engine_session().config["instructions"]
    assert NAOMI not in instructions
    assert ARIK in instructions
    assert session.last_refresh is not None
    assert session.last_refresh.result.value == "refreshed"
    assert session.instructions is not None
    assert session.instructions.text == instructions
    # ... and the same conversation goes on under them: asked for music, the model picks him.
    before = len(client.events)
    await client.say("תנגן לי מוזיקה")
    call = next(e for e in client.events[before:] if e["type"] == "response.function_call_arguments.done")
    assert ARIK in call["arguments"]

    # "What the AI is told" shows the line that went away.
    await page.get_by_role("link", name="מה נאמר ל-AI").click()
    await expect(page.locator("pre.diff del").first).to_contain_text(NAOMI)
    await expect(page.locator("pre.instructions")).not_to_contain_text(NAOMI)
    await shot(page, "instructions-diff")

    # The live-sessions page shows the refresh, and "refresh now" answers "already current".
    await page.get_by_role("link", name="שיחות פעילות", exact=True).click()
    await expect(page.locator("#session-rows")).to_contain_text("הצליח")
    await page.get_by_role("button", name=re.compile("^רענון עכשיו")).click()
    await expect(page.get_by_role("status")).to_contain_text("ההנחיות כבר עדכניות")
    await shot(page, "sessions")

    # The table follows by itself when someone else's save refreshes the session.
    before_version = session.instructions.version
    behind = await live.put_music(ARIK, "שלמה ארצי")
    assert behind.json()["liveSessions"]["refreshed"] == 1
    assert session.instructions.version != before_version
    assert session.last_refresh is not None
    await expect(page.locator("#session-rows time.last-refresh")).to_have_attribute(
        "datetime", session.last_refresh.at.isoformat()
    )


async def test_a_conflicting_save_shows_the_other_change_and_reapplies(pages: Pages, live: Live) -> None:
    page = await pages.new()
    await login(page, live)
    await page.goto(base(live) + f"/dashboard/people/{USER}/wizard")
    await at_step(page, 1)
    await page.get_by_role("button", name="9 מוזיקה").click()
    await at_step(page, 9)
    await page.get_by_role("button", name=f"הסר {NAOMI}").click()
    await page.get_by_role("button", name="11 סקירה ושליחה").click()
    await at_step(page, 11)

    # Someone else adds an artist through the API while the wizard is open.
    behind = await live.put_music(NAOMI, ARIK, "שלמה ארצי")
    assert behind.status_code == 200, behind.text

    await page.get_by_role("button", name="שלח והשלם").click()
    await expect(page.get_by_role("heading", name="מישהו אחר שמר בינתיים")).to_be_visible()
    theirs = page.locator("section.conflict table.changes").first
    await expect(theirs).to_contain_text("שלמה ארצי")
    await shot(page, "conflict")
    music = await live.services.profiles.get_section(USER, "music")
    assert music.data is not None
    assert NAOMI in music.data.model_dump()["preferred_artists"], "nothing was overwritten silently"

    await page.get_by_role("button", name="החל את השינויים שלי על הגרסה החדשה").click()
    await expect(page.get_by_text(SAVED_NEXT)).to_be_visible()
    music = await live.services.profiles.get_section(USER, "music")
    assert music.data is not None
    assert music.data.model_dump()["preferred_artists"] == [ARIK, "שלמה ארצי"]


async def test_a_caregiver_cannot_open_another_caregivers_person(pages: Pages, live: Live) -> None:
    await live.services.auth.create_caregiver(name="דנה", username="dana", password="dana-password-1")
    page = await pages.new()
    await login(page, live, "dana", "dana-password-1")
    await expect(page.get_by_text("עדיין אין כאן אף אחד.")).to_be_visible()
    for path in ("", "/wizard/9", "/instructions", "/alerts"):
        response = await page.goto(base(live) + f"/dashboard/people/{USER}{path}")
        assert response is not None
        assert response.status == 404, path
        await expect(page.get_by_role("heading", name="לא נמצא")).to_be_visible()
    await shot(page, "not-found")


async def test_people_list_and_wizard_at_360_px(pages: Pages, live: Live) -> None:
    page = await pages.new(width=360, height=740)
    await login(page, live)
    await expect(page.locator("html")).to_have_attribute("dir", "rtl")
    await shot(page, "people-360")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.goto(base(live) + f"/dashboard/people/{USER}/wizard/9")
    await at_step(page, 9)
    await shot(page, "wizard-09-music-360")
    # Keyboard: Enter in a chip's box adds the chip (and does not leave the step).
    await page.get_by_label("הוספה לסגנונות אהובים").fill("חזנות")
    await page.get_by_label("הוספה לסגנונות אהובים").press("Enter")
    await expect(page.get_by_role("button", name="הסר חזנות")).to_be_visible()
    await at_step(page, 9)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("html")).to_have_attribute("dir", "ltr")
    await expect(page.get_by_role("button", name=f"Remove {NAOMI}")).to_be_visible()
    await shot(page, "wizard-09-music-360-en")


async def test_connect_a_tablet_from_the_person_page(pages: Pages, live: Live) -> None:
    page = await pages.new()
    await login(page, live)
    await page.goto(base(live) + f"/dashboard/people/{USER}")
    await page.get_by_role("button", name="חיבור טאבלט", exact=True).click()
    await expect(page.locator("#pair-code")).to_have_text(re.compile(r"^\d{3} \d{3}$"))
    link = await page.locator("#pair-link").get_attribute("href")
    assert link and link.startswith(base(live) + "/app/pair/")

    tablet = await pages.new(width=360, height=740)
    await tablet.goto(link)  # shows one button; only its tap uses the code
    assert not [c for c in await tablet.context.cookies() if c["name"] == "companion_device"]
    await tablet.get_by_role("button", name=re.compile("^חיבור הטאבלט")).click()
    await tablet.wait_for_url(base(live) + "/app")
    [cookie] = [c for c in await tablet.context.cookies() if c["name"] == "companion_device"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    await page.get_by_role("button", name="חיבור טאבלט", exact=True).click()  # a second code, for the picture
    await expect(page.locator("#tablets svg[role=img]")).to_be_visible()
    await expect(page.locator("#devices tr[data-device]")).to_have_count(1)
    await shot(page, "person-tablets")
    await page.get_by_role("button", name=re.compile("^ניתוק")).click()
    await expect(page.get_by_text("הטאבלט נותק", exact=False)).to_be_visible()
    await expect(page.locator("#devices tr[data-device]")).to_have_count(0)


async def test_a_new_persons_time_zone_is_suggested_from_the_browser_and_checked(
    pages: Pages, live: Live
) -> None:
    page = await pages.new(timezone_id="America/New_York")
    await login(page, live)
    await page.get_by_role("button", name="הוספה ומילוי פרופיל").click()  # no id to invent: one is made
    await at_step(page, 1)
    zone = page.get_by_label("אזור זמן")
    await expect(zone).to_have_value("America/New_York")
    await expect(page.locator("#timezone-suggested")).to_be_visible()
    await shot(page, "wizard-01-timezone-suggested")
    await page.get_by_label("שם מלא").fill("רבקה כהן")
    await page.locator("#f-personalInfo-gender").get_by_label("נקבה").check()
    await zone.fill("Mars/Olympus")
    await page.get_by_role("button", name="הבא", exact=True).click()
    await expect(page.locator("#e-personalInfo-timezone")).to_have_text(
        "אזור זמן לא מוכר. בחרו אחד מהרשימה, למשל Asia/Jerusalem."
    )
    await zone.fill("Europe/Lisbon")
    await page.get_by_role("button", name="הבא", exact=True).click()
    await at_step(page, 2)
    await page.get_by_role("button", name="1 פרטים אישיים").click()
    await expect(zone).to_have_value("Europe/Lisbon")  # a chosen zone is never replaced by the suggestion
    await expect(page.locator("#timezone-suggested")).to_be_hidden()

    # A saved person's zone stays as saved, whatever the browser's.
    await page.goto(base(live) + f"/dashboard/people/{USER}/wizard")
    await at_step(page, 1)
    await expect(page.get_by_label("אזור זמן")).to_have_value("Asia/Jerusalem")
