"""``user-music-preferences`` (``music-pref-{userId}`` from the backend, ``music-{userId}-{ms}`` from
the dashboard) and the wizard's ``musicPreferences`` -> our ``music`` section."""

from __future__ import annotations

from typing import Any

from companion.importers.fields import Fields, NotCarried
from companion.importers.people import WRITTEN
from companion.importers.values import text_list
from companion.profiles.models import MAX_MUSIC_ITEMS, SHORT_TEXT

MAX_SONGS = 5


def map_music(body: dict[str, Any]) -> tuple[dict[str, Any], list[NotCarried]]:
    doc = Fields.of("user-music-preferences", body)
    doc.get("id")
    doc.get("userId")
    doc.get("type")
    doc.drop_all(("createdAt", "updatedAt"), WRITTEN)
    return music_fields(doc), doc.finish()


def music_fields(doc: Fields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("enabled", "allowAutoPlay", "playOnSadness"):
        value = doc.get(key)
        if isinstance(value, bool):
            out[key] = value
        elif value is not None:
            doc.note(key, "not true or false")
    for key in ("preferredArtists", "preferredSongs", "preferredGenres"):
        if doc.get(key) is not None:
            out[key] = text_list(doc, key, SHORT_TEXT, MAX_MUSIC_ITEMS)
    songs = doc.get("maxSongsPerSession")
    if songs is not None:
        if isinstance(songs, int) and not isinstance(songs, bool):
            if not 1 <= songs <= MAX_SONGS:
                doc.note("maxSongsPerSession", f"outside 1-{MAX_SONGS}: brought within it")
            out["maxSongsPerSession"] = min(MAX_SONGS, max(1, songs))
        else:
            doc.note("maxSongsPerSession", "not a whole number")
    doc.drop("musicService", "music plays from the service's own library here, not from a streaming service")
    return out
