"""The music library as the elder's page sees it: is there music, which track to play, and the file.

Every route needs a paired device, and answers for that device's person under the profile as it is now
(a caregiver who removes an artist stops it being matched or streamed at once).
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import FileResponse

from companion.api.deps import ServicesDep
from companion.api.device_auth import DeviceIdentity, require_device
from companion.api.headers import NOSNIFF
from companion.api.paths import MUSIC
from companion.errors import Forbidden, NotFound
from companion.music import MusicLibrary, Track, inside, may_hear

router = APIRouter(prefix=MUSIC, tags=["elder"])
Device = Annotated[DeviceIdentity, Depends(require_device)]
QueryText = Annotated[str | None, Query(max_length=200)]  # a name or a title, never a document

# The browser may keep the file for replays and seeks but must ask first every time (ETag: a 304 is
# cheap), so a track the profile no longer allows stops playing at once; no shared cache ever.
TRACK_CACHE = "private, no-cache"
_AUDIO = {"audio/*": {"schema": {"type": "string", "format": "binary"}}}


def _json(description: str, schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """A 200 answer for the API document (the routes build plain dicts)."""
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}


_TRACK = {
    "type": "object",
    "required": ["id", "artist", "title", "url", "durationS"],
    "properties": {
        "id": {"type": "string"},
        "artist": {"type": "string"},
        "title": {"type": "string"},
        "url": {"type": "string"},
        "durationS": {"type": ["number", "null"]},
    },
}
LIBRARY_RESPONSES = _json(
    "Whether there is music, and how many tracks",
    {
        "type": "object",
        "required": ["available", "tracks"],
        "properties": {"available": {"type": "boolean"}, "tracks": {"type": "integer", "minimum": 0}},
    },
)
MATCH_RESPONSES = _json(
    "The track to play, or none and why",
    {
        "type": "object",
        "required": ["available", "track", "reason"],
        "properties": {
            "available": {"type": "boolean"},
            "track": {"anyOf": [_TRACK, {"type": "null"}]},
            "reason": {"type": ["string", "null"]},
        },
    },
)
# The file's answers for the API document (its errors are added with every route's, in api/openapi.py).
TRACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The audio file, as its own type (audio/mpeg, audio/ogg, ...)", "content": _AUDIO},
    206: {"description": "The part a Range header asked for", "content": _AUDIO},
    416: {
        "description": "The Range asked for is outside the file",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    },
}


def track_json(track: Track) -> dict[str, Any]:
    return {
        "id": track.id,
        "artist": track.artist,
        "title": track.title,
        "url": f"{MUSIC}/tracks/{track.id}",
        "durationS": track.duration_s,
    }


def _library(library: MusicLibrary | None) -> MusicLibrary | None:
    return library if library is not None and len(library) > 0 else None


@router.get("", response_model=None, responses=LIBRARY_RESPONSES)
async def library_state(services: ServicesDep, _device: Device) -> dict[str, Any]:
    """Whether the page may offer music at all (with no library it tells the model so)."""
    library = _library(services.music)
    return {"available": library is not None, "tracks": len(library) if library else 0}


@router.get("/match", response_model=None, responses=MATCH_RESPONSES)
async def match(
    services: ServicesDep,
    device: Device,
    artist: QueryText = None,
    song: QueryText = None,
    genre: QueryText = None,
) -> dict[str, Any]:
    """The track to play for a ``play_music`` call; ``available`` says whether there is a library."""
    library = _library(services.music)
    if library is None:
        return {"available": False, "track": None, "reason": "no_library"}
    context = await services.profiles.context(device.user_id)
    found = library.match(context.music, artist=artist, song=song, genre=genre)
    return {
        "available": True,
        "track": track_json(found.track) if found.track else None,
        "reason": found.reason,
    }


@router.get("/tracks/{track_id}", response_class=FileResponse, responses=TRACK_RESPONSES)
async def track_file(track_id: str, services: ServicesDep, device: Device) -> FileResponse:
    """The audio file, with Range support (Starlette's FileResponse answers 206 and 416 itself)."""
    library = _library(services.music)
    track = library.get(track_id) if library else None
    if library is None or track is None:
        raise NotFound("No such track")
    context = await services.profiles.context(device.user_id)
    if not may_hear(context.music, track):
        raise Forbidden("This track is not one this person may hear now")
    stat = await asyncio.to_thread(_stat_inside, library, track)
    if stat is None:
        raise NotFound("The track's file is gone; scan the music folder again")
    return FileResponse(
        track.path,
        media_type=track.media_type,
        stat_result=stat,
        headers={"Cache-Control": TRACK_CACHE, **NOSNIFF},
    )


def _stat_inside(library: MusicLibrary, track: Track) -> os.stat_result | None:
    """Checked again at serve time: the file may have been removed or replaced by a link since the scan."""
    path = inside(library.root, track.path)
    return path.stat() if path == track.path else None
