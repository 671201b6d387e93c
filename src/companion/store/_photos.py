"""The photo half of ``SqlStore``: each photo's pixels beside its ``photo`` document.

A photo is two rows written and deleted in one transaction: its ``photos`` row (the display copy, the
thumbnail, optionally the full-size image; never any metadata) and its document (what the family says
about it, versioned like every document, and logged in the change log so other instances refresh).
The quota is checked inside the adding transaction, after the person's row is locked (PostgreSQL) or
the writer's turn is taken (SQLite), so two uploads at once cannot both pass it. Every read names the
person: a photo id of someone else's is as unknown as one that never existed.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import delete, func, insert, select, update

from companion.errors import AlreadyExists, NotFound, QuotaExceeded
from companion.store._changes import SqlChanges
from companion.store._engine import check_aware, check_key, json_roundtrip
from companion.store.base import StoredDocument
from companion.store.schema import ID_MAX, documents, photos, users

_ph = photos.c
_doc = documents.c
PHOTO_DOC_KIND: Final = "photo"  # the documents' kind (``profiles.models.PHOTO_KIND``)
Variant = Literal["display", "thumb", "original"]
VARIANTS: Final[frozenset[str]] = frozenset({"display", "thumb", "original"})
MB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class PhotoFiles:
    """One photo's encoded copies, ready to store (made by ``photos.imaging``)."""

    id: str
    user_id: str
    media_type: str
    width: int  # of the display copy
    height: int
    display: bytes
    thumb: bytes
    original: bytes | None = None

    @property
    def stored_bytes(self) -> int:
        return len(self.display) + len(self.thumb) + len(self.original or b"")

    def __repr__(self) -> str:
        return f"PhotoFiles(id={self.id!r}, user_id={self.user_id!r}, bytes={self.stored_bytes})"


@dataclass(frozen=True, slots=True)
class PhotoFacts:
    """What the store knows of a photo besides its document: sizes and when it was shown."""

    id: str
    media_type: str
    width: int
    height: int
    stored_bytes: int
    has_original: bool
    created_at: datetime
    last_shown_at: datetime | None
    shown_count: int


@dataclass(frozen=True, slots=True)
class PhotoUsage:
    count: int
    stored_bytes: int


