"""A crisis said aloud, in English, to the demo person's conversation: the family is really told.

The demo person speaks Hebrew, and her profile lists the English crisis phrases beside the Hebrew ones,
so the offline engine (which hears English only) can take the safety path by voice. The audio is the
engine's own espeak-ng voice at a quarter of its level, appended through the real service's relay as a
tablet does; the alert reaches a real HTTP receiver that checks the Standard Webhooks signature.
"""

from __future__ import annotations

import array
import base64
import json
from pathlib import Path
from typing import Final

from companion.localmodel.audio import samples, to_pcm
from companion.localmodel.hearing import Listener
from companion.localmodel.voice import Speaker
from services import require_service
from tests.care.receivers import SECRET, WebhookReceiver
from tests.live.conftest import USER, RealtimeClient, eventually, run_live

LEVEL: Final = 0.25  # a quiet voice: under the old fixed VAD threshold, heard now
APPEND_BYTES: Final = 4800  # 100 ms of 24 kHz PCM16, as the elder's page sends
DELIVERY_TIMEOUT_S: Final = 15.0  # hearing, the tool, the care loop (every second) on a loaded machine


async def say_aloud(client: RealtimeClient, speaker: Speaker, text: str) -> None:
    spoken = await speaker.speak(text, "en-us")
    assert spoken is not None
    quiet = to_pcm(array.array("h", (round(v * LEVEL) for v in samples(spoken))))
    stream = bytes(24_000) + quiet + bytes(48_000)  # half a second before, a second after
    for start in range(0, len(stream), APPEND_BYTES):
        chunk = base64.b64encode(stream[start : start + APPEND_BYTES]).decode()
        await client.send({"type": "input_audio_buffer.append", "audio": chunk})


async def test_i_fell_said_aloud_raises_the_profiles_alert_and_it_is_delivered(tmp_path: Path) -> None:
    speaker = Speaker.detect()
    if speaker is None:
        require_service("espeak-ng", "not on PATH (apt-get install espeak-ng)")
    if Listener.detect() is None:
        require_service("pocketsphinx", "not importable (pip extra 'speech')")
    webhook = WebhookReceiver()
    await webhook.start()
    try:
        async for live in run_live(tmp_path, webhook_url=webhook.url, webhook_secret=SECRET):
            client = await live.connect()
            heard = []
            for phrase in ("I fell", "I'm scared"):
                await say_aloud(client, speaker, phrase)
                done = await client.until("conversation.item.input_audio_transcription.completed")
                heard.append(done["transcript"])
            assert heard == ["i fell", "i'm scared"]
            await eventually(lambda: len(webhook.deliveries) == 2, "two signed webhooks", DELIVERY_TIMEOUT_S)
            calls = [i for i in live.engine_session().items if i.get("type") == "function_call"]
            rules = [
                (json.loads(c["arguments"])["rule"], json.loads(c["arguments"])["severity"]) for c in calls
            ]
            assert rules == [
                ("I fell", "critical"),
                ("I'm scared", "high"),
            ]  # the profile's rules, as written
            sent = [(d.payload["summary"], d.payload["severity"]) for d in webhook.deliveries]
            assert sent == [("i fell", "critical"), ("i'm scared", "high")]
            assert {d.payload["person"]["id"] for d in webhook.deliveries} == {USER}
            assert webhook.rejected == [] and webhook.duplicates == []
    finally:
        await webhook.stop()
