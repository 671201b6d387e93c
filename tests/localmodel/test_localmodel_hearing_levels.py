"""The same espeak-ng speech of every phrase the engine can hear, at 15% to 100% of full level (sox
``vol``), through the engine's turn detection and its decoder: one turn each, heard whole.

No browser and no socket: the audio goes through :class:`AudioInput` (the server VAD, as a session has it
by default) and each committed turn through the one :class:`Listener`, in an order that jumps between
levels, as a conversation's turns do. espeak-ng, sox and pocketsphinx missing skip this locally and fail
it under CI=true.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Final

import pytest
from lm_helpers import pcm

from companion.localmodel.hearing import Listener
from companion.localmodel.inputs import AudioInput
from companion.localmodel.levels import FRAME_MS
from services import require_service

LEVELS: Final = (1.0, 0.15, 0.5, 0.25)  # of speech peaking at -3 dBFS; jumps, as turns do
SPOKEN: Final = (  # every phrase of the grammar, as espeak-ng says it and the decoder writes it
    "i fell",
    "help me",
    "i'm scared",
    "i am lost",
    "play me music",
    "stop the music",
    "hello how are you",
    "how are you today",
    "good morning",
    "thank you",
    "tell me a story",
    "yes",
    "no",
)
WPM: Final = "130"  # a calm speaker, as in the browser tests' microphone
CHUNK_MS: Final = 100  # appended as the relay does, in 100 ms pieces


@pytest.fixture(scope="module")
def listener() -> Listener:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            require_service(tool, "not on PATH (apt-get install espeak-ng sox)")
    found = Listener.detect()
    if found is None:
        require_service("pocketsphinx", "not importable (pip extra 'speech')")
    return found


def speech(folder: Path, text: str, level: float) -> bytes:
    """``text`` by espeak-ng, peak at -3 dBFS, then at ``level`` of that: 24 kHz mono PCM16."""
    raw, out = folder / "raw.wav", folder / "level.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", WPM, "-w", str(raw), text], check=True)
    effects = ["gain", "-n", "-3", "vol", f"{level}"]
    command = ["sox", str(raw), "-b", "16", "-c", "1", "-r", "24000", str(out), *effects]
    subprocess.run(command, check=True, capture_output=True)
    with wave.open(str(out)) as w:
        return w.readframes(w.getnframes())


def turns(audio: bytes) -> list[bytes]:
    """What the server VAD commits from ``audio`` (appended in relay-sized pieces)."""
    buffer = AudioInput({"type": "server_vad"})
    committed = []
    size = CHUNK_MS * 48
    for start in range(0, len(audio), size):
        for kind, _ in buffer.append(base64.b64encode(audio[start : start + size]).decode()):
            if kind == "speech_stopped":
                committed.append(buffer.take())
    return committed


def test_every_phrase_is_heard_whole_at_every_level(listener: Listener, tmp_path: Path) -> None:
    heard: dict[tuple[str, float], list[str | None]] = {}
    for text in SPOKEN:
        for level in LEVELS:
            audio = pcm(1000) + speech(tmp_path, text, level) + pcm(1000)
            heard[text, level] = [listener.transcribe_sync(turn) for turn in turns(audio)]
    listener.close()
    table = "\n".join(f"  {level:>4} {text!r}: {got}" for (text, level), got in heard.items())
    print(f"\nheard at each level:\n{table}")
    wrong = {key: got for key, got in heard.items() if got != [key[0]]}
    assert not wrong, f"not heard as one whole turn: {wrong}"


def test_a_quiet_voice_starts_and_ends_one_turn_and_silence_none(tmp_path: Path, listener: Listener) -> None:
    quiet = speech(tmp_path, "i am lost", 0.15)
    committed = turns(pcm(1000) + quiet + pcm(1000))
    assert len(committed) == 1
    assert len(committed[0]) >= len(quiet) - 2 * FRAME_MS * 48  # the whole phrase, not a loud middle
    assert turns(pcm(3000)) == []
