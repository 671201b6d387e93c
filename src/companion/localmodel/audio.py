"""PCM16 helpers: decoding client audio, measuring it, resampling it, and the engine's reply tone.

All audio is 16-bit little-endian mono at 24 kHz, the realtime ``audio/pcm`` format. Without a speech
synthesiser the reply "voice" is a quiet tone whose length follows the reply text, so a client can
play it, measure it and truncate it, without the engine pretending to speak.
"""

from __future__ import annotations

import array
import base64
import binascii
import math
import sys
from functools import cache
from typing import Final

from companion.localmodel.errors import EngineError

SAMPLE_RATE: Final = 24000
BYTES_PER_SAMPLE: Final = 2
BYTES_PER_MS: Final = SAMPLE_RATE * BYTES_PER_SAMPLE // 1000
MS_PER_WORD: Final = 60  # reply audio grows with the text, roughly like speech would
MIN_REPLY_MS: Final = 200  # even "OK" gets enough audio for a client to notice it
MAX_REPLY_MS: Final = 3000  # keeps test runs and memory small whatever the reply length
AUDIO_CHUNK_MS: Final = 100  # size of each response.output_audio.delta, like the service's chunks
TONE_HZ: Final = 440.0
TONE_AMPLITUDE: Final = 2000  # quiet (about -24 dBFS), so a demo does not blast anyone's ears
MAX_APPEND_BYTES: Final = 15 * 1024 * 1024  # the service's documented cap for one append


def decode_audio(value: object) -> bytes:
    """Base64 from ``input_audio_buffer.append``; rejects what the service would reject."""
    if not isinstance(value, str):
        raise EngineError("invalid_type", "Invalid type for 'audio': expected a string.", param="audio")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EngineError(
            "invalid_value", "Invalid 'audio'. Expected base64-encoded audio bytes.", param="audio"
        ) from None
    if len(data) > MAX_APPEND_BYTES:
        raise EngineError(
            "invalid_value", "Invalid 'audio': an append may carry at most 15 MiB.", param="audio"
        )
    return data


def duration_ms(pcm_bytes: int) -> float:
    return pcm_bytes / BYTES_PER_MS


def samples(pcm: bytes) -> array.array[int]:
    """Little-endian int16 samples, whatever the host's byte order."""
    values = array.array("h")
    values.frombytes(pcm[: len(pcm) - len(pcm) % BYTES_PER_SAMPLE])
    if sys.byteorder == "big":
        values.byteswap()
    return values


def rms(pcm: bytes) -> float:
    values = samples(pcm)
    if not values:
        return 0.0
    return math.sqrt(sum(v * v for v in values) / len(values))


def reply_audio_ms(text: str) -> int:
    words = max(1, len(text.split()))
    return max(MIN_REPLY_MS, min(MAX_REPLY_MS, words * MS_PER_WORD))


@cache
def _tone_period() -> bytes:
    """One 100 ms block of tone; 440 Hz fits it exactly, so blocks join without clicks."""
    count = SAMPLE_RATE * AUDIO_CHUNK_MS // 1000
    values = array.array(
        "h", (round(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * i / SAMPLE_RATE)) for i in range(count))
    )
    return to_pcm(values)


def to_pcm(values: array.array[int]) -> bytes:
    """Little-endian bytes of int16 samples, whatever the host's byte order."""
    if sys.byteorder == "big":
        values = array.array("h", values)
        values.byteswap()
    return values.tobytes()


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Linear-interpolation resampling of PCM16 mono, in pure Python (no numpy in the engine).

    Good enough for espeak-ng's 22.05 kHz voice going up to 24 kHz. Going down, to the decoder's 16 kHz,
    it lets what lies above 8 kHz fold into the voice band, which cost recognition of speech that had
    passed a browser's processing: the decoder's audio goes through :func:`decimate.to_16k` instead.
    Integer arithmetic keeps the result identical on every machine.
    """
    values = samples(pcm)
    if src_rate == dst_rate or not values:
        return to_pcm(values)
    padded = [*values, values[-1]]
    count = len(values) * dst_rate // src_rate
    out = array.array("h", bytes(BYTES_PER_SAMPLE * count))
    for j in range(count):
        i, r = divmod(j * src_rate, dst_rate)
        out[j] = (padded[i] * (dst_rate - r) + padded[i + 1] * r) // dst_rate
    return to_pcm(out)


def pcm_chunks(pcm: bytes) -> list[bytes]:
    """Reply audio cut into ``AUDIO_CHUNK_MS`` deltas (the last may be shorter)."""
    size = AUDIO_CHUNK_MS * BYTES_PER_MS
    return [pcm[start : start + size] for start in range(0, len(pcm), size)]


def tone_chunks(total_ms: int) -> list[bytes]:
    """The tone, ``total_ms`` long, as ``AUDIO_CHUNK_MS`` chunks (the last may be shorter)."""
    blocks = -(-total_ms // AUDIO_CHUNK_MS)  # each chunk is one whole period block, or the start of one
    return pcm_chunks((_tone_period() * blocks)[: total_ms * BYTES_PER_MS])
