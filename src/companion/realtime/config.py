"""The session configuration the relay sends at the start of every conversation.

The voice is the companion's (``profile.companion``, carried by the instructions), chosen when a model
connection opens: the realtime models refuse to change a voice once the conversation has audio, so a
save that changes it is heard from the next conversation (or the next model connection) on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from companion.profiles.models import session_voice
from companion.prompt import Instructions
from companion.settings import Settings

SAMPLE_RATE = 24_000  # the realtime models take and give 24 kHz mono PCM16
VAD_THRESHOLD = 0.5  # server VAD as the care app was tuned: 0.5 / 300 ms prefix / 500 ms silence
VAD_PREFIX_MS = 300
VAD_SILENCE_MS = 500
TRANSCRIPTION_MODEL = "whisper-1"


def base_session_factory(settings: Settings) -> Callable[[Instructions], dict[str, Any]]:
    def base_session(built: Instructions) -> dict[str, Any]:
        pcm = {"type": "audio/pcm", "rate": SAMPLE_RATE}
        voice = session_voice(built.voice, built.companion_gender, settings.voice)
        return {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": pcm,
                    "transcription": {"model": TRANSCRIPTION_MODEL, "language": built.language},
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": VAD_THRESHOLD,
                        "prefix_padding_ms": VAD_PREFIX_MS,
                        "silence_duration_ms": VAD_SILENCE_MS,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {"format": pcm, "voice": voice},
            },
        }

    return base_session
