"""The family's photo library: upload (limits first, then decoding), list, edit, reorder, delete, serve,
export; and the ``show_photos`` tool's answers for a live conversation.

Every limit that needs no decoding is checked before any decoding: a file's size, its person's photo
count and bytes. Decoding runs in a worker thread, one image at a time per process (``DECODE_SLOTS``),
so a burst of uploads waits its turn instead of holding several full-size bitmaps in memory at once.
A change announces ``ProfileChanged`` (section ``photos``), so live conversations pick up the new photo
index in their instructions, on every instance.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from pydantic import ValidationError

from companion.clock import Clock, utcnow
from companion.errors import (
    CompanionError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    QuotaExceeded,
    TooLarge,
)
from companion.events import EventBus, ProfileChanged
from companion.photos import imaging
from companion.photos.answer import model_answer, page_notice
from companion.photos.choose import REASONS, NoPhoto, Request, Showing, Viewing, choose
from companion.profiles.models import PHOTO_KIND, Photo, PhotoEdit, ordered
from companion.store import PhotoFacts, PhotoFiles, SqlStore, StoredDocument, Variant

log = logging.getLogger(__name__)

PHOTOS_SECTION: Final = "photos"  # what a ProfileChanged names for a change of the library
DECODE_SLOTS: Final = 1  # full-size decodes at once in this process: a 48 MP photo is ~150 MB decoded
MAX_FILES: Final = 20  # files in one upload: a phone's "select all" of one outing
EDIT_ATTEMPTS: Final = 3  # a PATCH without If-Match retries a lost race this many times
VIEWINGS_KEPT: Final = 2048  # conversations whose photo choice is remembered (oldest forgotten first)
ARG_TEXT: Final = 80  # a name or keyword the model passes; longer ones are cut
ARG_ITEMS: Final = 10


@dataclass(frozen=True, slots=True)
class PhotoLimits:
    max_file_bytes: int
    max_pixels: int
    max_count: int
    quota_bytes: int
    keep_originals: bool = False
    per_conversation: int = 6


@dataclass(frozen=True, slots=True)
class Incoming:
    """One uploaded file: its name (for the answer only), its size, and how to read it."""

    name: str
    size: int | None
    read: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Described:
    """A file that comes with its id and what is already said about it (a photo brought over by an
    import, which must find it again by that id)."""

    file: Incoming
    photo_id: str
    description: PhotoEdit


@dataclass(frozen=True, slots=True)
class Uploaded:
    """One file's outcome: the stored photo, or the error that refused it."""

    name: str
    photo: Photo | None = None
    error: CompanionError | None = None


@dataclass(frozen=True, slots=True)
class Listed:
    photo: Photo
    version: int
    facts: PhotoFacts | None


@dataclass(frozen=True, slots=True)
class ToolAnswer:
    output: dict[str, Any]
    notice: dict[str, Any] | None = None  # for the elder's page: the photo to show


