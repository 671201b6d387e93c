"""The music library: a folder of audio files, indexed once, and the choice of a track a person may hear.

Artist, title and genre come from the files' tags (read with mutagen), else from the file name
(``Artist - Title.ext``, or just the title). Only files found by the scan can ever be served: a track is
looked up by its id, never by a path from a request. The choice of a track reuses the relay's music
guard (``check_music``) on the track's own artist, title and genres, so the page can never play what the
guard would refuse under the person's current profile.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from mutagen.id3 import ID3

from companion.errors import NotFound
from companion.profiles.models import Music
from companion.prompt.sanitize import fold_name
from companion.realtime.tools import check_music

log = logging.getLogger(__name__)

MEDIA_TYPES: dict[str, str] = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
}
MAX_FILES = 10_000  # a large family collection; a bigger tree is more likely a mistake (a whole disk)
MAX_DEPTH = 6  # Artist/Album/Disc is 3 deep; deeper walks would mostly be scanning the wrong folder
TRACK_ID_CHARS = 16  # 64 bits of SHA-256 of the relative path: stable across scans, no clash in 10k files
ID3_FRAMES = {"artist": "TPE1", "title": "TIT2", "genre": "TCON"}  # WAVE files carry plain ID3 tags
HARD_REFUSALS = frozenset({"music_disabled", "artist_disliked"})  # the request itself may not be played
# (a request that is merely "not preferred", such as "play me music", still gets a preferred track)


@dataclass(frozen=True, slots=True)
class Track:
    """One audio file of the library; ``path`` is resolved and inside the library's folder."""

    id: str
    path: Path
    relative: str
    artist: str | None
    title: str
    genres: tuple[str, ...]
    duration_s: float | None
    media_type: str


@dataclass(frozen=True, slots=True)
class Match:
    """The track chosen for a request, or why there is none (``no_match`` or a guard refusal code)."""

    track: Track | None
    reason: str | None


class MusicLibrary:
    """An immutable index of the tracks found by one scan."""

    def __init__(self, root: Path, tracks: Sequence[Track], *, skipped: int = 0, truncated: bool = False):
        self.root = root
        self.tracks = tuple(tracks)
        self.skipped = skipped
        self.truncated = truncated
        self._by_id = {t.id: t for t in self.tracks}

    def __len__(self) -> int:
        return len(self.tracks)

    def get(self, track_id: str) -> Track | None:
        return self._by_id.get(track_id)

    def match(
        self, music: Music, *, artist: str | None = None, song: str | None = None, genre: str | None = None
    ) -> Match:
        """The best track the person may hear now for this request.

        Order: the requested song (by the requested artist, if one was named), then the song by anyone,
        then the artist, then the genre, then any track by a preferred artist. Ties keep library order.
        """
        decision = check_music(music, {"artist": artist, "song": song, "genre": genre}, played=0)
        if not decision.allowed and decision.output["error"] in HARD_REFUSALS:
            return Match(None, str(decision.output["error"]))
        want_artist, want_song, want_genre = (fold_name(v or "") for v in (artist, song, genre))
        preferred = {fold_name(a) for a in music.preferred_artists}
        best: tuple[int, Track] | None = None
        for track in self.tracks:
            if not may_hear(music, track):
                continue
            rank = _rank(track, want_artist, want_song, want_genre, preferred)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, track)
        return Match(best[1], None) if best else Match(None, "no_match")


def may_hear(music: Music, track: Track) -> bool:
    """Whether the relay's guard would let this track be played: by its artist, title or a genre."""
    if track.artist:
        decision = check_music(music, {"artist": track.artist}, played=0)
        if decision.allowed:
            return True
        if decision.output["error"] != "artist_not_preferred":  # switched off, or a disliked artist
            return False
    asks = [{"song": track.title}, *({"genre": g} for g in track.genres)]
    return any(check_music(music, ask, played=0).allowed for ask in asks)


def _rank(track: Track, artist: str, song: str, genre: str, preferred: set[str]) -> int | None:
    track_artist = fold_name(track.artist or "")
    same_artist = bool(artist) and track_artist == artist
    if song and fold_name(track.title) == song:
        return 0 if same_artist or not artist else 1
    if same_artist:
        return 2
    if genre and genre in {fold_name(g) for g in track.genres}:
        return 3
    if track_artist and track_artist in preferred:
        return 4
    return None


