"""The music library on real audio files made by sox and tagged with mutagen: scan, and the choice of a
track under the person's music preferences (the relay guard's rules, applied to each track)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import mutagen
import pytest
from mutagen.id3 import TCON, TIT2, TPE1

from companion.errors import NotFound
from companion.music import MusicLibrary, may_hear, scan, track_id
from companion.profiles.models import Music
from services import require_service

TAGGED = {  # file -> (artist, title, genre), written as tags
    "haza.flac": ("Ofra Haza", "Im Nin'alu", "Folk"),
    "golan.ogg": ("Eyal Golan", "Im Nin'alu", "Pop"),  # a disliked artist singing the same song
    "jazz/miles.ogg": ("Miles Davis", "So What", "Jazz"),
    "damari.wav": ("Shoshana Damari", "Kalaniyot", "Folk"),  # WAVE carries plain ID3 frames
}
UNTAGGED = ("Arik Einstein - Ani Ve Ata.wav", "just a melody.wav")


def _sox(path: Path, seconds: float = 1.0) -> None:
    if shutil.which("sox") is None:
        require_service("sox", "the music tests write real audio files with it")
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["sox", "-n", "-r", "24000", "-c", "1", str(path), "synth", str(seconds), "sine", "440"]
    subprocess.run(cmd, check=True, capture_output=True)


def _tag(path: Path, artist: str, title: str, genre: str) -> None:
    audio = mutagen.File(path, easy=True)
    assert audio is not None
    if audio.tags is None:
        audio.add_tags()
    if path.suffix == ".wav":
        audio.tags.add(TPE1(encoding=3, text=[artist]))
        audio.tags.add(TIT2(encoding=3, text=[title]))
        audio.tags.add(TCON(encoding=3, text=[genre]))
    else:
        audio["artist"], audio["title"], audio["genre"] = artist, title, genre
    audio.save()


def make_folder(root: Path) -> Path:
    """A family's folder: tagged files, untagged ones named by hand, and things that are not tracks."""
    for name, (artist, title, genre) in TAGGED.items():
        _sox(root / name)
        _tag(root / name, artist, title, genre)
    for name in UNTAGGED:
        _sox(root / name, seconds=2.0)
    (root / "broken.mp3").write_bytes(b"not an mp3 at all " * 20)
    (root / "notes.txt").write_text("not audio")
    outside = root.parent / f"{root.name}-outside.flac"
    _sox(outside)
    (root / "outside.flac").symlink_to(outside)
    return root


@pytest.fixture
def library(tmp_path: Path) -> MusicLibrary:
    return scan(make_folder(tmp_path / "music"))


def _titles(library: MusicLibrary) -> dict[str, tuple[str | None, str]]:
    return {t.relative: (t.artist, t.title) for t in library.tracks}


def test_scan_reads_tags_then_file_names(library: MusicLibrary) -> None:
    assert _titles(library) == {
        "haza.flac": ("Ofra Haza", "Im Nin'alu"),
        "golan.ogg": ("Eyal Golan", "Im Nin'alu"),
        "jazz/miles.ogg": ("Miles Davis", "So What"),
        "damari.wav": ("Shoshana Damari", "Kalaniyot"),
        "Arik Einstein - Ani Ve Ata.wav": ("Arik Einstein", "Ani Ve Ata"),
        "just a melody.wav": (None, "just a melody"),
    }
    by_file = {t.relative: t for t in library.tracks}
    assert by_file["jazz/miles.ogg"].genres == ("Jazz",)
    assert by_file["damari.wav"].genres == ("Folk",)
    assert by_file["haza.flac"].duration_s == pytest.approx(1.0, abs=0.05)
    assert by_file["Arik Einstein - Ani Ve Ata.wav"].duration_s == pytest.approx(2.0, abs=0.05)
    assert by_file["haza.flac"].media_type == "audio/flac"
    assert by_file["golan.ogg"].media_type == "audio/ogg"
    assert by_file["damari.wav"].media_type == "audio/wav"


def test_scan_skips_unreadable_files_and_links_out_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="companion.music"):
        library = scan(make_folder(tmp_path / "music"))
    assert library.skipped == 2
    assert "broken.mp3" not in _titles(library) and "outside.flac" not in _titles(library)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "skipped broken.mp3" in logged
    assert "skipped outside.flac: a link out of the music folder" in logged


