"""The elder's page (/app) in headless Debian Chromium against the real service on loopback.

The microphone is Chromium's fake capture device playing generated speech (espeak-ng + sox, see
``audio_fixtures``); the companion is the offline engine inside the service (espeak-ng voice, pocketsphinx
grammar). What the page does is checked from outside: its WebSocket frames as Playwright sees them, an
in-page probe of its debug counters and of ``#status`` / ``#music`` / ``#captions``, and the service's API.
Chromium hands the page the microphone's frames as they are captured, and the page reads them so; the
barge-in runs without that (as in Safari and Firefox), through the capture AudioWorklet.

Screenshots land in ``artifacts/screenshots/app-*.png`` (git-ignored); the measured time from the end of
the person's speech to the first audio played is printed and written to ``artifacts/app-latency.json``.
A missing Chromium, Playwright, espeak-ng or sox skips these tests locally and fails them under CI=true.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import pytest
import pytest_asyncio

from tests.dashboard.test_dashboard_browser import SHOTS
from tests.elder.audio_fixtures import MicScript
from tests.elder.conftest import (
    ENGLISH,
    HEBREW,
    PREFERRED,
    PREFERRED_TITLE,
    ElderEnv,
    english_music,
)

try:  # the dev extra installs playwright; without it ``elder_env`` skips (or fails under CI=true)
    from playwright.async_api import Playwright, async_playwright

    from tests.elder.page_driver import ElderPage, Frame, chromium, median, now_ms, until
    from tests.elder.scenarios import Conversation, paired_page, run_conversation, scripts
except ImportError:  # pragma: no cover
    async_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.asyncio(loop_scope="module")

BYTES_PER_S: Final = 48_000  # 24 kHz mono PCM16, what the realtime session declares
RATE_TOLERANCE: Final = 0.10
VAD_RMS: Final = 0.05 * 32768  # -26 dBFS: the page's full-level phrases arrive well above it (speech runs)
QUIET_RMS: Final = 300.0  # the fake microphone's silences, after Chromium's processing, stay below this
TRUNCATE_TOLERANCE_MS: Final = 100.0  # the bound between audio_end_ms and what was played
STOP_BUDGET_MS: Final = 100.0  # the budget: speech_started -> playback stopped, truncate sent
LISTENING_WITHIN_MS: Final = 200.0  # after a barge-in, the page shows "listening" within this
MAX_LATENCY_MS: Final = 3000.0  # end of speech -> first sound: above this a person thinks it did not hear
SAMPLES_PER_MS: Final = 24
ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pw(elder_env: ElderEnv) -> AsyncIterator[Playwright]:
    async with async_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def mics(elder_env: ElderEnv) -> dict[str, MicScript]:
    return scripts(elder_env.work)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def conversation(pw: Playwright, elder_env: ElderEnv, mics: dict[str, MicScript]) -> Conversation:
    return await run_conversation(pw, elder_env, mics["conversation"])


def received(rec: Conversation, kind: str) -> list[Frame]:
    return rec.wire.events(kind, sent=False)


def transcripts(rec: Conversation) -> list[str]:
    done = received(rec, "conversation.item.input_audio_transcription.completed")
    return [str(f.event.get("transcript", "")) for f in done]


def companion_texts(rec: Conversation) -> dict[str, str]:
    return {
        str(f.event.get("item_id")): str(f.event.get("transcript", ""))
        for f in received(rec, "response.output_audio_transcript.done")
    }


def delivered_samples(rec: Conversation, item: str) -> int:
    frames = received(rec, "response.output_audio.delta")
    return sum(int(f.event["deltaBytes"]) for f in frames if f.event.get("item_id") == item) // 2


def answer_after(rec: Conversation, at_ms: float) -> str | None:
    """The first response item whose audio started arriving after ``at_ms``."""
    for item in rec.wire.audio_items():
        first = next(
            f for f in received(rec, "response.output_audio.delta") if f.event.get("item_id") == item
        )
        if first.at_ms > at_ms:
            return item
    return None


def squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def context_of(rec: Conversation) -> str:
    """What the witnesses saw, for a failure message."""
    kinds: dict[str, int] = {}
    for frame in rec.wire.frames:
        key = ("> " if frame.sent else "< ") + str(frame.event.get("type"))
        kinds[key] = kinds.get(key, 0) + 1
    errors = [f.event for f in received(rec, "error")]
    return (
        f"steps that failed: {rec.failures}; transcripts: {transcripts(rec)}; "
        f"companion said: {list(companion_texts(rec).values())}; errors: {errors}; "
        f"states: {[s for _, s in rec.probe.get('states', [])]}; frames: {kinds}"
    )


# -- 1. pairing -----------------------------------------------------------------------------------------


async def test_pairing_by_link_and_refusals(
    pw: Playwright, elder_env: ElderEnv, mics: dict[str, MicScript]
) -> None:
    api = elder_env.api
    before = len(api.devices(ENGLISH))
    async with chromium(pw, mics["silence"]) as browser:
        link = api.pairing(ENGLISH)
        assert link["url"].endswith(f"/app/pair/{link['code']}")
        linked = await ElderPage.open(browser, elder_env.base)
        shown = await linked.page.goto(link["url"])
        assert shown is not None and shown.status == 200
        assert await linked.device_cookie() is None, "opening the link must not pair (link previews do)"
        assert await _tap_connect(linked) == 200, "one tap pairs and lands on /app"
        assert linked.page.url == elder_env.base + "/app", linked.page.url
        assert await linked.wait_state("idle") == "idle"
        cookie = await linked.device_cookie()
        assert cookie is not None, "pairing by link set no device cookie"
        assert cookie["httpOnly"], "the device credential must not be readable by JavaScript"
        assert cookie["sameSite"] == "Strict"
        assert await linked.page.evaluate("() => document.cookie") == ""

        # the same link again, in another browser: the code is used up
        other = await ElderPage.open(browser, elder_env.base)
        await other.page.goto(link["url"])
        assert await _tap_connect(other) == 410, "a used code must be refused with 410"
        assert await other.device_cookie() is None, "a refused code must not pair the browser"
        assert await other.page.locator('a[href$="/app"]').count() >= 1, "the refusal page links back"

        unknown = await ElderPage.open(browser, elder_env.base)
        await unknown.page.goto("/app/pair/000000")
        assert await _tap_connect(unknown) in (404, 410)
        assert await unknown.device_cookie() is None

        # an expired code: made to expire in the store (the service shares the SQLite file)
        expiring = api.pairing(ENGLISH)
        _expire_unused_codes(elder_env, ENGLISH)
        late = await ElderPage.open(browser, elder_env.base)
        await late.page.goto(expiring["url"])
        assert await _tap_connect(late) == 410, "an expired code must be refused with 410"
        assert await late.device_cookie() is None
    assert len(api.devices(ENGLISH)) == before + 1, "the link paired one tablet, the refusals none"


async def test_pairing_by_the_code_typed_on_the_page(
    pw: Playwright, elder_env: ElderEnv, mics: dict[str, MicScript]
) -> None:
    api = elder_env.api
    before = len(api.devices(ENGLISH))
    async with chromium(pw, mics["silence"]) as browser:
        typed = await ElderPage.open(browser, elder_env.base)
        origins: list[str | None] = []
        typed.page.on(
            "request",
            lambda r: origins.append(r.headers.get("origin")) if r.method == "POST" else None,
        )
        await typed.page.goto("/app")
        assert await typed.wait_state("unpaired") == "unpaired"
        await typed.page.locator("#code").fill(api.pairing(ENGLISH)["code"])
        async with typed.page.expect_navigation() as navigation:
            await typed.page.locator("#pair button[type=submit]").click()
        landed = await navigation.value
        status = landed.status if landed is not None else None
        assert typed.page.url == elder_env.base + "/app", (
            f"the typed code did not pair: {typed.page.url} answered {status}; the form was posted with "
            f"Origin {origins}, the page's own origin is {elder_env.base}"
        )
        assert await typed.wait_state("idle") == "idle"
        assert await typed.device_cookie() is not None
    assert len(api.devices(ENGLISH)) == before + 1


async def _tap_connect(elder: ElderPage) -> int | None:
    """Press the link page's one button (it posts the code); the status of the page it lands on."""
    async with elder.page.expect_navigation() as navigation:
        await elder.page.locator("#pair-link button[type=submit]").click()
    landed = await navigation.value
    return landed.status if landed is not None else None


