"""The offline engine's ears: a few spoken English phrases, recognised by pocketsphinx.

pocketsphinx runs offline and ships its own English acoustic model, so "play me music" said to the
elder's page (or by espeak-ng in a browser test) can reach the reply rules without any network. It
listens with a small JSGF grammar, not a language model: it can only hear the phrases below, and
says nothing (``None``) for anything else rather than guessing. That keeps it fast and honest.

Decoding is CPU work: it runs in one worker thread (a pocketsphinx decoder is not thread-safe, and
one worker bounds the CPU a talkative client can take), on at most ``MAX_UTTERANCE_MS`` of audio.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from companion.localmodel.audio import BYTES_PER_MS
from companion.localmodel.decimate import to_16k
from companion.localmodel.levels import normalised

log = logging.getLogger(__name__)

DECODER_RATE: Final = 16_000  # the rate pocketsphinx's bundled English model was trained at (to_16k's)
MAX_UTTERANCE_MS: Final = 15_000  # a command is a few seconds; longer turns are cut to bound CPU
# Turns waiting for the one decoder thread, across all connections; beyond it a turn goes untranscribed
# rather than queueing up seconds of CPU behind a burst.
MAX_PENDING_TURNS: Final = 8
MIN_UTTERANCE_MS: Final = 200  # shorter than a syllable: nothing to recognise, skip the decoder
PHRASES: Final = (
    "[please] play [me] [some] music [for me] [please]",
    "[please] stop [the] music [please]",
    "hello [how are you] [today]",
    "how are you [today]",
    "good morning",
    "thank you",
    "tell me a story",
    "yes",
    "no",
    "i fell",
    "help me",
    "i'm scared",
    "i am lost",
)  # "[x]" is optional; the same text builds the decoder's grammar and the check of its answer
_OPTIONAL: Final = re.compile(r"\[([^\]]+)\]|(\S+)")


def grammar(phrases: tuple[str, ...] = PHRASES) -> str:
    """The JSGF grammar of ``phrases`` (their ``[optional]`` syntax is JSGF's own)."""
    body = " | ".join(f"( {p} )" for p in phrases)
    return f"#JSGF V1.0;\ngrammar companion;\npublic <utterance> = {body};\n"


def phrase_pattern(phrases: tuple[str, ...] = PHRASES) -> re.Pattern[str]:
    """A regex accepting exactly the word sequences of ``phrases`` (each word followed by a space)."""
    alternatives = []
    for phrase in phrases:
        parts = []
        for optional, word in _OPTIONAL.findall(phrase):
            words = "".join(re.escape(w) + " " for w in (optional or word).split())
            parts.append(f"(?:{words})?" if optional else words)
        alternatives.append("".join(parts))
    return re.compile("(?:" + "|".join(alternatives) + ")")


class Listener:
    """Transcribes committed user turns; one per server, shared by its connections."""

    def __init__(self, phrases: tuple[str, ...] = PHRASES) -> None:
        self._grammar = grammar(phrases)
        self._accept = phrase_pattern(phrases)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="localmodel-hearing")
        self._decoder: Any = None
        self._warming = False
        self._pending = 0

    @classmethod
    def detect(cls) -> Listener | None:
        """A listener when pocketsphinx is importable, else None (spoken turns stay untranscribed)."""
        try:
            import pocketsphinx  # noqa: F401
        except ImportError:
            return None
        return cls()

    def warm(self) -> None:
        """Load the decoder in the worker now (about half a second), once: called when a client
        starts sending audio, so the first spoken turn does not wait for it."""
        if not self._warming:
            self._warming = True
            self._executor.submit(self._load_quietly)

    async def transcribe(self, pcm: bytes) -> str | None:
        """The phrase heard in 24 kHz PCM16 ``pcm``, or None when no known phrase was said."""
        if len(pcm) < MIN_UTTERANCE_MS * BYTES_PER_MS:
            return None
        if self._pending >= MAX_PENDING_TURNS:
            log.warning("transcription is %d turns behind; this turn has no transcript", self._pending)
            return None
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.transcribe_sync, pcm)
        finally:
            self._pending -= 1

    def transcribe_sync(self, pcm: bytes) -> str | None:
        """Blocking form of :meth:`transcribe` (the worker thread runs this).

        The turn is low-passed down to the decoder's rate and brought to one voice level first (see
        :mod:`companion.localmodel.levels`): a turn with no voice above the room is not decoded at all.
        """
        audio = normalised(to_16k(pcm[: MAX_UTTERANCE_MS * BYTES_PER_MS]), DECODER_RATE)
        if audio is None:
            return None
        try:
            decoder = self._load()
            decoder.start_utt()
            decoder.process_raw(audio, full_utt=True)
            decoder.end_utt()
            hypothesis = decoder.hyp()
        except (RuntimeError, OSError, ValueError) as exc:
            log.warning("pocketsphinx failed (%s); the turn has no transcript", exc)
            return None
        text = " ".join(str(hypothesis.hypstr).split()) if hypothesis is not None else ""
        # A search that ends off the grammar still hands back its best partial path: refuse it.
        return text if text and self._accept.fullmatch(text + " ") else None

    def _load_quietly(self) -> None:
        try:
            self._load()
        except (RuntimeError, OSError, ValueError) as exc:
            log.warning("pocketsphinx could not load (%s); spoken turns get no transcript", exc)

    def _load(self) -> Any:
        if self._decoder is None:
            from pocketsphinx import Decoder

            with tempfile.TemporaryDirectory(prefix="companion-jsgf-") as folder:
                path = Path(folder) / "companion.gram"
                path.write_text(self._grammar, encoding="utf-8")
                self._decoder = Decoder(samprate=DECODER_RATE, jsgf=str(path), loglevel="FATAL")
        return self._decoder

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
