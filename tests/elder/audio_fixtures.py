"""Generated audio for the elder's page tests: the fake microphone's speech and a small music library.

The fake microphone is a WAV file that Chromium plays as its capture device
(``--use-file-for-fake-audio-capture``). It is made of spoken phrases (espeak-ng, en-us) and silences
(sox), 48 kHz mono 16-bit PCM, the format Chromium's fake capture reads directly, each phrase
peak-normalised to -3 dBFS and then, when the script says so, scaled to a lower level (a quiet voice).
The script of each file is known, so a test knows where each phrase ends in the file.

The music library is a few seconds of tones written by sox and tagged with mutagen (artist, title), as a
family's folder of songs would be.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import mutagen

MIC_RATE: Final = 48_000  # Chromium's capture rate; the page must resample it to 24 kHz itself
SPEECH_GAIN_DB: Final = -3  # peak level of each phrase: loud and clear, never clipped
VOICE: Final = "en-us"  # the offline engine's recogniser is an English grammar
SPEECH_WPM = 130  # espeak-ng's words per minute: a calm speaker, and the grammar hears it best
TOOLS: Final = ("espeak-ng", "sox")


def missing_tools() -> list[str]:
    """The command-line tools these fixtures need that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def _duration_s(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    start_s: float
    end_s: float
    level: float = 1.0


@dataclass(frozen=True, slots=True)
class MicScript:
    """A fake-microphone file and where each phrase sits in it."""

    path: Path
    phrases: tuple[Phrase, ...]
    duration_s: float

    def arg(self) -> str:
        """Chromium's flag value; ``%noloop`` so the file plays once and silence follows."""
        return f"{self.path}%noloop"


Say = str  # a phrase to speak, at the script's full level
Pause = float  # seconds of silence


@dataclass(frozen=True, slots=True)
class Spoken:
    """A phrase spoken at ``level`` of the full level (sox ``vol``): a quiet voice, or one far away."""

    text: str
    level: float = 1.0


def mic_script(path: Path, parts: Sequence[Say | Spoken | Pause]) -> MicScript:
    """Write ``parts`` (phrases and silences in order) to ``path`` as one 48 kHz mono PCM16 WAV."""
    work = path.parent / f".{path.stem}-parts"
    work.mkdir(parents=True, exist_ok=True)
    pieces: list[Path] = []
    phrases: list[Phrase] = []
    at = 0.0
    for index, part in enumerate(parts):
        piece = work / f"{index:02d}.wav"
        if isinstance(part, str | Spoken):
            said = part if isinstance(part, Spoken) else Spoken(part)
            raw = work / f"{index:02d}-raw.wav"
            _run("espeak-ng", "-v", VOICE, "-s", str(SPEECH_WPM), "-w", str(raw), said.text)
            _run(
                "sox",
                str(raw),
                "-b",
                "16",
                "-c",
                "1",
                str(piece),
                "silence",  # espeak pads its phrase: cut leading silence so the script's times are true
                "1",
                "0.01",
                "1%",
                "gain",
                "-n",
                str(SPEECH_GAIN_DB),
                "vol",
                f"{said.level}",
                "rate",
                str(MIC_RATE),
            )
            length = _duration_s(piece)
            phrases.append(Phrase(said.text, at, at + length, said.level))
        else:
            _run("sox", "-n", "-r", str(MIC_RATE), "-c", "1", "-b", "16", str(piece), "trim", "0", f"{part}")
            length = _duration_s(piece)
        pieces.append(piece)
        at += length
    _run("sox", *(str(p) for p in pieces), str(path))
    return MicScript(path, tuple(phrases), _duration_s(path))


@dataclass(frozen=True, slots=True)
class Track:
    path: Path
    artist: str
    title: str


def music_track(path: Path, artist: str, title: str, seconds: float = 20.0, hz: int = 440) -> Track:
    """A real audio file with artist and title tags (.ogg or .flac: both carry Vorbis comments)."""
    _run(
        "sox",
        "-n",
        "-r",
        "44100",
        "-c",
        "2",
        str(path),
        "synth",
        f"{seconds}",
        "sine",
        str(hz),
        "sine",
        str(hz * 3 // 2),
        "vol",
        "0.3",
    )
    tagged = mutagen.File(str(path), easy=True)
    assert tagged is not None, f"mutagen cannot tag {path}"
    if tagged.tags is None:
        tagged.add_tags()
    tagged["artist"] = artist
    tagged["title"] = title
    tagged.save()
    return Track(path, artist, title)