def _expire_unused_codes(env: ElderEnv, user: str) -> None:
    db = sqlite3.connect(env.service.data_dir / "companion.db", timeout=10)
    try:
        with db:
            changed = db.execute(
                "UPDATE pairing_codes SET expires_at = created_at WHERE user_id = ? AND used_at IS NULL",
                (user,),
            ).rowcount
    finally:
        db.close()
    assert changed >= 1


# -- 2, 3, 6, 10: one spoken conversation ---------------------------------------------------------------


async def test_audio_goes_up_as_24khz_pcm16_with_speech(conversation: Conversation) -> None:
    rec = conversation
    appends = [a for a in rec.wire.appends if a.socket == 0]
    assert len(appends) > 50, f"the page sent almost no audio: {context_of(rec)}"
    assert all(a.nbytes % 2 == 0 for a in appends), "PCM16 comes in whole samples"
    t0 = appends[0].at_ms
    window = [a for a in appends if t0 + 2000 < a.at_ms <= t0 + 5000]
    window_rate = sum(a.nbytes for a in window) / 3.0
    span_s = (appends[-1].at_ms - t0) / 1000
    overall_rate = sum(a.nbytes for a in appends[1:]) / span_s
    gaps = [b.at_ms - a.at_ms for a, b in itertools.pairwise(appends)]
    print(
        f"\naudio up: {window_rate:.0f} B/s over 3 s, {overall_rate:.0f} B/s over {span_s:.1f} s, "
        f"median append every {median(gaps):.0f} ms"
    )
    assert abs(window_rate - BYTES_PER_S) <= RATE_TOLERANCE * BYTES_PER_S, window_rate
    assert abs(overall_rate - BYTES_PER_S) <= RATE_TOLERANCE * BYTES_PER_S, overall_rate
    assert median(gaps) <= 60, "appends should leave every 20-50 ms"

    on_wire = sum(a.nbytes for a in rec.wire.appends)
    counted = rec.debug["sentAudioBytes"]
    assert abs(counted - on_wire) <= 0.01 * on_wire + 4800, f"page counted {counted}, wire carried {on_wire}"
    assert "ek_" not in json.dumps(rec.debug), "companionDebug must not expose the client secret"
    assert rec.debug["microphone"] == "frames", "Chromium's captured frames are read as they come"

    runs = rec.wire.speech_runs(VAD_RMS)
    assert len(runs) >= len(rec.mic.phrases), f"phrases in the file {len(rec.mic.phrases)}, heard {runs}"
    loudest = max(a.rms for a in appends)
    assert loudest > 2 * VAD_RMS, f"speech arrives too quiet for the VAD: RMS {loudest:.0f}"
    opening = [a.rms for a in appends if a.at_ms < t0 + 1000]
    assert max(opening) < QUIET_RMS, "the file's opening silence must arrive as silence"


