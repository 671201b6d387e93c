"""A small energy VAD for ``server_vad`` turn detection, driven by the audio timeline only.

Times are positions in the audio the client has appended (never the wall clock), so the same
bytes always give the same events, whatever the network or CPU does. That makes turn detection
testable with a synthetic tone followed by silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from companion.localmodel.audio import BYTES_PER_MS, rms

FRAME_MS: Final = 20  # analysis frame; short enough to react, long enough for a stable RMS
FULL_SCALE: Final = 32768.0
THRESHOLD_SCALE: Final = 0.1  # threshold 0.5 -> RMS above 5% of full scale (about -26 dBFS)
MIN_SPEECH_MS: Final = 40  # this much loud audio in a row counts as speech, not a click


@dataclass(frozen=True, slots=True)
class VadEvent:
    """``at_ms`` follows the service: the start includes the prefix padding, the end the silence."""

    kind: Literal["speech_started", "speech_stopped"]
    at_ms: int


class EnergyVad:
    """Feed PCM16 bytes; get speech start/stop events. ``threshold`` is the session's 0..1 value."""

    def __init__(
        self, *, threshold: float, prefix_padding_ms: int, silence_duration_ms: int, start_ms: int = 0
    ) -> None:
        self.rms_limit = threshold * THRESHOLD_SCALE * FULL_SCALE
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.in_speech = False
        self._pending = b""
        self._position_ms = start_ms
        self._loud_run_ms = 0
        self._last_loud_end_ms = start_ms

    @property
    def position_ms(self) -> int:
        """Position on the session's audio timeline (whole frames analysed so far)."""
        return self._position_ms

    def feed(self, pcm: bytes) -> list[VadEvent]:
        frame_bytes = FRAME_MS * BYTES_PER_MS
        data = self._pending + pcm
        events: list[VadEvent] = []
        offset = 0
        while len(data) - offset >= frame_bytes:
            events.extend(self._frame(data[offset : offset + frame_bytes]))
            offset += frame_bytes
        self._pending = data[offset:]
        return events

    def _frame(self, frame: bytes) -> list[VadEvent]:
        start = self._position_ms
        self._position_ms += FRAME_MS
        loud = rms(frame) > self.rms_limit
        if loud:
            self._loud_run_ms += FRAME_MS
            self._last_loud_end_ms = self._position_ms
            if not self.in_speech and self._loud_run_ms >= MIN_SPEECH_MS:
                self.in_speech = True
                onset = start + FRAME_MS - self._loud_run_ms
                return [VadEvent("speech_started", max(0, onset - self.prefix_padding_ms))]
            return []
        self._loud_run_ms = 0
        if self.in_speech and self._position_ms - self._last_loud_end_ms >= self.silence_duration_ms:
            self.in_speech = False
            return [VadEvent("speech_stopped", self._last_loud_end_ms + self.silence_duration_ms)]
        return []
