"""Loads and saves care-profile documents with optimistic concurrency, and announces every change.

Sections (``profile``, ``safety``, ``music``) are one document each; memories are a collection. A save
of an existing section must name the version it was based on (If-Match), so two caregivers editing at
once can never silently overwrite each other. Every successful save publishes ``ProfileChanged`` and
returns what the live sessions did with it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from companion.errors import InvalidInput, NotFound, PreconditionRequired
from companion.events import EventBus, ProfileChanged, RefreshCounts
from companion.profiles.models import (
    MAX_MEMORIES,
    PHOTO_KIND,
    SECTION_MODELS,
    CareContext,
    Memory,
    MemoryEdit,
    MemoryInput,
    MemorySource,
    Model,
    Music,
    Photo,
    Profile,
    Safety,
)
from companion.profiles.models import ordered as ordered_photos
from companion.store import DocumentStore, StoredDocument

SECTION_DOC_ID = "main"
MEMORY_KIND = "memory"


@dataclass(frozen=True, slots=True)
class SectionState:
    name: str
    data: Model | None
    version: int | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class SaveResult:
    section: str
    data: Model
    version: int
    live_sessions: RefreshCounts


def _section_model(section: str) -> type[Model]:
    try:
        return SECTION_MODELS[section]
    except KeyError:
        raise NotFound(f"Unknown profile section '{section}' (known: {', '.join(SECTION_MODELS)})") from None


log = logging.getLogger(__name__)
M = TypeVar("M", bound=Model)


def validation_error(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """Turn pydantic's report into one clear message naming the first field at fault."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0] if errors else {"loc": (), "msg": "invalid value"}
    field = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    message = f"{field}: {first['msg']}" if field else str(first["msg"])
    details = [
        {"field": ".".join(str(p) for p in (prefix, *e["loc"]) if p != ""), "message": e["msg"]}
        for e in errors
    ]
    return InvalidInput(message, field=field or None, errors=details)


def parse_section(section: str, body: Any, *, strict: bool = False) -> Model:
    """``strict``: ``body`` is JSON from the API and is held to JSON's types (0 is not false, "3" is not
    3), as the API document says; the dashboard's forms send text and are validated leniently."""
    model = _section_model(section)
    if not isinstance(body, dict):
        raise InvalidInput(f"The {section} section must be a JSON object", field=section)
    return _validated(model, body, strict=strict)


