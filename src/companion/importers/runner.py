"""The import, person by person: read the source, map each person's documents, and write each person in
one transaction of their own (a person whose documents cannot be read, or whose sections would not be
valid here, fails alone and is named; the others go on). After a person's transaction, one change
event names every section that changed, so each of their live conversations refreshes once.

Photos come after the person's transaction: each one whose file is in the copy of the Blob container
is uploaded through the photo library (checked, decoded and stored as an upload from the dashboard, in
a transaction of its own), then remembered in the person's import marks. A photo without a file, or
one the library refuses, is named in the report and the rest of the person stands; the next import
tries it again.

Nothing is sent to anyone: imported alerts are recorded without messages (the outbox gets no row) and
never escalate; imported reminders are history, in final states the reminder service never picks up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Final, Protocol

from companion.clock import Clock, utcnow
from companion.errors import CompanionError, InvalidInput
from companion.events import ProfileChanged, RefreshCounts
from companion.importers.photos import PhotoMeta
from companion.importers.plan import (
    CONTAINERS,
    NOT_IMPORTED,
    PHOTOS_SECTION,
    SOURCE,
    Outcome,
    PersonImport,
    PhotoUpload,
    decide,
    prepare,
)
from companion.importers.report import Action, ImportReport, PersonReport, PhotoProblem
from companion.importers.sources import Source, owner
from companion.photos.service import Described, Incoming
from companion.profiles.models import Photo, PhotoEdit
from companion.store import ImportedState, ImportMark, ImportWrite
from companion.store.schema import ID_MAX

log = logging.getLogger(__name__)

PARALLEL: Final = 4  # people written at once: PostgreSQL overlaps their round trips; SQLite takes turns
BATCH: Final = 100  # people whose stored state is read together (a few queries for all of them)

Publish = Callable[[ProfileChanged], Awaitable[RefreshCounts]]


class ImportStore(Protocol):
    async def imported_states(
        self, people: Mapping[str, tuple[Collection[str], Collection[str]]]
    ) -> dict[str, ImportedState]: ...

    async def write_import(
        self, user_id: str, write: ImportWrite, state: ImportedState, *, source: str
    ) -> None: ...


class PhotoLibrary(Protocol):
    async def add_described(self, user_id: str, item: Described) -> Photo: ...


class PhotoFiles(Protocol):
    def find(self, blob_path: str) -> Incoming | None: ...


async def read_people(
    source: Source, only: Sequence[str] = ()
) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], dict[str, str]]:
    """Every person's documents by container, and the containers present that are not imported."""
    present = await source.containers()
    skipped = {name: why for name, why in NOT_IMPORTED.items() if name in present}
    for name in present:
        if name not in CONTAINERS and name not in NOT_IMPORTED:
            skipped[name] = "not a container of the seed system's data model"
    people: dict[str, dict[str, list[dict[str, Any]]]] = {user: {} for user in only}
    for container in CONTAINERS:
        if container not in present:
            continue
        async for doc in source.documents(container, only):
            user = owner(container, doc)
            if not user:
                skipped.setdefault(f"{container} (no userId)", "documents that name no person")
                continue
            people.setdefault(user, {}).setdefault(container, []).append(doc)
    return people, skipped


