"""Work the sans-I/O engine hands to its shell: transcribe a turn, speak a reply.

The engine never runs a subprocess or a decoder itself (tests drive it with plain dicts, and the
event loop must not block). When it needs a transcript or speech it queues a job and waits; the
websocket shell does the work off the loop and hands the result back with
:meth:`EngineSession.provide_transcript` / :meth:`EngineSession.provide_speech`. A response that
waits for either has already sent ``response.created``, as a real model thinking would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from companion.localmodel.persona import ESPEAK_VARIANTS, voice_sound
from companion.localmodel.replies import is_hebrew
from companion.localmodel.responses import AUDIO_MS_PER_TOKEN, text_tokens
from companion.localmodel.tags import tagged_values

HEBREW_VOICE: Final = "he"
ENGLISH_VOICE: Final = "en-us"
_LATIN: Final = re.compile(r"[A-Za-z]")


def voice_for(instructions: str, text: str, voice: Any = None) -> str:
    """The espeak-ng voice of the instructions' language, unless the reply's own letters say otherwise
    (an English voice reading Hebrew letters says nothing at all, and the other way round), in the
    register of the session's ``voice``, or of the companion's gender when that voice is neutral."""
    if is_hebrew(text):
        language = HEBREW_VOICE
    elif _LATIN.search(text):
        language = ENGLISH_VOICE
    else:
        language = HEBREW_VOICE if is_hebrew(instructions) else ENGLISH_VOICE
    sound = voice_sound(voice, tagged_values(instructions))
    return language + ESPEAK_VARIANTS[sound] if sound else language


@dataclass(frozen=True, slots=True)
class HearingJob:
    """Transcribe ``pcm`` (24 kHz PCM16), the audio of user item ``item_id``."""

    item_id: str
    pcm: bytes


@dataclass(frozen=True, slots=True)
class SpeechJob:
    """Speak ``text`` with ``voice`` (an espeak-ng voice name) for response ``response_id``."""

    response_id: str
    text: str
    voice: str


def set_transcript(items: Iterable[Mapping[str, Any]], item_id: str, transcript: str) -> None:
    """Write the transcript into user item ``item_id``'s audio part (stored items are dicts)."""
    for item in items:
        if item.get("id") == item_id and isinstance(item, dict) and item.get("content"):
            item["content"][0]["transcript"] = transcript


def transcription_usage(audio_ms: float, transcript: str) -> dict[str, Any]:
    """The ``usage`` of ``...input_audio_transcription.completed``, in the service's token shape."""
    audio_tokens = int(audio_ms) // AUDIO_MS_PER_TOKEN
    output = text_tokens(transcript)
    return {
        "type": "tokens",
        "total_tokens": audio_tokens + output,
        "input_tokens": audio_tokens,
        "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
        "output_tokens": output,
    }