async def test_answer_is_played_and_captioned(conversation: Conversation) -> None:
    rec = conversation
    stops = received(rec, "input_audio_buffer.speech_stopped")
    assert stops, f"the engine never heard the end of a phrase: {context_of(rec)}"
    items = rec.wire.audio_items()
    assert items, f"no response audio reached the page: {context_of(rec)}"
    greeting = items[0]
    assert rec.probe["firstAt"].get(greeting), "the greeting was not played"
    answer = answer_after(rec, stops[0].at_ms)
    assert answer is not None, f"no answer after the first phrase: {context_of(rec)}"
    played = rec.probe["played"].get(answer, 0)
    sent = delivered_samples(rec, answer)
    assert played > 0, "the answer's audio arrived but was not played"
    assert abs(played - sent) <= 0.02 * sent + 512, f"played {played} of {sent} samples of the answer"
    assert rec.debug["playedSamplesByItem"][answer] == played
    states = [s for _, s in rec.probe["states"]]
    assert "speaking" in states and "listening" in states, states

    texts = companion_texts(rec)
    captions = [squash(text or "") for _, text in rec.probe["captions"]]
    for item in (greeting, answer):
        said = squash(texts.get(item, ""))
        assert said, f"no transcript for {item}: {context_of(rec)}"
        assert any(said in c for c in captions), f"captions never showed {said!r}: {captions[-3:]}"
    for heard in transcripts(rec):
        if heard.strip():
            assert any(squash(heard) in c for c in captions), f"the person's words {heard!r} not captioned"


