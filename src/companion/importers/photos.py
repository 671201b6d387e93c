"""``photos`` (and the wizard's ``photos`` in a safety-config document) -> a photo of the family's
library here: the file, its caption, the people in it (``manualTags``), when it is from and where.

The bytes live in the seed system's Blob container ``photos`` as ``{userId}/{ms}-{name}``;
``--photos-dir`` points at a copy of it, and each photo found there is uploaded through the photo
library (``plan`` decides which, the runner uploads). A photo is known by its blob: the wizard's copy in
a safety-config document and the ``photos`` document written from it are one photo, and its id here is
made from the person and the blob, so every later import finds it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Final
from urllib.parse import unquote

from companion.importers.fields import Fields, NotCarried
from companion.importers.values import moment, text_list
from companion.profiles.models import CAPTION_TEXT, MAX_PEOPLE, NAME_TEXT, WHERE_TEXT

PHOTO_ID_PREFIX: Final = "photo-"  # the photo library's ids: ``photo-`` and 16 hex digits


@dataclass(frozen=True, slots=True)
class PhotoMeta:
    id: str  # its id here: the same for every document of the same blob (``photo_id``)
    source_id: str
    container: str  # "photos", or "safety-config" for the wizard's copy
    file_name: str
    blob_path: str  # {userId}/{ms}-{name}: where the bytes are in the Blob container (and --photos-dir)
    caption: str
    people: tuple[str, ...]
    when: str  # the day it was taken, when the source knows it ("" otherwise)
    where: str

    def description(self) -> dict[str, Any]:
        """What the import owns of the photo's document here, in its JSON shape."""
        return {"caption": self.caption, "people": list(self.people), "when": self.when, "where": self.where}


def photo_id(user_id: str, blob_path: str) -> str:
    """``photo-`` and 16 hex digits of the person and the blob's path."""
    key = f"{user_id}\n{blob_path}".encode()
    return PHOTO_ID_PREFIX + hashlib.blake2b(key, digest_size=8).hexdigest()


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
    if not url:
        doc.note("blobUrl", "missing: there is no file to bring, so this photo is not carried")
        return None, doc.finish()
    caption = doc.text("caption")
    if len(caption) > CAPTION_TEXT:
        doc.note("caption", f"longer than {CAPTION_TEXT} characters: cut")
    people = text_list(doc, "manualTags", NAME_TEXT, MAX_PEOPLE)
    where = doc.text("location")
    if len(where) > WHERE_TEXT:
        doc.note("location", f"longer than {WHERE_TEXT} characters: cut")
    taken = moment(doc.get("capturedDate"))
    uploaded = moment(doc.body.get("uploadedAt"))
    doc.drop("uploadedAt", "when it was uploaded there: the upload here has its own time")
    when = ""
    if taken is not None and (uploaded is None or taken.date() != uploaded.date()):
        when = taken.date().isoformat()
    elif taken is not None:
        doc.note("capturedDate", "the day it was uploaded there, not when it was taken: left empty")
    doc.drop("uploadedBy", "who uploaded it in the seed system")
    doc.drop_all(("lastShownAt", "shownCount"), "how the seed system showed it: counted afresh here")
    doc.drop("triggerKeywords", "the choice of photos here reads captions and names")
    doc.drop("size", "measured again from the file")
    path = blob_path(user_id, url, file_name)
    photo = PhotoMeta(
        id=photo_id(user_id, path),
        source_id=source_id,
        container=container,
        file_name=file_name or PurePosixPath(url).name,
        blob_path=path,
        caption=caption[:CAPTION_TEXT],
        people=tuple(people),
        when=when,
        where=where[:WHERE_TEXT],
    )
    return photo, doc.finish()