def track_id(relative: str) -> str:
    return hashlib.sha256(relative.encode()).hexdigest()[:TRACK_ID_CHARS]


def scan(root: Path, *, max_files: int = MAX_FILES, max_depth: int = MAX_DEPTH) -> MusicLibrary:
    """Index the audio files under ``root`` (blocking: call it in a thread, see ``load_library``).

    Unreadable files are skipped with a log line; symbolic links are followed only when they point
    inside ``root``; the walk stops at ``max_depth`` folders down and after ``max_files`` audio files.
    """
    if not root.is_dir():
        raise NotFound(f"Music folder {root} does not exist or is not a folder")
    base = root.resolve()
    tracks: list[Track] = []
    skipped = 0
    truncated = False
    for path in _audio_files(base, max_depth):
        if len(tracks) + skipped >= max_files:
            truncated = True
            log.warning("music: stopped after %d files in %s (limit)", max_files, base)
            break
        track = _read_track(base, path)
        if track is None:
            skipped += 1
        else:
            tracks.append(track)
    tracks.sort(key=lambda t: (fold_name(t.artist or ""), fold_name(t.title), t.relative))
    log.info("music: %d tracks in %s (%d skipped)", len(tracks), base, skipped)
    return MusicLibrary(base, tracks, skipped=skipped, truncated=truncated)


async def load_library(root: Path | None) -> MusicLibrary | None:
    """The library of ``root`` scanned off the event loop; ``None`` (logged) when there is no folder."""
    if root is None:
        return None
    try:
        return await asyncio.to_thread(scan, root)
    except NotFound as exc:
        log.warning("music: %s; the page will say music is unavailable", exc.message)
        return None


def inside(base: Path, path: Path) -> Path | None:
    """``path`` resolved, if it is an existing file inside ``base`` (a link may point anywhere)."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a loop of links
        return None
    return resolved if resolved.is_relative_to(base) and resolved.is_file() else None


def _audio_files(base: Path, max_depth: int) -> Iterator[Path]:
    def on_error(exc: OSError) -> None:
        log.warning("music: cannot list %s: %s", exc.filename, exc.strerror)

    for folder, dirs, files in os.walk(base, onerror=on_error, followlinks=False):
        here = Path(folder)
        dirs.sort()
        if len(here.relative_to(base).parts) >= max_depth:
            dirs.clear()
        for name in sorted(files):
            if Path(name).suffix.lower() in MEDIA_TYPES:
                yield here / name


def _read_track(base: Path, path: Path) -> Track | None:
    relative = path.relative_to(base).as_posix()
    resolved = inside(base, path)
    if resolved is None:
        log.warning("music: skipped %s: a link out of the music folder, or not a file", relative)
        return None
    try:
        audio = mutagen.File(resolved, easy=True)
    except Exception as exc:  # a parser of arbitrary files: any failure means "not a track we can use"
        log.warning("music: skipped %s: %s", relative, exc)
        return None
    if audio is None:
        log.warning("music: skipped %s: not a recognised audio file", relative)
        return None
    name_artist, name_title = _from_file_name(path.stem)
    length = getattr(audio.info, "length", None)
    return Track(
        id=track_id(relative),
        path=resolved,
        relative=relative,
        artist=_first(_tag(audio.tags, "artist")) or name_artist,
        title=_first(_tag(audio.tags, "title")) or name_title,
        genres=tuple(_tag(audio.tags, "genre")),
        duration_s=round(float(length), 2) if length else None,
        media_type=MEDIA_TYPES[path.suffix.lower()],
    )


def _tag(tags: Any, key: str) -> list[str]:
    """All non-empty values of one tag, from easy tags (mp3, mp4, Vorbis, FLAC) or plain ID3 (WAVE)."""
    if tags is None:
        return []
    values: Iterable[Any]
    if isinstance(tags, ID3):
        frames: Any = tags  # its mapping methods are untyped
        frame = frames.get(ID3_FRAMES[key])
        values = frame.text if frame is not None else []
    else:
        try:
            values = tags.get(key) or []
        except (KeyError, ValueError):  # EasyMP4 and friends raise on keys they do not map
            values = []
    return [text for v in values if (text := str(v).strip())]


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def _from_file_name(stem: str) -> tuple[str | None, str]:
    artist, sep, title = stem.partition(" - ")
    if sep and artist.strip() and title.strip():
        return artist.strip(), title.strip()
    return None, stem.strip() or stem
