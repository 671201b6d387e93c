"""The input audio buffer and its turn detection, on the session's audio timeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from companion.localmodel.audio import BYTES_PER_MS, decode_audio
from companion.localmodel.config import SERVER_VAD_DEFAULTS
from companion.localmodel.levels import FRAME_MS
from companion.localmodel.vad import MIN_SPEECH_MS, EnergyVad


class AudioInput:
    """Appended audio waits here until a commit (manual, or the VAD's end of speech) takes it.

    ``reserved_item_id`` is the user item announced by ``speech_started``: the service names the
    item before it exists, and the later ``committed`` event must use the same id.
    """

    def __init__(self, turn_detection: Mapping[str, Any] | None) -> None:
        self.buffer = bytearray()
        self.reserved_item_id: str | None = None
        self._received_bytes = 0
        self._vad: EnergyVad | None = None
        self.configure(turn_detection)

    @property
    def timeline_ms(self) -> int:
        return self._received_bytes // BYTES_PER_MS

    def configure(self, turn_detection: Mapping[str, Any] | None) -> None:
        """Follow the session's ``turn_detection``; ``semantic_vad`` is approximated by energy."""
        if turn_detection is None:
            self._vad = None
            return
        settings = {**SERVER_VAD_DEFAULTS, **turn_detection}
        self._vad = EnergyVad(
            threshold=float(settings["threshold"]),
            prefix_padding_ms=int(settings["prefix_padding_ms"]),
            silence_duration_ms=int(settings["silence_duration_ms"]),
            start_ms=self.timeline_ms,
        )

    def append(self, audio: object) -> list[tuple[str, int]]:
        """Buffer base64 PCM16; return the VAD's ``(kind, at_ms)`` events it caused."""
        pcm = decode_audio(audio)
        self.buffer.extend(pcm)
        self._received_bytes += len(pcm)
        if self._vad is None:
            return []
        events: list[tuple[str, int]] = [(event.kind, event.at_ms) for event in self._vad.feed(pcm)]
        if not events and not self._vad.in_speech:
            # Silence between turns: only what the next turn's padding and onset could take is kept,
            # as the real service does, so an idle open microphone costs no memory.
            keep = (self._vad.prefix_padding_ms + MIN_SPEECH_MS + FRAME_MS) * BYTES_PER_MS
            if len(self.buffer) > keep:
                del self.buffer[: len(self.buffer) - keep]
        return events

    def reserve_item_id(self, item_id: str) -> str:
        self.reserved_item_id = item_id
        return item_id

    def take(self) -> bytes:
        """Empty the buffer (commit or clear) and forget the announced item id."""
        data = bytes(self.buffer)
        self.buffer.clear()
        self.reserved_item_id = None
        return data
