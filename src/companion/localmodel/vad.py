"""A small energy VAD for ``server_vad`` turn detection, driven by the audio timeline only.

Times are positions in the audio the client has appended (never the wall clock), so the same
bytes always give the same events, whatever the network or CPU does. That makes turn detection
testable with a synthetic tone followed by silence.

Speech is what stands out from the room, not what passes one fixed level: a frame is loud when it is
both above an absolute minimum and well above the room's noise floor (the quietest frame of the last
few seconds, :class:`~companion.localmodel.levels.RunningFloor`). So a quiet voice (15% of full level is
about -33 dBFS in its loud syllables) starts a turn, and a fan that hums for a few seconds stops being
"speech". The session's ``threshold`` (0..1) moves both: the minimum from -66 to -26 dBFS, and how far
above the floor, from 3 to 21 dB. At the default 0.5 that is -46 dBFS and 12 dB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from companion.localmodel.audio import BYTES_PER_MS, rms
from companion.localmodel.levels import FRAME_MS, FULL_SCALE, RunningFloor, voice_limit

MIN_DBFS_AT_ZERO: Final = -66.0  # threshold 0: the faintest sound above a quiet room's hiss is speech
MIN_DBFS_RANGE: Final = 40.0  # threshold 1: -26 dBFS, the loud syllables of a voice at arm's length
OVER_FLOOR_DB_AT_ZERO: Final = 3.0  # threshold 0: anything that rises above the room at all
OVER_FLOOR_DB_RANGE: Final = 18.0  # threshold 1: 21 dB above the room, a voice close to the tablet
FLOOR_WINDOW_MS: Final = 3000  # the room is the quietest frame of the last 3 s: longer than any word
MIN_SPEECH_MS: Final = 40  # this much loud audio in a row counts as speech, not a click


def limits(threshold: float) -> tuple[float, float]:
    """``(minimum RMS, factor over the floor)`` that a frame must pass at the session's ``threshold``."""
    minimum = FULL_SCALE * 10 ** ((MIN_DBFS_AT_ZERO + threshold * MIN_DBFS_RANGE) / 20)
    over_floor = 10 ** ((OVER_FLOOR_DB_AT_ZERO + threshold * OVER_FLOOR_DB_RANGE) / 20)
    return minimum, over_floor


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
        self.min_rms, self.over_floor = limits(threshold)
        self.floor = RunningFloor(FLOOR_WINDOW_MS)
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
        level = rms(frame)
        loud = level > voice_limit(self.floor.floor, over_floor=self.over_floor, minimum=self.min_rms)
        self.floor.add(level)
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
