"""Driving the elder's page in Chromium and watching it from outside.

Three independent witnesses, so a test does not just believe the page's own counters:

- :class:`Wire` records every frame of the page's ``/v1/realtime`` WebSockets as Playwright sees them
  (``framesent`` / ``framereceived``), with the wall-clock time it saw each one; appended audio is
  decoded and measured (bytes, RMS) here, in Python.
- :data:`PROBE_SCRIPT` runs in the page before its own scripts and samples ``window.companionDebug``,
  ``#status``, ``#music`` and ``#captions`` every few milliseconds, keeping when each item's played
  samples first grew and last grew, and every change, on the same wall clock
  (``performance.timeOrigin + now()``). It also marks, on that clock, when the page's WebSocket got
  ``speech_started`` and sent ``conversation.item.truncate`` (a subclass that only listens).
- the service's own API (live sessions, devices), through :class:`tests.elder.conftest.Api`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from playwright.async_api import Browser, BrowserContext, Page, Playwright, WebSocket

from companion.localmodel.audio import rms
from tests.dashboard.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, UI_TIMEOUT_MS
from tests.elder.audio_fixtures import MicScript

REALTIME_PATH: Final = "/v1/realtime"
PROBE_PERIOD_MS: Final = 5  # sampling period of the in-page probe; well under the 100 ms barge-in budget
MEDIA_ARGS: Final = (
    "--use-fake-ui-for-media-stream",  # grant the microphone without a prompt
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
)
DEVICE_COOKIE: Final = "companion_device"
STATES: Final = (
    "idle",
    "connecting",
    "listening",
    "thinking",
    "speaking",
    "reconnecting",
    "error",
    "unpaired",
)

PROBE_SCRIPT: Final = (
    """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const probe = { played: {}, firstAt: {}, lastGrowAt: {}, states: [], music: [], captions: [], marks: [] };
  window.__probe = probe;
  // When the page itself got speech_started and sent a truncate, on the page's clock (CDP adds delay).
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        if (typeof e.data === "string" && e.data.includes('"input_audio_buffer.speech_started"')) {
          probe.marks.push([now(), "speech_started"]);
        }
      });
    }
    send(data) {
      if (typeof data === "string" && data.includes('"conversation.item.truncate"')) {
        probe.marks.push([now(), "truncate"]);
      }
      return super.send(data);
    }
  };
  let lastState, lastMusic, lastCaptions;
  setInterval(() => {
    const d = window.companionDebug;
    if (d && d.playedSamplesByItem) {
      for (const [id, n] of Object.entries(d.playedSamplesByItem)) {
        const prev = probe.played[id] || 0;
        if (n > prev) {
          if (!(id in probe.firstAt)) probe.firstAt[id] = now();
          probe.lastGrowAt[id] = now();
        }
        probe.played[id] = n;
      }
    }
    const s = document.getElementById("status");
    const st = s ? s.getAttribute("data-state") : null;
    if (st !== lastState) { lastState = st; probe.states.push([now(), st]); }
    const m = document.getElementById("music");
    const ms = m ? m.getAttribute("data-state") + "|" + (m.getAttribute("data-title") || "") : null;
    if (ms !== lastMusic) { lastMusic = ms; probe.music.push([now(), ms]); }
    const c = document.getElementById("captions");
    const ct = c ? c.textContent : null;
    if (ct !== lastCaptions) { lastCaptions = ct; probe.captions.push([now(), ct]); }
  }, """
    + str(PROBE_PERIOD_MS)
    + """);
})();
"""
)


def now_ms() -> float:
    """Wall-clock milliseconds, comparable with the probe's ``performance.timeOrigin + now()``."""
    return time.time() * 1000


@dataclass(frozen=True, slots=True)
class Frame:
    at_ms: float
    sent: bool
    event: dict[str, Any]
    socket: int


@dataclass(frozen=True, slots=True)
class Append:
    at_ms: float
    nbytes: int
    rms: float
    socket: int


