"""24 kHz to 16 kHz for the decoder, with the low-pass filter that a plain interpolator lacks.

Going down in rate, everything between the new Nyquist (8 kHz) and the old one (12 kHz) folds back onto
the band the decoder listens to (up to 6.8 kHz). Clean espeak-ng speech has little energy up there, but
the same speech after a browser's audio processing (gain, noise suppression) has plenty: with linear
interpolation pocketsphinx heard "i fell" as "i" and "help me" as "tell". A windowed-sinc filter fixes it.

The filter is polyphase (2 up, 3 down, one 48 kHz prototype) with integer taps, in pure Python (the engine
has no numpy): integer arithmetic gives the same bytes on every machine, and at 36 multiply-adds per output
sample a second of audio takes a few tens of milliseconds, in the hearing thread.
"""

from __future__ import annotations

import array
import math
from operator import mul
from typing import Final

from companion.localmodel.audio import samples, to_pcm

UP: Final = 2  # 24 kHz x 2 = 48 kHz, the rate the filter is designed at
DOWN: Final = 3  # 48 kHz / 3 = 16 kHz, the decoder's rate
TAPS: Final = 73  # odd: a whole-sample delay; with the window below, about 60 dB past 9.2 kHz
CUTOFF: Final = 1 / 3  # of the 48 kHz Nyquist, i.e. 8 kHz: what 16 kHz can carry
KAISER_BETA: Final = 5.65  # Kaiser's window for about 60 dB of stop-band attenuation
SHIFT: Final = 15  # taps are fixed-point with 15 fraction bits
_DELAY: Final = (TAPS - 1) // 2  # the filter's delay at 48 kHz, taken off so the output lines up


def _bessel_i0(x: float) -> float:
    term = total = 1.0
    for k in range(1, 30):
        term *= (x / (2 * k)) ** 2
        total += term
    return total


def _prototype() -> list[int]:
    """The 48 kHz low-pass, gain ``UP`` (zero-stuffing loses it), as fixed-point integers."""
    taps = []
    middle = (TAPS - 1) / 2
    for n in range(TAPS):
        t = n - middle
        ideal = CUTOFF * (math.sin(math.pi * CUTOFF * t) / (math.pi * CUTOFF * t) if t else 1.0)
        window = _bessel_i0(KAISER_BETA * math.sqrt(1 - (t / middle) ** 2)) / _bessel_i0(KAISER_BETA)
        taps.append(round(UP * ideal * window * (1 << SHIFT)))
    return taps


def _phases() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The prototype's even and odd taps, reversed so a forward slice of the input meets them."""
    taps = _prototype()
    return tuple(reversed(taps[0::2])), tuple(reversed(taps[1::2]))


_PHASES: Final = _phases()
_PAD: Final = len(_PHASES[0])


def to_16k(pcm: bytes) -> bytes:
    """24 kHz PCM16 ``pcm`` as 16 kHz PCM16, low-passed first (two output samples per three input)."""
    values = samples(pcm)
    if not values:
        return b""
    padded = [0] * _PAD + values.tolist() + [0] * _PAD
    count = len(values) * UP // DOWN
    out = array.array("h", bytes(2 * count))
    half = 1 << (SHIFT - 1)
    for m in range(count):
        at = DOWN * m + _DELAY  # position at 48 kHz; the even positions hold input samples
        phase = at & 1
        taps = _PHASES[phase]
        last = (at - phase) // UP + _PAD
        acc = sum(map(mul, taps, padded[last - len(taps) + 1 : last + 1]))
        out[m] = max(-32768, min(32767, (acc + half) >> SHIFT))
    return to_pcm(out)
