"""How loud the voice is, over how loud the room is: so a quiet voice is heard like a loud one.

The same words reach the engine at very different levels: a soft voice, a person across the room, a
browser's automatic gain that is still settling. Two things follow from that, both pure functions here:

- the **noise floor**: how loud the room is when nobody speaks. It is the quietest part of the audio (a
  low quantile of a turn's frame levels, or the minimum over the last few seconds while listening), so
  it needs no silence to be announced. Voice is what stands out above it, and above an absolute minimum
  below which nothing counts as voice (digital silence has a floor of zero).
- **normalisation**: before decoding, a turn is scaled so that its voice (only the frames above the floor
  count) has one fixed level. pocketsphinx hears best at a steady level, and its cepstral mean, carried
  from turn to turn, is not thrown off by a turn much louder or quieter than the last. The gain is
  capped, so a turn of near-silence is not blown up into noise, and never clips a peak.
- a **steady floor under the voice**: the scaled turn gets a faint, fixed noise (40 dB under the voice).
  A browser's noise suppression turns the pauses inside words into digital zeros, and pocketsphinx
  heard "i fell" as "i" and "help me" as nothing across them; over the same faint floor every turn, at
  every level, looks alike to it. The noise is the same pseudo-random sequence each time (a fixed seed),
  so the same audio always gives the same transcript.
"""

from __future__ import annotations

import array
import math
import random
from collections import deque
from collections.abc import Sequence
from typing import Final

from companion.localmodel.audio import BYTES_PER_SAMPLE, samples, to_pcm

FRAME_MS: Final = 20  # a level per 20 ms: a syllable spans several, a click one
FULL_SCALE: Final = 32768.0
NOISE_QUANTILE: Final = 0.1  # a turn is mostly voice and short pauses; its quietest tenth is the room
VOICE_OVER_FLOOR: Final = 4.0  # 12 dB above the room is voice (a pause between words is not)
MIN_VOICE_RMS: Final = 100.0  # about -50 dBFS: below it nothing is voice, whatever the floor
TARGET_VOICE_RMS: Final = 3000.0  # about -21 dBFS: what the decoder hears; peaks keep ~10 dB of headroom
MAX_GAIN: Final = 30.0  # +30 dB lifts a voice at 3% of full level to the target; more would only lift noise
PEAK_LIMIT: Final = 30_000  # a scaled peak stays below full scale: clipping adds sounds nobody made
# 40 dB under the target voice; measured on espeak-ng speech at 5%-100% levels, straight and through
# Chromium's processing: every phrase heard between 20 and 60, several lost with none or with 1-3.
FLOOR_NOISE_RMS: Final = 30.0
FLOOR_NOISE_SAMPLES: Final = 16_000  # one second at the decoder's rate, repeated: no pattern it can hear
FLOOR_NOISE_SEED: Final = 20_240_601  # any fixed value: the same turn always gets the same floor


def frame_levels(pcm: bytes, rate: int) -> list[float]:
    """The RMS of each whole ``FRAME_MS`` frame of PCM16 ``pcm`` at ``rate`` Hz."""
    values = samples(pcm)
    size = rate * FRAME_MS // 1000
    return [_rms(values[start : start + size]) for start in range(0, len(values) - size + 1, size)]


def _rms(values: Sequence[int]) -> float:
    return math.sqrt(sum(v * v for v in values) / len(values)) if values else 0.0


def noise_floor(levels: Sequence[float]) -> float:
    """The room's level in a turn: the ``NOISE_QUANTILE`` of its frame levels (0 for no frames)."""
    if not levels:
        return 0.0
    ordered = sorted(levels)
    return ordered[int(NOISE_QUANTILE * (len(ordered) - 1))]


def voice_limit(
    floor: float, *, over_floor: float = VOICE_OVER_FLOOR, minimum: float = MIN_VOICE_RMS
) -> float:
    """The level a frame must pass to be voice, given the room's ``floor``."""
    return max(minimum, floor * over_floor)


def voice_level(levels: Sequence[float]) -> float | None:
    """The RMS of the frames that are voice, or None when no frame rises above the room."""
    limit = voice_limit(noise_floor(levels))
    voiced = [level for level in levels if level > limit]
    if not voiced:
        return None
    return math.sqrt(sum(level * level for level in voiced) / len(voiced))


def gain_for(pcm: bytes, rate: int) -> float | None:
    """The factor that brings the voice in ``pcm`` to ``TARGET_VOICE_RMS``, capped by ``MAX_GAIN`` and by
    the loudest peak; None when there is no voice in it."""
    level = voice_level(frame_levels(pcm, rate))
    if level is None:
        return None
    values = samples(pcm)
    peak = max(max(values), -min(values), 1)
    return min(TARGET_VOICE_RMS / level, MAX_GAIN, PEAK_LIMIT / peak)


def _floor_noise() -> tuple[int, ...]:
    rng = random.Random(FLOOR_NOISE_SEED)
    return tuple(round(rng.gauss(0.0, FLOOR_NOISE_RMS)) for _ in range(FLOOR_NOISE_SAMPLES))


_FLOOR_NOISE: Final = _floor_noise()


def scaled(pcm: bytes, gain: float, *, floor: bool = True) -> bytes:
    """``pcm`` times ``gain``, rounded, over the steady noise floor unless ``floor`` is False (the
    caller's gain already keeps peaks inside full scale; the sum is clamped all the same)."""
    values = samples(pcm)
    limit = int(FULL_SCALE) - 1
    size = len(_FLOOR_NOISE)
    noise = _FLOOR_NOISE if floor else (0,) * size
    out = array.array(
        "h", (max(-limit, min(limit, round(v * gain) + noise[i % size])) for i, v in enumerate(values))
    )
    return to_pcm(out)


def normalised(pcm: bytes, rate: int) -> bytes | None:
    """``pcm`` with its voice at the target level over the steady floor, or None when it holds no voice
    (then it is not worth decoding)."""
    gain = gain_for(pcm[: len(pcm) - len(pcm) % BYTES_PER_SAMPLE], rate)
    return None if gain is None else scaled(pcm, gain)


class RunningFloor:
    """The room's level while listening: the minimum frame level over the last ``window_ms``.

    A minimum over a few seconds follows a fan switched on (after the window) and a room gone quiet
    (at once), and speech does not raise it: words have pauses well inside the window. Until a whole
    window has been heard the floor is unknown (0), so speech from the first frame still counts.
    """

    def __init__(self, window_ms: int) -> None:
        self._levels: deque[float] = deque(maxlen=max(1, window_ms // FRAME_MS))

    def add(self, level: float) -> None:
        self._levels.append(level)

    @property
    def floor(self) -> float:
        full = len(self._levels) == self._levels.maxlen
        return min(self._levels) if full else 0.0