@dataclass
class Wire:
    """Every ``/v1/realtime`` frame the page sent or received, audio measured instead of kept."""

    frames: list[Frame] = field(default_factory=list)
    appends: list[Append] = field(default_factory=list)
    sockets: list[WebSocket] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    bad_frames: list[str] = field(default_factory=list)
    pcm: bytearray = field(default_factory=bytearray)  # everything appended, to listen to after a failure

    def attach(self, page: Page) -> None:
        page.on("websocket", self._on_socket)

    def _on_socket(self, ws: WebSocket) -> None:
        if REALTIME_PATH not in ws.url:
            return
        index = len(self.sockets)
        self.sockets.append(ws)
        ws.on("framesent", lambda payload: self._frame(payload, True, index))
        ws.on("framereceived", lambda payload: self._frame(payload, False, index))
        ws.on("close", lambda _ws: self.closed.append(index))

    def _frame(self, payload: str | bytes, sent: bool, socket: int) -> None:
        at = now_ms()
        try:
            event = json.loads(payload)
        except (ValueError, TypeError):
            self.bad_frames.append(repr(payload)[:80])
            return
        if not isinstance(event, dict):
            self.bad_frames.append(repr(payload)[:80])
            return
        kind = event.get("type")
        if sent and kind == "input_audio_buffer.append":
            try:
                pcm = base64.b64decode(str(event.get("audio", "")), validate=True)
            except (binascii.Error, ValueError):
                self.bad_frames.append("append with bad base64")
                return
            self.appends.append(Append(at, len(pcm), rms(pcm), socket))
            self.pcm.extend(pcm)
            return
        if not sent and kind == "response.output_audio.delta":
            delta = str(event.pop("delta", ""))
            event["deltaBytes"] = len(base64.b64decode(delta)) if delta else 0
        self.frames.append(Frame(at, sent, event, socket))

    def events(self, kind: str, *, sent: bool | None = None) -> list[Frame]:
        return [f for f in self.frames if f.event.get("type") == kind and (sent is None or f.sent == sent)]

    def first(self, kind: str, *, sent: bool | None = None, after_ms: float = 0.0) -> Frame | None:
        return next((f for f in self.events(kind, sent=sent) if f.at_ms >= after_ms), None)

    def audio_items(self) -> list[str]:
        """Response items that carried audio, in the order their first delta arrived."""
        seen: list[str] = []
        for frame in self.events("response.output_audio.delta", sent=False):
            item = str(frame.event.get("item_id"))
            if item not in seen:
                seen.append(item)
        return seen

    def speech_runs(self, threshold: float, gap_ms: float = 400.0) -> list[tuple[float, float]]:
        """``(first, last)`` send times of runs of loud appends: the phrases as they left the page."""
        runs: list[tuple[float, float]] = []
        for append in self.appends:
            if append.rms <= threshold:
                continue
            if runs and append.at_ms - runs[-1][1] <= gap_ms:
                runs[-1] = (runs[-1][0], append.at_ms)
            else:
                runs.append((append.at_ms, append.at_ms))
        return runs


@asynccontextmanager
async def chromium(pw: Playwright, mic: MicScript) -> AsyncIterator[Browser]:
    """One Chromium whose microphone plays ``mic`` once (a browser reads its fake file at launch)."""
    args = [*CHROMIUM_ARGS, *MEDIA_ARGS, f"--use-file-for-fake-audio-capture={mic.arg()}"]
    browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
    try:
        yield browser
    finally:
        await browser.close()


@dataclass
class ElderPage:
    """One browser context (one tablet) with the probe installed and its wire recorded."""

    context: BrowserContext
    page: Page
    wire: Wire

    @classmethod
    async def open(cls, browser: Browser, base: str, width: int = 1024, height: int = 800) -> ElderPage:
        context = await browser.new_context(viewport={"width": width, "height": height}, base_url=base)
        context.set_default_timeout(UI_TIMEOUT_MS)
        await context.add_init_script(PROBE_SCRIPT)
        page = await context.new_page()
        wire = Wire()
        wire.attach(page)
        return cls(context, page, wire)

    async def state(self) -> str | None:
        return await self.page.locator("#status").get_attribute("data-state")

    async def wait_state(self, *states: str, timeout_s: float = UI_TIMEOUT_MS / 1000) -> str:
        """Wait until ``#status`` shows one of ``states``; return it."""
        wanted = json.dumps(list(states))
        await self.page.wait_for_function(
            f"""() => {{ const s = document.getElementById("status");
                   return s && {wanted}.includes(s.getAttribute("data-state")); }}""",
            timeout=timeout_s * 1000,
        )
        state = await self.state()
        assert state is not None
        return state

    async def debug(self) -> dict[str, Any]:
        value: dict[str, Any] = await self.page.evaluate(
            "() => JSON.parse(JSON.stringify(window.companionDebug || null))"
        )
        return value

    async def probe(self) -> dict[str, Any]:
        value: dict[str, Any] = await self.page.evaluate("() => JSON.parse(JSON.stringify(window.__probe))")
        return value

    async def states_seen(self) -> list[str]:
        return [state for _, state in (await self.probe())["states"]]

    async def start_talking(self) -> None:
        """Open the conversation: the page may start by itself, or wait for the talk button."""
        state = await self.wait_state(*[s for s in STATES if s != "connecting"], "connecting")
        if state == "idle":
            await self.page.locator("#talk").click()
        await self.wait_state("listening", "speaking", "thinking", timeout_s=20)

    async def device_cookie(self) -> dict[str, Any] | None:
        cookies = await self.context.cookies()
        return next((dict(c) for c in cookies if c["name"] == DEVICE_COOKIE), None)

    async def shot(self, name: str, width: int | None = None) -> Path:
        """``artifacts/screenshots/app-<name>.png``; at ``width`` px when given (the viewport is restored)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"app-{name}.png"
        before = self.page.viewport_size
        if width is not None and before is not None:
            await self.page.set_viewport_size({"width": width, "height": before["height"]})
        await self.page.screenshot(path=str(path), full_page=True)
        if width is not None and before is not None:
            await self.page.set_viewport_size(before)
        return path

    async def close(self) -> None:
        await self.context.close()


async def until(check: Callable[[], bool], what: str, timeout_s: float) -> None:
    """Wait (polling, wall clock) until ``check()`` holds; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for: {what}")
        await asyncio.sleep(0.02)


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
