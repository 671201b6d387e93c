"""The offline engine hears its phrases through the elder's page at every level, and "I fell" reaches
the family.

One Chromium whose fake microphone says the safety phrases and the music phrases at 100%, 50%, 25% and
15% of the full level (the same espeak-ng speech, scaled by sox), to the real service running the offline
engine. Each level hears half of the phrases and each phrase is said twice, once loud (100% or 50%) and
once quiet (25% or 15%): every level and every phrase goes through the page, in half the time of the
whole square. The whole square (every phrase at every level) is the engine's own test, without a page
(``tests/localmodel/test_localmodel_hearing_levels.py``). The person's care profile lists the English
crisis phrases with their severities; the service delivers alerts to a real HTTP receiver that checks
the Standard Webhooks signature.

What is checked: that the page sent all of the microphone's audio (each phrase sits in what it sent where
it sits in the file, so a word lost on the way reads as a loss and not as a mis-hearing), the transcript
of every turn (the engine heard each phrase, whole, at each level), and that each spoken crisis phrase
became an alert of its rule's severity that the receiver got, signed.
The audio the page sent is kept in ``artifacts/app-hearing-sent.wav`` (git-ignored), to listen to after
a failure. A missing Chromium, Playwright, espeak-ng or sox skips these tests locally and fails them under
CI=true.
"""

from __future__ import annotations

import contextlib
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import pytest_asyncio

from tests.care.receivers import SECRET, WebhookReceiver
from tests.elder.audio_fixtures import MicScript, Spoken, mic_script
from tests.elder.conftest import Api, ElderEnv, ServiceProcess, english_profile, require_browser_tools

try:  # the dev extra installs playwright; without it ``require_browser_tools`` skips
    from playwright.async_api import async_playwright

    from tests.elder.page_driver import Wire, chromium, until
    from tests.elder.scenarios import paired_page
except ImportError:  # pragma: no cover
    async_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.asyncio(loop_scope="module")

PERSON: Final = "user-elder-hearing"
LEVELS: Final = (1.0, 0.5, 0.25, 0.15)  # of the full level (speech peaks at -3 dBFS): -3 to -19.5 dBFS
CRISIS: Final = {"i fell": "critical", "help me": "critical", "i'm scared": "high", "i am lost": "critical"}
PROFILE_PHRASES: Final = {
    "i fell": "I fell",
    "help me": "Help me",
    "i'm scared": "I'm scared",
    "i am lost": "I am lost",
}
MUSIC: Final = ("play me music", "stop the music")
GREETING_ROOM_S: Final = 7.0  # the greeting (a few seconds of espeak speech) is over before the first phrase
# The answer (the tool's round trip, then up to ~5 s of speech) is over before the next phrase: talking
# over the companion is the barge-in test's subject, and Chromium's echo canceller clips the start of a
# phrase said over it (a 15% "play me music" arrived as "...music", heard as "play music").
ANSWER_ROOM_S: Final = 7.0
TAIL_S: Final = 4.0  # the last phrase is transcribed before the file ends
SETTLE_S: Final = 6.0  # after the file: the last turn's transcript and alert
SENT: Final = Path(__file__).resolve().parents[2] / "artifacts" / "app-hearing-sent.wav"
DELIVERY_TIMEOUT_S: Final = 20.0  # the care loop runs every second; generous for a loaded machine
# Where the engine finds a phrase's start moves with its level by a few frames: more than this between
# the first phrase and a later one is audio the page did not send.
LOSS_TOLERANCE_S: Final = 0.1


def said() -> list[tuple[str, float]]:
    """Which phrase at which level, in order: level k hears the phrases i with i + k even, so each phrase
    is said at one loud level (100% or 50%) and at one quiet level (25% or 15%)."""
    phrases = (*CRISIS, *MUSIC)
    return [(p, level) for k, level in enumerate(LEVELS) for i, p in enumerate(phrases) if (i + k) % 2 == 0]


def script(work: Path) -> MicScript:
    parts: list[Spoken | float] = [GREETING_ROOM_S]
    for phrase, level in said():
        parts += [Spoken(phrase, level), ANSWER_ROOM_S]
    parts[-1] = TAIL_S
    return mic_script(work / "levels.wav", parts)


def safety() -> dict[str, Any]:
    triggers = [{"phrase": PROFILE_PHRASES[p], "severity": s} for p, s in CRISIS.items()]
    return {
        "emergencyContacts": [{"name": "Dana", "relationship": "daughter", "phone": "050-123-4567"}],
        "crisisTriggers": triggers,
    }


