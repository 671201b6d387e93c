"""The photos in headless Chromium: the wizard's photos step (upload, caption, people, when, where,
only-when-asked, reorder, delete), and the elder's page showing, paging and closing a photo (a photo
the family deletes leaves the screen; "די" closes it); another person's paired tablet gets 404.

The service and the offline engine run in this process (``tests.live.conftest.run_live``, seeded with
the demo person); the tablet's microphone is a silent file. What the person asks is put on the
page's own realtime socket (Playwright's WebSocket route forwards everything else untouched), so the
request takes the real path: relay, engine, ``show_photos``, the relay's notice, the page. Screenshots
go where the other browser tests put theirs.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, WebSocketRoute, async_playwright, expect

from tests.dashboard.test_dashboard_browser import SHOTS, UI_TIMEOUT_MS, login
from tests.elder.audio_fixtures import mic_script
from tests.elder.conftest import require_browser_tools
from tests.elder.page_driver import chromium
from tests.live.conftest import USER, Live, run_live
from tests.photos.images import has_metadata, photo

pytestmark = pytest.mark.asyncio(loop_scope="module")
OTHER = "person-photos-other"
GONE_WITHIN_MS = 12_000  # the page checks a photo on the screen every 5 s
GREETING_MS = 20_000  # the greeting is a few seconds of speech, played in real time


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    require_browser_tools()
    SHOTS.mkdir(parents=True, exist_ok=True)
    mic = mic_script(tmp_path_factory.mktemp("mic") / "silence.wav", [90.0])
    async with async_playwright() as pw, chromium(pw, mic) as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="module")
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async for value in run_live(tmp_path):
        yield value


@pytest_asyncio.fixture(loop_scope="module")
async def contexts(browser: Browser) -> AsyncIterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        await context.close()


def base(live: Live) -> str:
    return f"http://127.0.0.1:{live.port}"


async def new_page(browser: Browser, contexts: list[BrowserContext], live: Live) -> Page:
    context = await browser.new_context(viewport={"width": 1024, "height": 900}, base_url=base(live))
    context.set_default_timeout(UI_TIMEOUT_MS)
    contexts.append(context)
    return await context.new_page()


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def upload(live: Live, user: str, description: dict[str, Any]) -> str:
    made = await live.http.post(
        f"/api/users/{user}/photos",
        headers=live.auth(),
        files=[("files", ("p.jpg", photo("jpeg", size=(1200, 800)), "image/jpeg"))],
    )
    assert made.status_code == 201, made.text
    photo_id: str = made.json()["photos"][0]["id"]
    edited = await live.http.patch(
        f"/api/users/{user}/photos/{photo_id}", headers=live.auth(), json=description
    )
    assert edited.status_code == 200, edited.text
    return photo_id


async def pair(page: Page, live: Live, user: str) -> None:
    made = await live.http.post(f"/api/users/{user}/pairings", headers=live.auth())
    assert made.status_code == 201, made.text
    await page.goto(made.json()["url"])
    async with page.expect_navigation():
        await page.locator("#pair-link button[type=submit]").click()


async def test_wizard_photos_step(
    browser: Browser, contexts: list[BrowserContext], live: Live, tmp_path: Path
) -> None:
    page = await new_page(browser, contexts, live)
    await login(page, live)
    await page.goto(base(live) + f"/dashboard/people/{USER}/wizard")
    await page.goto(base(live) + f"/dashboard/people/{USER}/wizard/10")
    await expect(page.locator("#step-count")).to_have_text("שלב 10 מתוך 11")
    await expect(page.get_by_role("heading", name="10. תמונות")).to_be_visible()
    assert await page.locator("html").get_attribute("dir") == "rtl"
    await shot(page, "wizard-photos-empty")

    files = []
    for name, kind in (("beach.jpg", "jpeg"), ("rachel.heic", "heic"), ("garden.png", "png")):
        path = tmp_path / name
        path.write_bytes(photo(kind, size=(900, 600)))
        files.append(path)
    await page.get_by_label("בחירת תמונות מהטלפון או מהמחשב").set_input_files(files)
    await page.get_by_role("button", name="העלאת התמונות").click()
    await expect(page.get_by_text("נוספו 3 תמונות.")).to_be_visible()
    items = page.locator("#list-photos li.photo-item")
    await expect(items).to_have_count(3)
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#list-photos img.thumb')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    ids = [await items.nth(i).get_attribute("data-photo-id") for i in range(3)]

    await page.get_by_label("כיתוב (תמונה 1)").fill("יוסי ותפארת בים")
    first = items.nth(0)
    await first.get_by_label("תפארת").check()
    await first.get_by_label("יוסי").check()
    await page.get_by_label("שמות נוספים (מופרדים בפסיק) (תמונה 1)").fill("נועם, דנה")
    await page.get_by_label("מתי (שנה או עשור) (תמונה 1)").fill("2019")
    await page.get_by_label("איפה (תמונה 1)").fill("תל אביב")
    await page.get_by_role("button", name="שמירה תמונה 1").click()
    await expect(page.get_by_text("התמונה נשמרה.")).to_be_visible()

    await page.get_by_label("כיתוב (תמונה 2)").fill("רחל במטבח")
    await items.nth(1).get_by_label("רחל").check()
    await items.nth(1).get_by_label("להראות רק כשמבקשים (למשל תמונה שעלולה להעציב)").check()
    await page.get_by_role("button", name="שמירה תמונה 2").click()
    await expect(page.get_by_text("התמונה נשמרה.")).to_be_visible()
    await shot(page, "wizard-photos-described")

    assert live.services.photos is not None
    listed = {entry.photo.id: entry.photo for entry in await live.services.photos.list(USER)}
    beach, rachel = listed[ids[0]], listed[ids[1]]
    assert (beach.caption, beach.people, beach.when, beach.where) == (
        "יוסי ותפארת בים",
        ["תפארת", "יוסי", "נועם", "דנה"],
        "2019",
        "תל אביב",
    )
    assert rachel.people == ["רחל"] and rachel.only_when_asked is True
    stored = await live.services.store.photo_bytes(USER, ids[1], "display")
    assert stored is not None and has_metadata(stored[0]) == []

    await page.get_by_role("button", name="למטה תמונה 1").click()  # the beach goes second
    await expect(items.nth(1)).to_have_attribute("data-photo-id", ids[0])
    assert [e.photo.id for e in await live.services.photos.list(USER)] == [ids[1], ids[0], ids[2]]
    await page.get_by_role("button", name="מחיקה תמונה 3").click()
    await expect(page.get_by_text("התמונה נמחקה.")).to_be_visible()
    await expect(items).to_have_count(2)
    assert await live.services.store.photo_bytes(USER, ids[2], "display") is None
    await shot(page, "wizard-photos-reordered")
    await page.get_by_role("button", name="הבא", exact=True).click()
    await expect(page.locator("#step-count")).to_have_text("שלב 11 מתוך 11")


class Socket:
    """The page's realtime socket, routed: everything passes; the test may add what the person says."""

    def __init__(self) -> None:
        self.server: WebSocketRoute | None = None
        self.page: WebSocketRoute | None = None
        self.responding = False
        self.responses = 0

    async def route(self, ws: WebSocketRoute) -> None:
        self.page = ws
        self.server = server = ws.connect_to_server()

        def down(message: str | bytes) -> None:
            kind = json.loads(message).get("type") if isinstance(message, str) else None
            if kind in ("response.created", "response.done"):
                self.responding = kind == "response.created"
                self.responses += kind == "response.done"
            ws.send(message)

        server.on_message(down)
        ws.on_message(server.send)

    async def quiet(self, after: int = 0) -> None:
        """Until ``after`` responses are done and none is under way (the model takes a new request)."""
        deadline = asyncio.get_running_loop().time() + GREETING_MS / 1000
        while self.responding or self.responses < after:
            assert asyncio.get_running_loop().time() < deadline, "the model never stopped speaking"
            await asyncio.sleep(0.05)

    def say(self, text: str) -> None:
        assert self.server is not None, "the page has no live socket"
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        self.server.send(json.dumps({"type": "conversation.item.create", "item": item}, ensure_ascii=False))
        self.server.send(json.dumps({"type": "response.create"}))

    def heard(self, transcript: str) -> None:
        """What the page hears when the person's speech is transcribed."""
        assert self.page is not None
        event = {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "item_heard",
            "content_index": 0,
            "transcript": transcript,
        }
        self.page.send(json.dumps(event, ensure_ascii=False))


