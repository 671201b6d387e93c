"""``photos`` (and the wizard's ``photos`` in a safety-config document) -> photo metadata: the file, its
caption, the people in it (``manualTags``), when it was taken and where.

The photo library is not part of this version, so ``plan`` lists every photo in the report as not
imported; this mapping is where the library's import begins when it is. The bytes live in the seed
system's Blob container ``photos`` as ``{userId}/{ms}-{name}``; ``--photos-dir`` points at a copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

from companion.importers.fields import Fields, NotCarried
from companion.importers.values import moment, safe_id, text_list

MAX_PEOPLE = 20  # names on one photo
CAPTION_TEXT = 300


@dataclass(frozen=True, slots=True)
class PhotoMeta:
    id: str
    file_name: str
    blob_path: str  # {userId}/{ms}-{name}: where the bytes are in the Blob container (and --photos-dir)
    caption: str
    people: tuple[str, ...]
    taken_at: datetime | None
    location: str


def blob_path(user_id: str, blob_url: str, file_name: str) -> str:
    """``/api/photos/{userId}/{file}`` (the dashboard's proxy path, maybe behind DASHBOARD_URL) ->
    ``{userId}/{file}``."""
    tail = unquote(blob_url.split("?")[0]).rstrip("/")
    if "/api/photos/" in tail:
        return tail.split("/api/photos/", 1)[1]
    name = PurePosixPath(tail).name or file_name
    return f"{user_id}/{name}"


def map_photo(
    body: dict[str, Any], *, user_id: str, container: str = "photos"
) -> tuple[PhotoMeta | None, list[NotCarried]]:
    doc = Fields.of(container, body)
    doc.get("userId")
    source_id = doc.text("id")
    file_name = doc.text("fileName")
    url = doc.text("blobUrl")
    if not (source_id or url):
        doc.note("id", "missing: this photo is not carried")
        return None, doc.finish()
    caption = doc.text("caption")
    if len(caption) > CAPTION_TEXT:
        doc.note("caption", f"longer than {CAPTION_TEXT} characters: cut")
    people = text_list(doc, "manualTags", 60, MAX_PEOPLE)
    taken = moment(doc.get("capturedDate"))
    uploaded = moment(doc.get("uploadedAt"))
    doc.drop("uploadedBy", "who uploaded it in the seed system")
    doc.drop_all(("lastShownAt", "shownCount"), "how the seed system showed it: counted afresh here")
    doc.drop("triggerKeywords", "the choice of photos here reads captions and names")
    doc.drop("size", "measured again from the file")
    photo = PhotoMeta(
        id=safe_id(source_id or url),
        file_name=file_name or PurePosixPath(url).name,
        blob_path=blob_path(user_id, url, file_name),
        caption=caption[:CAPTION_TEXT],
        people=tuple(people),
        taken_at=taken or uploaded,
        location=doc.text("location"),
    )
    return photo, doc.finish()