@dataclass
class Heard:
    """What one spoken run of the script left behind."""

    mic: MicScript
    wire: Wire
    webhook: WebhookReceiver
    api: Api

    def starts_s(self) -> list[float]:
        """Where the engine found each turn's start, in seconds of the audio the page sent."""
        started = self.wire.events("input_audio_buffer.speech_started", sent=False)
        return [float(f.event["audio_start_ms"]) / 1000 for f in started]

    def transcripts(self) -> list[str]:
        done = self.wire.events("conversation.item.input_audio_transcription.completed", sent=False)
        return [" ".join(str(f.event.get("transcript") or "").split()) for f in done]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_browser_tools()
    folder = tmp_path_factory.mktemp("hearing")
    (folder / "music").mkdir()
    return folder


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def heard(work: Path) -> AsyncIterator[Heard]:
    webhook = WebhookReceiver()
    await webhook.start()
    process = ServiceProcess(work / "data", work / "music", work / "service.log")
    process.extra_env.update({"COMPANION_WEBHOOK_URL": webhook.url, "COMPANION_WEBHOOK_SECRET": SECRET})
    process.start()
    try:
        api = Api(process)
        assert api.request("POST", "/api/users", json={"userId": PERSON}).status_code == 201
        for section, body in (("profile", english_profile()), ("safety", safety())):
            saved = api.request("PUT", f"/api/users/{PERSON}/{section}", json=body)
            assert saved.status_code == 200, f"{section}: {saved.status_code} {saved.text}"
        mic = script(work)
        async with async_playwright() as pw, chromium(pw, mic) as browser:
            elder = await paired_page(browser, ElderEnv(process, api, [], work), PERSON)
            await elder.start_talking()
            result = Heard(mic, elder.wire, webhook, api)
            # every turn's transcript, or what there is when the file and a little more are over: the
            # test then says what was heard and what was not
            with contextlib.suppress(AssertionError):
                await until(
                    lambda: len(result.transcripts()) >= len(expected()),
                    "a transcript for every phrase",
                    mic.duration_s + SETTLE_S,
                )
            await elder.close()
        SENT.parent.mkdir(exist_ok=True)
        with wave.open(str(SENT), "wb") as sent:
            sent.setnchannels(1)
            sent.setsampwidth(2)
            sent.setframerate(24_000)
            sent.writeframes(bytes(elder.wire.pcm))
        yield result
    finally:
        process.stop()
        await webhook.stop()


def expected() -> list[str]:
    return [phrase for phrase, _ in said()]


async def test_the_page_sends_all_the_audio_the_microphone_captured(heard: Heard) -> None:
    in_file = [p.start_s for p in heard.mic.phrases]
    sent = heard.starts_s()
    assert len(sent) == len(in_file), f"{len(in_file)} phrases said, {len(sent)} turns started: {sent}"
    offsets = [s - f for s, f in zip(sent, in_file, strict=True)]
    lost = [round(offsets[0] - o, 2) for o in offsets]
    print(f"\nseconds of audio missing before each phrase, against the first: {lost}")
    assert max(map(abs, lost)) <= LOSS_TOLERANCE_S, f"the page lost audio on the way: {lost}"


async def test_every_phrase_is_heard_whole_at_every_level(heard: Heard) -> None:
    said = [(p.text, p.level) for p in heard.mic.phrases]
    got = heard.transcripts()
    rows = zip(said, [*got, *[None] * len(said)], strict=False)
    print(
        "\nheard through the fake microphone:\n"
        + "\n".join(f"  {lv:>4}: {t!r} -> {g!r}" for (t, lv), g in rows)
    )
    assert got == expected(), f"said {said}\nheard {got}"


async def test_each_crisis_phrase_spoken_reaches_the_family_with_its_rules_severity(heard: Heard) -> None:
    crises = [phrase for phrase in expected() if phrase in CRISIS]
    spoken = len(crises)
    await until(
        lambda: len(heard.webhook.deliveries) >= spoken, "a webhook per crisis phrase", DELIVERY_TIMEOUT_S
    )
    delivered = sorted((d.payload["summary"], d.payload["severity"]) for d in heard.webhook.deliveries)
    assert delivered == sorted((phrase, CRISIS[phrase]) for phrase in crises)
    assert {d.payload["person"]["id"] for d in heard.webhook.deliveries} == {PERSON}
    assert heard.webhook.rejected == [] and heard.webhook.duplicates == []

    def fell() -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = heard.api.ok("GET", f"/api/users/{PERSON}/alerts")["alerts"]
        return [a for a in alerts if a["summary"] == "i fell"]

    sent = [("webhook", "sent")]
    await until(
        lambda: all([(d["channel"], d["status"]) for d in a["deliveries"]] == sent for a in fell()),
        "the care team's record of each 'i fell' alert as sent",
        DELIVERY_TIMEOUT_S,
    )
    assert [(a["severity"], a["rule"]) for a in fell()] == [("critical", "I fell")] * crises.count("i fell")