class PhotoService:
    def __init__(
        self,
        store: SqlStore,
        bus: EventBus,
        limits: PhotoLimits,
        *,
        clock: Clock = utcnow,
        image_url: Callable[[str], str] = lambda photo_id: f"/app/photos/{photo_id}",
    ) -> None:
        self._store = store
        self._bus = bus
        self.limits = limits
        self._clock = clock
        self._image_url = image_url
        self._decoding = asyncio.Semaphore(DECODE_SLOTS)
        self._viewings: OrderedDict[str, Viewing] = OrderedDict()

    # ---- the family's side ----------------------------------------------------------------------

    async def upload(self, user_id: str, files: Sequence[Incoming]) -> builtins.list[Uploaded]:
        """Each file stored or refused on its own; one change announced for all that were stored."""
        if not files:
            raise InvalidInput("Choose at least one photo to upload", field="files")
        if len(files) > MAX_FILES:
            raise InvalidInput(f"At most {MAX_FILES} photos can be uploaded at once", field="files")
        results: list[Uploaded] = []
        position = await self._next_position(user_id)
        for incoming in files:
            try:
                photo = await self._one(user_id, incoming, position)
            except CompanionError as exc:
                results.append(Uploaded(incoming.name, error=exc))
                continue
            position += 1
            results.append(Uploaded(incoming.name, photo=photo))
        if any(r.photo is not None for r in results):
            await self._announce(user_id)
        return results

    async def add_described(self, user_id: str, item: Described) -> Photo:
        """One file checked, decoded and stored exactly as an upload is, as ``item.photo_id`` with its
        description, last in the family's order. Raises what refused it (AlreadyExists when the id is
        taken). Announces nothing: the caller announces once for all it brought."""
        position = await self._next_position(user_id)
        return await self._one(
            user_id, item.file, position, photo_id=item.photo_id, description=item.description
        )

    async def _one(
        self,
        user_id: str,
        incoming: Incoming,
        position: int,
        *,
        photo_id: str | None = None,
        description: PhotoEdit | None = None,
    ) -> Photo:
        limits = self.limits
        if incoming.size is not None and incoming.size > limits.max_file_bytes:
            raise _file_too_large(limits.max_file_bytes)
        usage = await self._store.photo_usage(user_id)
        if usage.count >= limits.max_count:
            raise QuotaExceeded(
                f"This person already has {usage.count} photos, the most one person may have "
                f"({limits.max_count}); delete some to add more",
                field="files",
            )
        if usage.stored_bytes >= limits.quota_bytes:
            raise QuotaExceeded(
                "This person's photos take all the space they may have; delete some to add more",
                field="files",
            )
        data = await incoming.read()
        if len(data) > limits.max_file_bytes:
            raise _file_too_large(limits.max_file_bytes)
        async with self._decoding:
            encoded = await asyncio.to_thread(
                partial(
                    imaging.encode, data, max_pixels=limits.max_pixels, keep_original=limits.keep_originals
                )
            )
        photo_id = photo_id or "photo-" + secrets.token_hex(8)
        photo = Photo(id=photo_id, position=position, created_at=self._clock())
        if description is not None:
            photo = photo.edited(description)
        files = PhotoFiles(
            id=photo_id,
            user_id=user_id,
            media_type=imaging.MEDIA_TYPE,
            width=encoded.width,
            height=encoded.height,
            display=encoded.display,
            thumb=encoded.thumb,
            original=encoded.original,
        )
        await self._store.add_photo(
            files, _body(photo), max_count=limits.max_count, max_bytes=limits.quota_bytes
        )
        log.info("photo %s stored for user %s (%s, %d bytes)", photo_id, user_id, encoded, files.stored_bytes)
        return photo

    async def list(self, user_id: str) -> list[Listed]:
        """The person's photos in the family's order, with their versions and sizes."""
        docs = await self._store.list(user_id, PHOTO_KIND)
        facts = await self._store.photo_facts(user_id)
        listed = [Listed(photo, doc.version, facts.get(photo.id)) for doc, photo in _photos(docs)]
        order = {p.id: i for i, p in enumerate(ordered([entry.photo for entry in listed]))}
        return sorted(listed, key=lambda entry: order[entry.photo.id])

    async def get(self, user_id: str, photo_id: str) -> Listed:
        for entry in await self.list(user_id):
            if entry.photo.id == photo_id:
                return entry
        raise NotFound(f"There is no photo {photo_id!r} of this person", field="photoId")

    async def edit(self, user_id: str, photo_id: str, body: Any, *, if_match: int | None = None) -> Listed:
        """Apply a partial change; ``position`` moves the photo in the family's order (0: first)."""
        try:
            change = PhotoEdit.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            raise InvalidInput(f"{field}: {first['msg']}", field=field) from None
        for attempt in range(EDIT_ATTEMPTS):
            current = await self.get(user_id, photo_id)
            expected = if_match if if_match is not None else current.version
            edited = current.photo.edited(change)
            try:
                saved = await self._store.put(
                    user_id, PHOTO_KIND, photo_id, _body(edited), expected_version=expected
                )
            except PreconditionFailed:
                if if_match is not None or attempt == EDIT_ATTEMPTS - 1:
                    raise
                continue
            if change.position is not None:
                await self._move(user_id, photo_id, change.position)
            await self._announce(user_id, saved.version)
            return await self.get(user_id, photo_id)
        raise AssertionError("unreachable")

    async def _move(self, user_id: str, photo_id: str, to: int) -> None:
        """Renumber the family's order with ``photo_id`` at index ``to`` (the end if beyond it)."""
        entries = await self.list(user_id)
        moving = next(e for e in entries if e.photo.id == photo_id)
        rest = [e for e in entries if e.photo.id != photo_id]
        rest.insert(min(to, len(rest)), moving)
        for index, entry in enumerate(rest):
            if entry.photo.position != index:
                moved = entry.photo.model_copy(update={"position": index})
                await self._store.put(
                    user_id, PHOTO_KIND, entry.photo.id, _body(moved), expected_version=entry.version
                )

    async def delete(self, user_id: str, photo_id: str) -> None:
        """The photo's bytes and description go at once; a tablet showing it can no longer fetch it."""
        if not await self._store.delete_photo(user_id, photo_id):
            raise NotFound(f"There is no photo {photo_id!r} of this person", field="photoId")
        await self._announce(user_id)

    async def image(self, user_id: str, photo_id: str, variant: Variant = "display") -> tuple[bytes, str]:
        found = await self._store.photo_bytes(user_id, photo_id, variant)
        if found is None:
            raise NotFound("There is no such photo", field="photoId")
        return found

    async def export(self, user_id: str) -> builtins.list[dict[str, Any]]:
        """Every photo's description, size and showings, for the family's export: no pixels (fetch
        each with ``GET /api/users/{id}/photos/{photoId}/image``)."""
        exported = []
        for entry in await self.list(user_id):
            item = entry.photo.model_dump(mode="json", by_alias=True)
            facts = entry.facts
            if facts is not None:
                item.update(
                    mediaType=facts.media_type,
                    width=facts.width,
                    height=facts.height,
                    storedBytes=facts.stored_bytes,
                    originalKept=facts.has_original,
                    lastShownAt=facts.last_shown_at.isoformat() if facts.last_shown_at else None,
                    shownCount=facts.shown_count,
                )
            exported.append(item)
        return exported

    async def _next_position(self, user_id: str) -> int:
        photos = [photo for _, photo in _photos(await self._store.list(user_id, PHOTO_KIND))]
        return max((p.position for p in photos), default=-1) + 1

    async def _announce(self, user_id: str, version: int = 0) -> None:
        await self._bus.publish(ProfileChanged(user_id, (PHOTOS_SECTION,), version))

    # ---- the conversation's side ----------------------------------------------------------------

    async def show(self, user_id: str, session_id: str, args: dict[str, Any]) -> ToolAnswer:
        """Answer one ``show_photos`` call of a conversation (see ``choose``)."""
        request = request_from(args)
        for _ in range(EDIT_ATTEMPTS):
            photos = [photo for _, photo in _photos(await self._store.list(user_id, PHOTO_KIND))]
            photos = ordered(photos)
            facts = await self._store.photo_facts(user_id)
            photos = [p for p in photos if p.id in facts]  # described but without bytes: never shown
            choice = choose(
                photos,
                request,
                self._viewings.get(session_id, Viewing()),
                last_shown={photo_id: f.last_shown_at for photo_id, f in facts.items()},
                now=self._clock(),
                per_conversation=self.limits.per_conversation,
            )
            if isinstance(choice, Showing) and not await self._store.mark_photo_shown(
                user_id, choice.photo.id, self._clock()
            ):
                continue  # deleted between the reading and now: choose again without it
            self._remember(session_id, choice.viewing)
            everyone = sorted({name for p in photos if not p.only_when_asked for name in p.people})
            output = model_answer(choice, everyone=everyone)
            if isinstance(choice, NoPhoto):
                return ToolAnswer(output)
            return ToolAnswer(output, page_notice(choice, self._image_url(choice.photo.id)))
        return ToolAnswer(model_answer(NoPhoto("no_more", Viewing()), everyone=[]))

    def _remember(self, session_id: str, viewing: Viewing) -> None:
        self._viewings[session_id] = viewing
        self._viewings.move_to_end(session_id)
        while len(self._viewings) > VIEWINGS_KEPT:
            self._viewings.popitem(last=False)

    def forget_conversation(self, session_id: str) -> None:
        self._viewings.pop(session_id, None)


def request_from(args: dict[str, Any]) -> Request:
    """The model's arguments as a request; anything malformed is left out rather than refused."""
    reason = args.get("trigger_reason")
    return Request(
        reason=reason if reason in REASONS else "user_requested_photos",
        names=_texts(args.get("mentioned_names")),
        keywords=_texts(args.get("keywords")),
        next_photo=args.get("next_photo") is True,
    )


def _texts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(v)[:ARG_TEXT] for v in value[:ARG_ITEMS] if isinstance(v, str) and v.strip())


def _photos(docs: Sequence[StoredDocument]) -> list[tuple[StoredDocument, Photo]]:
    found = []
    for doc in docs:
        try:
            found.append((doc, Photo.model_validate(doc.body)))
        except ValidationError:
            log.warning("photo document %s of user %s no longer validates; skipped", doc.doc_id, doc.user_id)
    return found


def _body(photo: Photo) -> dict[str, Any]:
    body: dict[str, Any] = photo.model_dump(mode="json", by_alias=True)
    return body


def _file_too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"This file is larger than {limit // (1024 * 1024)} MB, the most a photo may be", field="files"
    )
