"""The offline engine's voice: replies spoken by Debian's ``espeak-ng``, as 24 kHz PCM16.

espeak-ng is a formant synthesiser: robotic, but offline, tiny, fast (a sentence takes a few
milliseconds) and it has Hebrew and English voices. That is enough for a newcomer to *hear* a
conversation on ``/app`` and for browser tests to play, measure and interrupt real speech.

Synthesis runs in a subprocess (never on the event loop), is bounded in time, text and output
length, and is cached per text because the rule-based replies repeat. Any failure returns ``None``
and the engine falls back to its tone: a missing voice never breaks a call.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import struct
from collections import OrderedDict
from typing import Final

from companion.localmodel.audio import BYTES_PER_MS, SAMPLE_RATE, resample

log = logging.getLogger(__name__)

ESPEAK: Final = "espeak-ng"
WORDS_PER_MINUTE: Final = 150  # a little slower than espeak's 175: easier for older ears
SYNTH_TIMEOUT_S: Final = 5.0  # a reply takes milliseconds; a hung process must not hold a response
MAX_SPEECH_CHARS: Final = 600  # longer text is cut: a spoken reply is a few sentences, not an essay
MAX_SPEECH_MS: Final = 20_000  # longest spoken reply kept: bounds memory and a test's wait
CACHE_ENTRIES: Final = 64  # distinct replies kept; ~64 x 4 s x 48 kB/s is about 12 MB at most
MAX_CONCURRENT_SYNTHESES: Final = 2  # the machines this runs on have few cores; more would only queue


def espeak_path() -> str | None:
    """Where ``espeak-ng`` is, or None when it is not installed."""
    return shutil.which(ESPEAK)


def wav_pcm(data: bytes) -> tuple[bytes, int] | None:
    """``(pcm, sample_rate)`` of a mono PCM16 WAV as espeak-ng streams it to stdout.

    A streamed WAV has placeholder sizes in its header (espeak-ng cannot seek back), so the data
    chunk is taken to the end of the output instead of trusting its size field.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset, rate = 12, 0
    while offset + 8 <= len(data):
        kind, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if kind == b"fmt ":
            fmt, channels, rate = struct.unpack_from("<HHI", data, body)
            bits = struct.unpack_from("<H", data, body + 14)[0]
            if (fmt, channels, bits) != (1, 1, 16):
                return None
        elif kind == b"data":
            return (data[body:], rate) if rate else None
        offset = body + size + size % 2
    return None


class Speaker:
    """Speaks text with espeak-ng; one per server, shared by its connections (and its cache)."""

    def __init__(self, executable: str, *, words_per_minute: int = WORDS_PER_MINUTE) -> None:
        self.executable = executable
        self.words_per_minute = words_per_minute
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_SYNTHESES)

    @classmethod
    def detect(cls) -> Speaker | None:
        path = espeak_path()
        return cls(path) if path else None

    async def speak(self, text: str, voice: str) -> bytes | None:
        """24 kHz PCM16 of ``text`` (whole milliseconds, at most ``MAX_SPEECH_MS``), or None."""
        key = (voice, text[:MAX_SPEECH_CHARS])
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        async with self._slots:
            raw = await self._run(*key)
            if raw is None:
                return None
            pcm = await asyncio.to_thread(_to_reply_audio, raw)
        if pcm is None:
            return None
        self._cache[key] = pcm
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return pcm

    async def _run(self, voice: str, text: str) -> bytes | None:
        args = ["-v", voice, "-s", str(self.words_per_minute), "--stdout", "--", text]
        try:
            proc = await asyncio.create_subprocess_exec(
                self.executable,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            log.warning("espeak-ng could not start (%s); the reply is a tone", exc)
            return None
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), SYNTH_TIMEOUT_S)
        except TimeoutError:
            log.warning("espeak-ng took over %ss; the reply is a tone", SYNTH_TIMEOUT_S)
            return None
        finally:
            if proc.returncode is None:  # timed out, or the reply was cancelled: no orphan process
                proc.kill()
                await asyncio.shield(proc.wait())
        if proc.returncode != 0:
            log.warning("espeak-ng failed (exit %s); the reply is a tone", proc.returncode)
            return None
        return out


def _to_reply_audio(wav: bytes) -> bytes | None:
    """espeak-ng's WAV as the reply format: 24 kHz, cut to ``MAX_SPEECH_MS`` and whole milliseconds."""
    parsed = wav_pcm(wav)
    if parsed is None:
        return None
    pcm, rate = parsed
    limit = MAX_SPEECH_MS * rate // 1000 * 2
    pcm = resample(pcm[:limit], rate, SAMPLE_RATE)
    pcm = pcm[: len(pcm) - len(pcm) % BYTES_PER_MS]
    return pcm or None
