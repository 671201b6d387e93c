"""The fake microphone's scripts and the one long conversation that several tests read from.

The conversation runs once per module (about 30 s of real time: it is a spoken conversation) and records
what three witnesses saw: the WebSocket frames, the in-page probe, and the page's own debug counters.
Each test then asserts its own part, so one slow or broken part fails its test and not the others.
A step that times out is recorded in ``failures`` with the reason instead of stopping the recording.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from playwright.async_api import Browser, Playwright, Response
from playwright.async_api import Error as PlaywrightError

from tests.elder.audio_fixtures import MicScript, mic_script
from tests.elder.conftest import ENGLISH, ElderEnv
from tests.elder.page_driver import ElderPage, Wire, chromium, now_ms

GREETING_ROOM_S: Final = 7.0  # the greeting (up to ~5.5 s of espeak speech) ends before the person speaks
ANSWER_ROOM_S: Final = 6.5  # the answer to "hello how are you" (about 5 s) ends before the next phrase
MUSIC_ROOM_S: Final = 7.0  # the tool call, the track starting and "now playing ..." fit in here
TAIL_S: Final = 4.0  # the last phrase's answer is heard before the file ends
BARGE_LEAD_S: Final = 2.0  # the greeting has started (~0.7 s after the microphone opens) and goes on
BARGE_GAP_S: Final = 2.0  # after a phrase ends: VAD end (0.5 s) + the answer's start, then ~1 s of it
SETTLE_S: Final = 3.0  # after the script ends: the last answer finishes playing
STEP_TIMEOUT_S: Final = 20.0  # each awaited step of the conversation; phrases are seconds apart


def scripts(work: Path) -> dict[str, MicScript]:
    """The fake microphones: silence, the conversation, and the barge-in.

    The barge-in file speaks while the greeting plays; should the greeting come late, the second phrase
    falls inside the answer to the first. Either way the person talks over the companion.
    """
    return {
        "silence": mic_script(work / "silence.wav", [60.0]),
        "conversation": mic_script(
            work / "conversation.wav",
            [
                GREETING_ROOM_S,
                "hello how are you",
                ANSWER_ROOM_S,
                "play me music",
                MUSIC_ROOM_S,
                "stop the music",
                TAIL_S,
            ],
        ),
        "barge": mic_script(
            work / "barge.wav",
            [BARGE_LEAD_S, "hello how are you", BARGE_GAP_S, "hello how are you", 5.0],
        ),
    }


async def paired_page(browser: Browser, env: ElderEnv, user: str, width: int = 1024) -> ElderPage:
    """A new tablet paired to ``user`` by opening the link from ``POST /pairings`` and pressing its
    button; it lands on /app."""
    pairing = env.api.pairing(user)
    elder = await ElderPage.open(browser, env.base, width=width)
    await elder.page.goto(pairing["url"])
    async with elder.page.expect_navigation():
        await elder.page.locator("#pair-link button[type=submit]").click()
    assert elder.page.url.split("?")[0].rstrip("/").endswith("/app"), elder.page.url
    return elder


@dataclass
class Conversation:
    """Everything seen during one spoken conversation through the page."""

    mic: MicScript
    wire: Wire = field(default_factory=Wire)
    probe: dict[str, Any] = field(default_factory=dict)
    debug: dict[str, Any] = field(default_factory=dict)
    music_responses: list[tuple[str, int, str | None]] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    shots: list[Path] = field(default_factory=list)
    lang: str | None = None
    direction: str | None = None
    started_ms: float = 0.0

    def failure(self, step: str) -> str | None:
        return self.failures.get(step)


async def _step(rec: Conversation, name: str, action: Awaitable[Any]) -> bool:
    try:
        await action
    except (PlaywrightError, AssertionError, TimeoutError) as exc:
        rec.failures[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return False
    return True


def _record_music(rec: Conversation, response: Response) -> None:
    if "/app/music" in response.url:
        rec.music_responses.append((response.url, response.status, response.request.headers.get("range")))


async def run_conversation(pw: Playwright, env: ElderEnv, mic: MicScript) -> Conversation:
    """Pair, press talk, let the microphone file speak; screenshots at listening, speaking and music."""
    rec = Conversation(mic)
    async with chromium(pw, mic) as browser:
        elder = await paired_page(browser, env, ENGLISH)
        rec.wire = elder.wire
        elder.page.on("response", lambda r: _record_music(rec, r))
        page = elder.page
        rec.lang = await page.evaluate("() => document.documentElement.lang")
        rec.direction = await page.evaluate("() => document.documentElement.dir")
        try:
            rec.started_ms = now_ms()
            if not await _step(rec, "start", elder.start_talking()):
                return rec
            played_and = """([count, state]) => {
                const p = window.__probe, s = document.getElementById("status");
                return p && Object.keys(p.firstAt).length >= count && s.getAttribute("data-state") === state;
            }"""
            wait = STEP_TIMEOUT_S * 1000
            if await _step(
                rec,
                "listening after the greeting",
                page.wait_for_function(played_and, arg=[1, "listening"], timeout=wait),
            ):
                rec.shots.append(await elder.shot("listening-1024"))
                rec.shots.append(await elder.shot("listening-360", width=360))
            if await _step(
                rec,
                "speaking the answer",
                page.wait_for_function(played_and, arg=[2, "speaking"], timeout=wait),
            ):
                rec.shots.append(await elder.shot("speaking-1024"))
                rec.shots.append(await elder.shot("speaking-360", width=360))
            if await _step(
                rec,
                "music playing",
                page.wait_for_selector("#music[data-state=playing]", state="attached", timeout=wait),
            ):
                await asyncio.sleep(0.3)  # let the player paint its title
                rec.shots.append(await elder.shot("music-1024"))
                rec.shots.append(await elder.shot("music-360", width=360))
                await _step(
                    rec,
                    "music stopped",
                    page.wait_for_selector("#music[data-state=stopped]", state="attached", timeout=wait),
                )
            rest_ms = rec.started_ms + (mic.duration_s + SETTLE_S) * 1000 - now_ms()
            await asyncio.sleep(max(0.0, rest_ms / 1000))
        finally:
            rec.probe = await elder.probe()
            rec.debug = await elder.debug() or {}
            await elder.close()
    return rec