async def test_play_me_music_plays_the_preferred_track_and_stop_the_music_stops_it(
    conversation: Conversation,
) -> None:
    rec = conversation
    heard = [squash(t) for t in transcripts(rec)]
    asked = [t for t in heard if "play" in t and "music" in t]
    assert asked, f"the engine did not transcribe 'play me music': {context_of(rec)}"
    calls = [
        f.event["item"]
        for f in received(rec, "response.output_item.done")
        if f.event.get("item", {}).get("type") == "function_call"
    ]
    play = [c for c in calls if c.get("name") == "play_music"]
    assert play, f"no play_music call reached the page: {context_of(rec)}"
    assert PREFERRED in json.loads(play[0]["arguments"]).get("artist", "")
    outputs = [
        f.event["item"]
        for f in rec.wire.events("conversation.item.create", sent=True)
        if f.event.get("item", {}).get("type") == "function_call_output"
    ]
    answered = [o for o in outputs if o.get("call_id") == play[0]["call_id"]]
    assert answered, "the page did not answer play_music with a function_call_output"
    assert rec.failure("music playing") is None, f"{rec.failure('music playing')}: {context_of(rec)}"
    playing = [m for _, m in rec.probe["music"] if m and m.startswith("playing|")]
    assert playing and playing[0] == f"playing|{PREFERRED_TITLE}", rec.probe["music"]
    tracks = [r for r in rec.music_responses if "/app/music/tracks/" in r[0]]
    assert tracks and all(status in (200, 206) for _, status, _ in tracks), rec.music_responses

    assert any("stop" in t and "music" in t for t in heard), f"'stop the music' not heard: {context_of(rec)}"
    assert rec.failure("music stopped") is None, f"{rec.failure('music stopped')}: {context_of(rec)}"
    states = [m for _, m in rec.probe["music"]]
    assert states[-1] is not None and states[-1].startswith("stopped"), states


async def test_time_from_end_of_speech_to_first_sound(conversation: Conversation) -> None:
    rec = conversation
    runs = rec.wire.speech_runs(VAD_RMS)
    texts = companion_texts(rec)
    turns: list[Turn] = []
    for stop in received(rec, "input_audio_buffer.speech_stopped"):
        item = answer_after(rec, stop.at_ms)
        first_played = rec.probe["firstAt"].get(item or "")
        ends = [end for _, end in runs if end < stop.at_ms]
        if item is None or first_played is None or not ends:
            continue
        first_delta = next(
            f.at_ms for f in received(rec, "response.output_audio.delta") if f.event.get("item_id") == item
        )
        turns.append(
            Turn(
                said=texts.get(item, ""),
                speech_end_to_sound_ms=round(first_played - ends[-1]),
                speech_stopped_to_sound_ms=round(first_played - stop.at_ms),
                speech_stopped_to_first_delta_ms=round(first_delta - stop.at_ms),
                first_delta_to_sound_ms=round(first_played - first_delta),
            )
        )
    report = [asdict(t) for t in turns]
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "app-latency.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print("\nend of speech -> first audio played in the browser:")
    for turn in turns:
        print(f"  {turn}")
    assert len(turns) >= 2, f"fewer than two answered turns to measure: {context_of(rec)}"
    for turn in turns:
        assert 0 < turn.speech_end_to_sound_ms < MAX_LATENCY_MS, turn


@dataclass(frozen=True, slots=True)
class Turn:
    said: str
    speech_end_to_sound_ms: int  # last loud append the page sent -> first played sample
    speech_stopped_to_sound_ms: int  # the engine's VAD end (500 ms of silence later) -> first played sample
    speech_stopped_to_first_delta_ms: int  # the service's side of it
    first_delta_to_sound_ms: int  # the page's side of it


# -- 4. barge-in ----------------------------------------------------------------------------------------