class SqlPhotos(SqlChanges):
    """A base of ``SqlStore``; on the change log's own base, since every photo change is logged."""

    async def add_photo(
        self, files: PhotoFiles, body: dict[str, Any], *, max_count: int, max_bytes: int
    ) -> StoredDocument:
        """Store the photo and its document (version 1) in one transaction. QuotaExceeded when the
        person would then have more than ``max_count`` photos or ``max_bytes`` stored; NotFound when
        the person is not registered."""
        check_key("user_id", files.user_id, ID_MAX)
        check_key("photo_id", files.id, ID_MAX)
        stored = json_roundtrip(body)
        now = self._now()
        async with self._tx() as conn:
            person = select(users.c.user_id).where(users.c.user_id == files.user_id)
            if self.backend == "postgresql":
                person = person.with_for_update()  # uploads of one person take turns for the quota
            if await conn.scalar(person) is None:
                raise NotFound(f"user {files.user_id!r} does not exist", field="user_id")
            if await conn.scalar(select(_ph.id).where(_ph.id == files.id)) is not None:
                raise AlreadyExists(f"there is already a photo {files.id!r}", field="photo_id")
            usage = await _usage(conn, files.user_id)
            if usage.count + 1 > max_count:
                raise QuotaExceeded(
                    f"This person already has {usage.count} photos, the most one person may have "
                    f"({max_count}); delete some to add more",
                    field="files",
                )
            if usage.stored_bytes + files.stored_bytes > max_bytes:
                mb, taken = max_bytes // MB, usage.stored_bytes // MB
                raise QuotaExceeded(
                    f"This photo does not fit: the person's photos may take {mb} MB in all, and {taken} MB "
                    "are taken; delete some to add more",
                    field="files",
                )
            await conn.execute(
                insert(photos).values(
                    id=files.id,
                    user_id=files.user_id,
                    media_type=files.media_type,
                    width=files.width,
                    height=files.height,
                    display=files.display,
                    thumb=files.thumb,
                    original=files.original,
                    stored_bytes=files.stored_bytes,
                    created_at=now,
                    last_shown_at=None,
                    shown_count=0,
                )
            )
            await conn.execute(
                insert(documents).values(
                    user_id=files.user_id,
                    kind=PHOTO_DOC_KIND,
                    doc_id=files.id,
                    body=stored,
                    version=1,
                    updated_at=now,
                )
            )
            await self._log_change(conn, files.user_id, PHOTO_DOC_KIND, 1)
        return StoredDocument(files.user_id, PHOTO_DOC_KIND, files.id, stored, 1, now)

    async def delete_photo(self, user_id: str, photo_id: str) -> bool:
        """The photo's bytes and its document, in one transaction; False when the person has no such photo."""
        async with self._tx() as conn:
            gone = await conn.execute(delete(photos).where(_ph.user_id == user_id, _ph.id == photo_id))
            await conn.execute(
                delete(documents).where(
                    _doc.user_id == user_id, _doc.kind == PHOTO_DOC_KIND, _doc.doc_id == photo_id
                )
            )
            if gone.rowcount > 0:
                await self._log_change(conn, user_id, PHOTO_DOC_KIND, 0)
                return True
            return False

    async def photo_bytes(self, user_id: str, photo_id: str, variant: Variant) -> tuple[bytes, str] | None:
        """``(bytes, media type)`` of one copy of the person's photo; None when there is none (another
        person's photo, a deleted one, or no original kept)."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown photo variant {variant!r}")
        column = _ph[variant]
        query = select(column, _ph.media_type).where(_ph.user_id == user_id, _ph.id == photo_id)
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        if row is None or row[0] is None:
            return None
        return bytes(row[0]), str(row[1])

    async def photo_facts(self, user_id: str) -> dict[str, PhotoFacts]:
        """Every photo of the person by id: sizes and showings, never the pixels."""
        query = select(
            _ph.id,
            _ph.media_type,
            _ph.width,
            _ph.height,
            _ph.stored_bytes,
            _ph.original.is_not(None).label("has_original"),
            _ph.created_at,
            _ph.last_shown_at,
            _ph.shown_count,
        ).where(_ph.user_id == user_id)
        async with self._read() as conn:
            rows = await conn.execute(query)
            return {
                r.id: PhotoFacts(
                    id=r.id,
                    media_type=r.media_type,
                    width=int(r.width),
                    height=int(r.height),
                    stored_bytes=int(r.stored_bytes),
                    has_original=bool(r.has_original),
                    created_at=r.created_at,
                    last_shown_at=r.last_shown_at,
                    shown_count=int(r.shown_count),
                )
                for r in rows
            }

    async def photo_usage(self, user_id: str) -> PhotoUsage:
        async with self._read() as conn:
            return await _usage(conn, user_id)

    async def mark_photo_shown(self, user_id: str, photo_id: str, at: datetime) -> bool:
        """Record a showing; False when the photo is gone (deleted meanwhile)."""
        check_aware(at)
        async with self._tx() as conn:
            result = await conn.execute(
                update(photos)
                .where(_ph.user_id == user_id, _ph.id == photo_id)
                .values(last_shown_at=at, shown_count=_ph.shown_count + 1)
            )
            return bool(result.rowcount)

    async def photos_exist(self, user_id: str, photo_ids: Collection[str]) -> builtins.set[str]:
        """Which of ``photo_ids`` the person still has."""
        if not photo_ids:
            return set()
        query = select(_ph.id).where(_ph.user_id == user_id, _ph.id.in_(list(photo_ids)))
        async with self._read() as conn:
            return set(await conn.scalars(query))


async def _usage(conn: Any, user_id: str) -> PhotoUsage:
    row = (
        await conn.execute(
            select(func.count(_ph.id), func.coalesce(func.sum(_ph.stored_bytes), 0)).where(
                _ph.user_id == user_id
            )
        )
    ).one()
    return PhotoUsage(count=int(row[0]), stored_bytes=int(row[1]))