class ImportRunner:
    def __init__(
        self,
        store: ImportStore,
        publish: Publish | None = None,
        *,
        clock: Clock = utcnow,
        overwrite: bool = False,
        dry_run: bool = False,
        parallel: int = PARALLEL,
        photos: PhotoLibrary | None = None,
        photo_files: PhotoFiles | None = None,
    ) -> None:
        self._store = store
        self._photos = photos
        self._photo_files = photo_files
        self._publish = publish
        self._clock = clock
        self._overwrite = overwrite
        self._dry_run = dry_run
        self._parallel = max(1, parallel)

    async def run(
        self,
        source: Source,
        *,
        only: Sequence[str] = (),
        on_start: Callable[[int], None] | None = None,
        on_person: Callable[[PersonReport], None] | None = None,
    ) -> ImportReport:
        report = ImportReport(source.name, self._dry_run, self._overwrite, self._clock())
        people, report.skipped_containers = await read_people(source, only)
        report.missing = sorted(u for u in only if not people.get(u))
        order = sorted(u for u, docs in people.items() if docs)
        if on_start:
            on_start(len(order))
        gate = asyncio.Semaphore(self._parallel)
        results: dict[str, PersonReport] = {}

        async def one(user_id: str, person: PersonImport, state: ImportedState) -> None:
            async with gate:
                result = await self.write_one(person, state)
            results[user_id] = result
            if on_person:
                on_person(result)

        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            prepared: dict[str, PersonImport] = {}
            for user_id in batch:
                try:
                    prepared[user_id] = prepare(user_id, people[user_id], self._clock())
                except (CompanionError, ValueError, TypeError, KeyError) as exc:
                    results[user_id] = _failed(user_id, exc)
                    if on_person:
                        on_person(results[user_id])
            wanted = {u: ([r.id for r in p.reminders], p.conversation_ids) for u, p in prepared.items()}
            states = await self._store.imported_states(wanted)
            async with asyncio.TaskGroup() as group:
                for user_id, person in prepared.items():
                    group.create_task(one(user_id, person, states[user_id]))
        report.people = [results[u] for u in order]
        report.finished_at = self._clock()
        return report

    async def write_one(self, person: PersonImport, state: ImportedState) -> PersonReport:
        """Decide and write one person (one transaction), then bring their photos; their live
        conversations refresh once, for all of it."""
        user_id = person.user_id
        try:
            _check_user_id(user_id)
            write, outcome = decide(person, state, overwrite=self._overwrite, now=self._clock())
            if not self._dry_run:
                await self._store.write_import(user_id, write, state, source=SOURCE)
        except (CompanionError, ValueError, TypeError, KeyError) as exc:
            return _failed(user_id, exc, person.notes, person.remarks)
        result = PersonReport(
            user_id,
            "unchanged",
            changes=list(outcome.changes),
            conflicts=outcome.conflicts,
            not_carried=person.notes + outcome.notes,
            remarks=person.remarks,
        )
        result.photos_failed += [_problem(photo, error) for photo, error in outcome.photo_errors]
        brought = await self._bring_photos(user_id, outcome, result)
        if brought and not self._dry_run:
            marks = {**state.marks, **{m.item: m for m in write.marks}}  # as the person's write left them
            after = ImportedState(user_id, True, {}, marks, {}, {})
            await self._store.write_import(user_id, ImportWrite(marks=tuple(brought)), after, source=SOURCE)
            if PHOTOS_SECTION not in outcome.sections:
                outcome.sections.append(PHOTOS_SECTION)
        if result.changes:
            result.status = "updated" if state.registered else "created"
        if outcome.sections and self._publish is not None and not self._dry_run:
            version = max((m.version for m in (*write.marks, *brought)), default=0)
            # one event for the person: each live conversation rebuilds its instructions once
            result.live = await self._publish(ProfileChanged(user_id, tuple(outcome.sections), version))
        return result

    async def _bring_photos(self, user_id: str, outcome: Outcome, result: PersonReport) -> list[ImportMark]:
        """Upload each photo whose file is found (a dry run only looks for it); the marks of those stored.
        A photo whose upload fails is named in ``result`` and the next one goes on."""
        brought: list[ImportMark] = []
        for upload in outcome.uploads:
            found = self._photo_files.find(upload.meta.blob_path) if self._photo_files else None
            if found is None or self._photos is None:
                result.photos_missing.append(_problem(upload.meta))
                continue
            if not self._dry_run:
                error = await self._upload(user_id, found, upload)
                if error is not None:
                    result.photos_failed.append(_problem(upload.meta, error))
                    continue
                brought.append(upload.mark)
            change: tuple[str, Action] = (upload.mark.item, upload.action)
            result.changes.append(change)
        return brought

    async def _upload(self, user_id: str, found: Incoming, upload: PhotoUpload) -> str | None:
        assert self._photos is not None
        described = Described(found, upload.meta.id, PhotoEdit.model_validate(upload.description))
        try:
            await self._photos.add_described(user_id, described)
        except CompanionError as exc:
            return exc.message
        except OSError as exc:  # the file went away, or cannot be read
            return f"the file could not be read ({type(exc).__name__})"
        return None


def _problem(photo: PhotoMeta, error: str | None = None) -> PhotoProblem:
    return PhotoProblem(photo.id, f"{photo.container}/{photo.source_id}", photo.blob_path, error)


def _check_user_id(user_id: str) -> None:
    """The ids the store would refuse, refused before any work (a dry run says so too)."""
    if len(user_id) > ID_MAX:
        raise InvalidInput(f"user_id is longer than {ID_MAX} characters", field="userId")
    if "\x00" in user_id:
        raise InvalidInput("user_id must not contain NUL characters", field="userId")


def _failed(user_id: str, exc: BaseException, notes: Any = (), remarks: Any = ()) -> PersonReport:
    message = exc.message if isinstance(exc, CompanionError) else f"{type(exc).__name__}: {exc}"
    field = getattr(exc, "field", None)
    log.warning("import of %s failed: %s", user_id, type(exc).__name__)
    return PersonReport(
        user_id,
        "failed",
        not_carried=list(notes),
        remarks=list(remarks),
        error=f"{message}" + (f" (field {field})" if field and field not in message else ""),
    )