def _validated(model: type[M], body: dict[str, Any], *, strict: bool) -> M:
    try:
        if strict:
            return model.model_validate_json(json.dumps(body), strict=True)
        return model.model_validate(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


def read_stored(model: type[M], doc: StoredDocument) -> M | None:
    """A stored document as its model, or None when it no longer validates (written by an older
    version, or by hand): logged with which document and fields, never the values."""
    try:
        return model.model_validate(doc.body)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        log.warning(
            "skipped stored %s %s of user %s: invalid %s",
            doc.kind,
            doc.doc_id,
            doc.user_id,
            ", ".join(fields),
        )
        return None


def context_from_documents(user_id: str, docs: list[StoredDocument]) -> CareContext:
    """Assemble a CareContext from one ``load_user`` result; bad stored data is skipped, not fatal."""
    sections: dict[str, Model] = {}
    memories: list[Memory] = []
    photos: list[Photo] = []
    for doc in docs:
        if doc.kind in SECTION_MODELS and doc.doc_id == SECTION_DOC_ID:
            section = read_stored(SECTION_MODELS[doc.kind], doc)
            if section is not None:
                sections[doc.kind] = section
        elif doc.kind == MEMORY_KIND:
            memory = read_stored(Memory, doc)
            if memory is not None:
                memories.append(memory)
        elif doc.kind == PHOTO_KIND:
            photo = read_stored(Photo, doc)
            if photo is not None:
                photos.append(photo)
    memories.sort(key=lambda m: (m.created_at, m.id))
    profile = sections.get("profile")
    safety = sections.get("safety")
    music = sections.get("music")
    return CareContext(
        user_id=user_id,
        profile=profile if isinstance(profile, Profile) else None,
        safety=safety if isinstance(safety, Safety) else Safety(),
        music=music if isinstance(music, Music) else Music(),
        memories=tuple(memories),
        photos=tuple(ordered_photos(photos)),
    )


@dataclass(slots=True)
class ChangeBatch:
    """Changes of one person saved together: one ``ProfileChanged`` (one refresh of each live
    session) when the batch ends, instead of one per section and per memory."""

    user_id: str
    sections: list[str] = field(default_factory=list)
    version: int = 0
    counts: RefreshCounts = field(default_factory=RefreshCounts)


_BATCH: ContextVar[ChangeBatch | None] = ContextVar("profile_change_batch", default=None)


class ProfileService:
    def __init__(self, store: DocumentStore, bus: EventBus) -> None:
        self._store = store
        self._bus = bus

    @asynccontextmanager
    async def batch(self, user_id: str) -> AsyncIterator[ChangeBatch]:
        """Within it, saves of ``user_id`` (by this task) announce nothing; at its end one change
        event names every section that changed, and ``counts`` says how the live sessions took it."""
        batch = ChangeBatch(user_id)
        token = _BATCH.set(batch)
        try:
            yield batch
        finally:
            _BATCH.reset(token)
            if batch.sections:
                event = ProfileChanged(user_id, tuple(batch.sections), batch.version)
                batch.counts = await self._bus.publish(event)

    async def _announce(self, event: ProfileChanged) -> RefreshCounts:
        batch = _BATCH.get()
        if batch is None or batch.user_id != event.user_id:
            return await self._bus.publish(event)
        batch.sections += [s for s in event.sections if s not in batch.sections]
        batch.version = max(batch.version, event.version)
        return RefreshCounts()

    async def context(self, user_id: str) -> CareContext:
        """The whole care context in one store query: what a live session builds from."""
        return context_from_documents(user_id, await self._store.load_user(user_id))

    async def all_sections(self, user_id: str) -> tuple[list[SectionState], list[Memory]]:
        docs = await self._store.load_user(user_id)
        by_kind = {d.kind: d for d in docs if d.doc_id == SECTION_DOC_ID and d.kind in SECTION_MODELS}
        states = []
        for name, model in SECTION_MODELS.items():
            doc = by_kind.get(name)
            states.append(
                SectionState(
                    name=name,
                    data=read_stored(model, doc) if doc else None,
                    version=doc.version if doc else None,
                    updated_at=doc.updated_at if doc else None,
                )
            )
        memories = context_from_documents(user_id, docs).memories
        return states, list(memories)

    async def get_section(self, user_id: str, section: str) -> SectionState:
        model = _section_model(section)
        doc = await self._store.get(user_id, section, SECTION_DOC_ID)
        if doc is None:
            raise NotFound(f"User {user_id} has no {section} section yet")
        return SectionState(section, read_stored(model, doc), doc.version, doc.updated_at)

    async def save_section(
        self,
        user_id: str,
        section: str,
        body: Any,
        *,
        if_match: int | None,
        if_match_any: bool = False,
        strict: bool = False,
    ) -> SaveResult:
        """Validate and save one section; an existing one needs the version it was based on."""
        data = parse_section(section, body, strict=strict)
        expected: int | None = if_match
        # With If-Match the write itself checks the version (one round trip); without it, whether the
        # section exists decides between a create and a 428.
        current = None if if_match is not None else await self._store.get(user_id, section, SECTION_DOC_ID)
        if current is not None:
            if not if_match_any:
                raise PreconditionRequired(
                    f"The {section} section already exists: send If-Match with its version "
                    f'(current ETag "{current.version}") so that no one else\'s change is overwritten',
                    currentVersion=current.version,
                )
            expected = current.version
        payload = data.model_dump(mode="json", by_alias=True)
        saved = await self._store.put(user_id, section, SECTION_DOC_ID, payload, expected_version=expected)
        live = await self._announce(ProfileChanged(user_id, (section,), saved.version))
        return SaveResult(section, data, saved.version, live)

    async def list_memories(self, user_id: str) -> list[Memory]:
        docs = await self._store.list(user_id, MEMORY_KIND)
        return sorted((Memory.model_validate(d.body) for d in docs), key=lambda m: (m.created_at, m.id))

    async def add_memory(
        self,
        user_id: str,
        body: Any,
        *,
        source: MemorySource = MemorySource.CAREGIVER,
        strict: bool = False,
        conversation_id: str | None = None,
    ) -> tuple[Memory, RefreshCounts]:
        if not isinstance(body, dict):
            raise InvalidInput("A memory must be a JSON object", field="memory")
        data = _validated(MemoryInput, body, strict=strict)
        existing = await self._store.list(user_id, MEMORY_KIND)
        if len(existing) >= MAX_MEMORIES:
            raise InvalidInput(
                f"This person already has {MAX_MEMORIES} memories; remove one before adding another",
                field="memories",
            )
        memory = Memory(
            id="mem-" + uuid.uuid4().hex[:12],
            text=data.text,
            type=data.type,
            importance=data.importance,
            source=source,
            created_at=datetime.now(UTC),
            conversation_id=conversation_id,
        )
        saved = await self._store.put(
            user_id,
            MEMORY_KIND,
            memory.id,
            memory.model_dump(mode="json", by_alias=True),
            expected_version=None,
        )
        live = await self._announce(ProfileChanged(user_id, ("memories",), saved.version))
        return memory, live

    async def confirm_memory(self, user_id: str, memory_id: str) -> Memory:
        """The family keeps a memory learned in conversation (its text is unchanged: nothing to refresh)."""
        doc = await self._store.get(user_id, MEMORY_KIND, memory_id)
        if doc is None:
            raise NotFound(f"Memory {memory_id} not found")
        memory = Memory.model_validate(doc.body)
        if memory.confirmed_at is not None:
            return memory
        memory = memory.model_copy(update={"confirmed_at": datetime.now(UTC)})
        body = memory.model_dump(mode="json", by_alias=True)
        await self._store.put(user_id, MEMORY_KIND, memory_id, body, expected_version=doc.version)
        return memory

    async def get_memory(self, user_id: str, memory_id: str) -> tuple[Memory, int]:
        """The memory and its version (its ETag)."""
        doc = await self._store.get(user_id, MEMORY_KIND, memory_id)
        if doc is None:
            raise NotFound(f"Memory {memory_id} not found")
        return Memory.model_validate(doc.body), doc.version

    async def edit_memory(
        self, user_id: str, memory_id: str, body: Any, *, if_match: int | None, strict: bool = True
    ) -> tuple[Memory, int, RefreshCounts]:
        """Change a memory's text, type or importance, from the version the editor saw (If-Match is
        required: two relatives editing one memory never overwrite each other). An edit keeps it."""
        if not isinstance(body, dict):
            raise InvalidInput("A memory edit must be a JSON object", field="memory")
        change = _validated(MemoryEdit, body, strict=strict)
        if if_match is None:
            raise PreconditionRequired("Editing a memory needs If-Match with the version you read")
        memory, _ = await self.get_memory(user_id, memory_id)
        now = datetime.now(UTC)
        update: dict[str, Any] = {
            key: value for key, value in change.model_dump(exclude_none=True).items() if value is not None
        }
        if not update:
            raise InvalidInput("Nothing to change: send text, type or importance", field="memory")
        update["edited_at"] = now
        if memory.source is MemorySource.CONVERSATION and memory.confirmed_at is None:
            update["confirmed_at"] = now  # the family edited it: that keeps it
        edited = memory.model_copy(update=update)
        edited = Memory.model_validate(edited.model_dump())
        saved = await self._store.put(
            user_id,
            MEMORY_KIND,
            memory_id,
            edited.model_dump(mode="json", by_alias=True),
            expected_version=if_match,
        )
        live = await self._announce(ProfileChanged(user_id, ("memories",), saved.version))
        return edited, saved.version, live

    async def delete_memory(self, user_id: str, memory_id: str) -> RefreshCounts:
        if not await self._store.delete(user_id, MEMORY_KIND, memory_id):
            raise NotFound(f"Memory {memory_id} not found")
        return await self._announce(ProfileChanged(user_id, ("memories",), 0))