async def test_barge_in_truncates_at_what_was_played(
    pw: Playwright, elder_env: ElderEnv, mics: dict[str, MicScript]
) -> None:
    mic = mics["barge"]
    async with chromium(pw, mic) as browser:
        elder = await paired_page(browser, elder_env, ENGLISH)
        # a browser that does not hand over the captured frames: the capture worklet reads them
        await elder.page.evaluate("delete window.MediaStreamTrackProcessor")
        await elder.start_talking()
        wire = elder.wire
        await until(
            lambda: bool(wire.events("conversation.item.truncate", sent=True)),
            "the page to send conversation.item.truncate",
            mic.duration_s + 5,
        )
        await asyncio.sleep(0.8)  # playback counters settle; the engine confirms
        probe = await elder.probe()
        debug = await elder.debug()
        await elder.close()
    truncate = wire.events("conversation.item.truncate", sent=True)[0]
    item = str(truncate.event["item_id"])
    end_ms = float(truncate.event["audio_end_ms"])
    played_ms = probe["played"][item] / SAMPLES_PER_MS
    print(f"\nbarge-in: audio_end_ms {end_ms:.0f}, played {played_ms:.0f} ms of item {item}")
    assert abs(end_ms - played_ms) <= TRUNCATE_TOLERANCE_MS, (end_ms, played_ms)
    delivered = (
        sum(
            int(f.event["deltaBytes"])
            for f in wire.events("response.output_audio.delta", sent=False)
            if f.event.get("item_id") == item
        )
        // 2
    )
    assert probe["played"][item] < delivered, "the item was cut, so less was played than delivered"
    started = [
        f for f in wire.events("input_audio_buffer.speech_started", sent=False) if f.at_ms <= truncate.at_ms
    ]
    assert started, "a truncate without the person starting to speak"
    # on the page's own clock: when its socket got speech_started, sent the truncate, last played a sample
    heard = [t for t, mark in probe["marks"] if mark == "speech_started"]
    cut = next(t for t, mark in probe["marks"] if mark == "truncate")
    cause = max(t for t in heard if t <= cut)
    stopped_after = probe["lastGrowAt"][item] - cause
    print(
        f"barge-in: after speech_started reached the page, truncate sent in {cut - cause:.0f} ms, "
        f"last sample played at {stopped_after:.0f} ms"
    )
    assert cut - cause <= STOP_BUDGET_MS
    assert stopped_after <= STOP_BUDGET_MS, "playback went on after the person started speaking"
    # while the person talks over it, the page shows that it listens (not "speaking" until the next answer)
    shown = [state for at, state in probe["states"] if at <= cause + LISTENING_WITHIN_MS]
    print(f"barge-in: states up to {LISTENING_WITHIN_MS:.0f} ms after speech_started: {shown[-3:]}")
    assert shown[-1] == "listening", probe["states"]
    assert debug["microphone"] == "worklet"
    assert debug["lastTruncate"]["itemId"] == item
    assert abs(float(debug["lastTruncate"]["audioEndMs"]) - end_ms) < 1
    confirmed = [
        f for f in wire.events("conversation.item.truncated", sent=False) if f.event.get("item_id") == item
    ]
    assert confirmed, "the model did not confirm the truncate"
    errors = [f.event for f in wire.events("error", sent=False) if f.at_ms >= truncate.at_ms]
    assert not errors, errors


# -- 5. a profile save refreshes the page's conversation ---------------------------------------------------


async def test_profile_save_refreshes_the_pages_conversation(
    pw: Playwright, elder_env: ElderEnv, mics: dict[str, MicScript]
) -> None:
    api = elder_env.api
    async with chromium(pw, mics["silence"]) as browser:
        elder = await paired_page(browser, elder_env, ENGLISH)
        await elder.start_talking()
        await until(
            lambda: [s["status"] for s in api.sessions(ENGLISH)] == ["active"],
            "exactly one active live session of the person (the page's)",
            15,
        )
        before = api.sessions(ENGLISH)[0]["instructionsVersion"]
        saved = api.put_section(ENGLISH, "music", {"preferredArtists": [PREFERRED, "Ella Fitzgerald"]})
        try:
            assert saved.status_code == 200, saved.text
            assert saved.json()["liveSessions"]["refreshed"] == 1, saved.json()["liveSessions"]
            session = api.sessions(ENGLISH)[0]
            assert session["instructionsVersion"] == api.instructions_version(ENGLISH) != before
            assert session["lastRefresh"]["result"] == "refreshed"
            assert await elder.state() not in ("error", "reconnecting", "unpaired")
        finally:
            api.put_section(ENGLISH, "music", english_music())
            await elder.close()


# -- 7. revoking the device -------------------------------------------------------------------------------


async def test_revoking_the_device_ends_the_conversation_for_good(
    pw: Playwright, elder_env: ElderEnv, mics: dict[str, MicScript]
) -> None:
    api = elder_env.api
    async with chromium(pw, mics["silence"]) as browser:
        elder = await paired_page(browser, elder_env, ENGLISH)
        async with elder.page.expect_response(lambda r: r.url.endswith("/app/session")) as info:
            await elder.start_talking()
        device_id = (await (await info.value).json())["deviceId"]
        assert device_id in [d["id"] for d in api.devices(ENGLISH)]
        await elder.wait_state("listening", "speaking")
        revoked = api.request("DELETE", f"/api/users/{ENGLISH}/devices/{device_id}")
        assert revoked.status_code == 204, revoked.text
        revoked_at = now_ms()
        await elder.wait_state("unpaired", timeout_s=5)
        await until(lambda: 0 in elder.wire.closed, "the live WebSocket to close", 5)
        assert device_id not in [d["id"] for d in api.devices(ENGLISH)]
        await until(  # the service lists it until its own end of the conversation is done
            lambda: (
                not [
                    s for s in api.sessions(ENGLISH) if s["deviceId"] == device_id and s["status"] == "active"
                ]
            ),
            "the revoked device's conversation to leave the service's list",
            5,
        )
        # that an unpaired page never asks again is proved in virtual time by tests/js/connection.test.mjs
        reopened = [f for f in elder.wire.events("session.created", sent=False) if f.at_ms > revoked_at]
        assert not reopened, "a revoked tablet opened a conversation again"
        again = await elder.context.request.post(
            elder_env.base + "/app/session", headers={"Origin": elder_env.base}
        )
        assert again.status == 401
        await elder.page.reload()
        assert await elder.wait_state("unpaired") == "unpaired"
        await elder.shot("unpaired-revoked-1024")
        await elder.close()