async def showing(page: Page, photo_id: str) -> None:
    box = page.locator("#photo")
    await expect(box).to_have_attribute("data-state", "showing")
    await expect(box).to_have_attribute("data-photo-id", photo_id)
    await page.wait_for_function(
        "() => { const i = document.getElementById('photo-image'); return i.complete && i.naturalWidth > 0; }"
    )


async def test_the_elder_page_shows_pages_and_closes_photos(
    browser: Browser, contexts: list[BrowserContext], live: Live
) -> None:
    beach = await upload(
        live, USER, {"caption": "נועם בים", "people": ["נועם"], "when": "2019", "where": "תל אביב"}
    )
    school = await upload(live, USER, {"caption": "נועם בבית הספר", "people": ["נועם"]})
    garden = await upload(live, USER, {"caption": "נועם בגינה", "people": ["נוֹעַם"]})
    await upload(live, USER, {"caption": "רחל", "people": ["רחל"], "onlyWhenAsked": True})

    page = await new_page(browser, contexts, live)
    socket = Socket()
    await page.route_web_socket(re.compile(r".*/v1/realtime.*"), socket.route)
    await pair(page, live, USER)
    box = page.locator("#photo")
    await expect(box).to_have_attribute("data-state", "hidden")
    await page.locator("#talk").click()
    await socket.quiet(after=1)  # the greeting is said: the person may ask now
    socket.say("תראי לי תמונות של נועם")
    await showing(page, beach)
    await expect(page.locator("#photo-caption")).to_have_text("נועם בים")
    await expect(page.locator("#photo-details")).to_have_text("נועם · 2019 · תל אביב")
    await expect(page.locator("#photo-counter")).to_have_text("תמונה 1 מתוך 3")
    photo_box = await box.bounding_box()
    talk_box = await page.locator("#talk").bounding_box()
    assert (
        photo_box and talk_box and photo_box["y"] + photo_box["height"] <= talk_box["y"]
    )  # above the button
    await shot(page, "elder-photo-showing")
    await page.set_viewport_size({"width": 800, "height": 1280})  # a tablet held upright
    await shot(page, "elder-photo-showing-portrait")
    image = await page.locator("#photo-image").bounding_box()
    assert image and image["height"] > 1280 / 3, image  # the photo takes the screen, not a corner of it
    await page.set_viewport_size({"width": 1024, "height": 900})

    await page.get_by_role("button", name="התמונה הבאה").click()  # the page asks the model for the next one
    await showing(page, school)
    await expect(page.locator("#photo-counter")).to_have_text("תמונה 2 מתוך 3")
    await shot(page, "elder-photo-next")
    await page.get_by_role("button", name="סגירה").click()
    await expect(box).to_have_attribute("data-state", "hidden")
    await expect(box).to_be_hidden()
    await shot(page, "elder-photo-closed")

    await socket.quiet()
    socket.say("עוד תמונה")
    await showing(page, garden)
    await expect(page.get_by_role("button", name="התמונה הבאה")).to_be_hidden()  # the last one
    socket.heard("די, מספיק")
    await expect(box).to_have_attribute("data-state", "hidden")

    # A photo the family deletes while it is on the screen leaves it.
    late = await upload(live, USER, {"caption": "נועם בחוף", "people": ["נועם"]})
    await socket.quiet()
    socket.say("תראי לי את התמונה של נועם בחוף")  # a new choice: the one photo not shown yet
    await showing(page, late)
    deleted = await live.http.delete(f"/api/users/{USER}/photos/{late}", headers=live.auth())
    assert deleted.status_code == 204
    await expect(box).to_have_attribute("data-state", "hidden", timeout=GONE_WITHIN_MS)

    # The image as the tablet gets it, and as another person's tablet does not.
    mine = await page.context.request.get(f"/app/photos/{beach}")
    assert mine.status == 200 and mine.headers["content-type"] == "image/jpeg"
    assert mine.headers["cache-control"] == "private, no-store"
    assert "default-src 'none'" in mine.headers["content-security-policy"]
    assert (await page.context.request.get(f"/app/photos/{late}")).status == 404
    made = await live.http.post("/api/users", headers=live.auth(), json={"userId": OTHER})
    assert made.status_code == 201, made.text
    other = await new_page(browser, contexts, live)
    await pair(other, live, OTHER)
    theirs = await other.context.request.get(f"/app/photos/{beach}")
    assert theirs.status == 404
    stranger = await new_page(browser, contexts, live)  # a browser never paired
    assert (await stranger.context.request.get(f"/app/photos/{beach}")).status == 401
    await page.locator("#talk").click()  # the end of the conversation takes any photo away
    await expect(box).to_have_attribute("data-state", "hidden")