def test_track_ids_are_stable_and_lookups_need_an_indexed_id(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "music")
    first, second = scan(root), scan(root)
    assert [t.id for t in first.tracks] == [t.id for t in second.tracks]
    assert len({t.id for t in first.tracks}) == len(first.tracks)
    haza = next(t for t in first.tracks if t.relative == "haza.flac")
    assert haza.id == track_id("haza.flac")
    assert first.get(haza.id) == haza
    assert first.get("haza.flac") is None and first.get("../etc/passwd") is None


def test_scan_is_bounded_in_depth_and_files(tmp_path: Path) -> None:
    root = tmp_path / "music"
    _sox(root / "top.wav")
    _sox(root / "a" / "b" / "c" / "deep.wav")
    assert [t.relative for t in scan(root, max_depth=2).tracks] == ["top.wav"]
    assert len(scan(root).tracks) == 2
    limited = scan(root, max_files=1)
    assert len(limited.tracks) == 1 and limited.truncated


def test_a_missing_folder_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        scan(tmp_path / "nowhere")


PREFS = Music(
    preferred_artists=["ofra  HAZA", "Arik Einstein", "Eyal Golan"],  # listed and disliked: disliked wins
    preferred_songs=["Kalaniyot"],
    preferred_genres=["jazz"],
    disliked_artists=["Eyal Golan"],
)


def _pick(library: MusicLibrary, music: Music = PREFS, **request: str) -> tuple[str | None, str | None]:
    found = library.match(music, **request)
    return (found.track.relative if found.track else None), found.reason


def test_a_disliked_artist_is_never_chosen(library: MusicLibrary) -> None:
    golan = next(t for t in library.tracks if t.artist == "Eyal Golan")
    assert not may_hear(PREFS, golan)
    assert _pick(library, artist="Eyal Golan") == (None, "artist_disliked")
    assert _pick(library, artist="eyal  golan", song="Im Nin'alu") == (None, "artist_disliked")
    # the same song title, asked without an artist: the preferred singer's recording, never the disliked one
    assert _pick(library, song="im nin'alu") == ("haza.flac", None)
    for request in ({}, {"song": "Im Nin'alu"}, {"genre": "Pop"}, {"artist": "Ofra Haza"}):
        assert _pick(library, **request)[0] != "golan.ogg", request


def test_preference_order_song_then_artist_then_genre_then_any_preferred_artist(
    library: MusicLibrary,
) -> None:
    assert _pick(library, song="Kalaniyot") == ("damari.wav", None)  # allowed by the song alone
    assert _pick(library, artist="Arik Einstein", song="Kalaniyot") == ("damari.wav", None)
    assert _pick(library, artist="Arik Einstein") == ("Arik Einstein - Ani Ve Ata.wav", None)
    assert _pick(library, genre="JAZZ") == ("jazz/miles.ogg", None)
    # Folk is not a preferred genre, but two allowed tracks are tagged Folk: the first in library order
    assert _pick(library, genre="Folk") == ("haza.flac", None)
    assert _pick(library, genre="Rock") == ("Arik Einstein - Ani Ve Ata.wav", None)  # none: any preferred
    assert _pick(library) == ("Arik Einstein - Ani Ve Ata.wav", None)  # "play me music"


def test_only_tracks_the_profile_allows(library: MusicLibrary) -> None:
    allowed = {t.relative for t in library.tracks if may_hear(PREFS, t)}
    assert allowed == {"haza.flac", "jazz/miles.ogg", "damari.wav", "Arik Einstein - Ani Ve Ata.wav"}
    nothing_preferred = Music(disliked_artists=["Eyal Golan"])
    assert _pick(library, nothing_preferred) == (None, "no_match")
    assert _pick(library, nothing_preferred, song="Im Nin'alu") == (None, "no_match")


def test_switched_off_music_gives_the_guard_reason(library: MusicLibrary) -> None:
    off = PREFS.model_copy(update={"enabled": False})
    assert _pick(library, off) == (None, "music_disabled")
    assert _pick(library, off, artist="Ofra Haza") == (None, "music_disabled")
    assert not any(may_hear(off, t) for t in library.tracks)