# -- 9. screenshots: idle, unpaired, Hebrew right to left --------------------------------------------------


async def test_screenshots_idle_unpaired_and_hebrew_right_to_left(
    pw: Playwright, elder_env: ElderEnv, mics: dict[str, MicScript]
) -> None:
    async with chromium(pw, mics["silence"]) as browser:
        english = await paired_page(browser, elder_env, ENGLISH)
        assert await english.wait_state("idle") == "idle"
        assert await english.page.evaluate("() => [document.documentElement.lang, document.dir]") == [
            "en",
            "ltr",
        ]
        await english.shot("idle-1024")
        await english.shot("idle-360", width=360)

        hebrew = await paired_page(browser, elder_env, HEBREW, width=360)
        assert await hebrew.wait_state("idle") == "idle"
        assert await hebrew.page.evaluate("() => [document.documentElement.lang, document.dir]") == [
            "he",
            "rtl",
        ]
        assert await hebrew.page.locator("#status").text_content() == "מוכן לשיחה"  # a male companion
        talk = await hebrew.page.locator("#talk").bounding_box()
        assert talk is not None and talk["width"] >= 160 and talk["height"] >= 160, talk
        scroll = await hebrew.page.evaluate("() => document.documentElement.scrollWidth")
        assert scroll <= 360, "nothing overflows sideways at 360 px"
        await hebrew.shot("idle-he-360")
        await hebrew.shot("idle-he-1024", width=1024)
        await hebrew.start_talking()
        # The companion may greet first, so the state and its words are read together, in the page.
        await hebrew.page.wait_for_function(
            """() => { const s = document.getElementById("status");
                       return s.getAttribute("data-state") === "listening" && s.textContent === "מקשיב"; }""",
            timeout=20_000,
        )  # the words are written by app.js, in the companion's gender
        await hebrew.shot("listening-he-360")

        stranger = await ElderPage.open(browser, elder_env.base)
        await stranger.page.goto("/app")
        assert await stranger.wait_state("unpaired") == "unpaired"
        await stranger.shot("unpaired-1024")
        await stranger.shot("unpaired-360", width=360)
    for name in ("idle-1024", "idle-360", "idle-he-360", "unpaired-360"):
        assert (SHOTS / f"app-{name}.png").stat().st_size > 5000


async def test_conversation_screenshots_were_taken(conversation: Conversation) -> None:
    names = {p.stem for p in conversation.shots}
    expected = {f"app-{s}-{w}" for s in ("listening", "speaking", "music") for w in (1024, 360)}
    assert names == expected, f"missing {expected - names}: {context_of(conversation)}"
    assert (conversation.lang, conversation.direction) == ("en", "ltr")


# -- 8. the service restarts (last: it replaces the module's service process) ---------------------------


async def test_page_reconnects_by_itself_after_the_service_restarts(
    pw: Playwright, elder_env: ElderEnv, mics: dict[str, MicScript]
) -> None:
    async with chromium(pw, mics["silence"]) as browser:
        elder = await paired_page(browser, elder_env, ENGLISH)
        await elder.start_talking()
        await elder.wait_state("listening", timeout_s=20)
        created_before = len(elder.wire.events("session.created", sent=False))
        elder_env.service.kill()
        await elder.wait_state("reconnecting", timeout_s=10)
        elder_env.service.start()
        await elder.wait_state("listening", "speaking", timeout_s=30)
        assert len(elder.wire.events("session.created", sent=False)) > created_before
        states = await elder.states_seen()
        assert "reconnecting" in states
        assert states.index("reconnecting") < len(states) - 1
        assert [s["status"] for s in elder_env.api.sessions(ENGLISH)] == ["active"]
        assert await elder.device_cookie() is not None, "the pairing survived the restart"
        await elder.close()
