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
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
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
from companion.store import ImportedState, ImportMark, ImportWrite, PersonWrite
from companion.store.schema import ID_MAX

log = logging.getLogger(__name__)

BATCH: Final = 100  # people whose stored state is read together (a few queries for all of them)
PLANNED_AHEAD: Final = 2  # batches decided and waiting while one is written (a bounded queue)
PERSON_FAILURES: Final = (CompanionError, ValueError, TypeError, KeyError)  # fail one person only

Publish = Callable[[ProfileChanged], Awaitable[RefreshCounts]]


class ImportStore(Protocol):
    async def imported_states(
        self, people: Mapping[str, tuple[Collection[str], Collection[str]]]
    ) -> dict[str, ImportedState]: ...

    async def write_import(
        self, user_id: str, write: ImportWrite, state: ImportedState, *, source: str
    ) -> None: ...

    async def write_imports(
        self, people: Sequence[PersonWrite], *, source: str
    ) -> Sequence[Exception | None]:
        """Each person in a transaction of their own: None when written, else what failed them."""
        ...


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

    async def read(container: str) -> list[dict[str, Any]]:
        return [doc async for doc in source.documents(container, only)]

    # every container asked for at once: the server works on one while the previous one is parsed here
    wanted = [container for container in CONTAINERS if container in present]
    tasks = [asyncio.create_task(read(container)) for container in wanted]
    try:
        loaded = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for container, docs in zip(wanted, loaded, strict=True):
        for doc in docs:
            user = owner(container, doc)
            if not user:
                skipped.setdefault(f"{container} (no userId)", "documents that name no person")
                continue
            people.setdefault(user, {}).setdefault(container, []).append(doc)
    return people, skipped


@dataclass(slots=True)
class _Planned:
    """One person, decided: what to write, and the account of it."""

    person: PersonImport
    state: ImportedState
    write: ImportWrite
    outcome: Outcome


class ImportRunner:
    def __init__(
        self,
        store: ImportStore,
        publish: Publish | None = None,
        *,
        clock: Clock = utcnow,
        overwrite: bool = False,
        dry_run: bool = False,
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

    async def run(
        self,
        source: Source,
        *,
        only: Sequence[str] = (),
        on_start: Callable[[int], None] | None = None,
        on_person: Callable[[PersonReport], None] | None = None,
    ) -> ImportReport:
        """Read the source, then plan people a batch at a time while the batch before is written
        (a bounded queue between the two: at most ``PLANNED_AHEAD`` batches wait)."""
        report = ImportReport(source.name, self._dry_run, self._overwrite, self._clock())
        people, report.skipped_containers = await read_people(source, only)
        report.missing = sorted(u for u in only if not people.get(u))
        order = sorted(u for u, docs in people.items() if docs)
        if on_start:
            on_start(len(order))
        results: dict[str, PersonReport] = {}

        def done(result: PersonReport) -> None:
            results[result.user_id] = result
            if on_person:
                on_person(result)

        # a batch decided, the end (None), or what stopped the planning (raised here, by the writer)
        planned: asyncio.Queue[list[_Planned] | Exception | None] = asyncio.Queue(PLANNED_AHEAD)

        async def plan() -> None:
            try:
                for start in range(0, len(order), BATCH):
                    batch = order[start : start + BATCH]
                    await planned.put(await self._plan({u: people[u] for u in batch}, done))
            except Exception as exc:  # the store unavailable, say: the writer stops with it
                await planned.put(exc)
                return
            await planned.put(None)

        planner = asyncio.create_task(plan())
        try:
            while (item := await planned.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                await self._write(item, done)
            await planner
        finally:
            if not planner.done():
                planner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await planner
        report.people = [results[u] for u in order]
        report.finished_at = self._clock()
        return report

    async def _plan(
        self, batch: dict[str, dict[str, list[dict[str, Any]]]], done: Callable[[PersonReport], None]
    ) -> list[_Planned]:
        """Map a batch of people, read what they have here (a few queries for all), decide each."""
        prepared: dict[str, PersonImport] = {}
        for user_id, docs in batch.items():
            try:
                prepared[user_id] = prepare(user_id, docs, self._clock())
            except PERSON_FAILURES as exc:
                done(_failed(user_id, exc))
        wanted = {u: ([r.id for r in p.reminders], p.conversation_ids) for u, p in prepared.items()}
        states = await self._store.imported_states(wanted)
        decided: list[_Planned] = []
        for user_id, person in prepared.items():
            try:
                _check_user_id(user_id)
                write, outcome = decide(person, states[user_id], overwrite=self._overwrite, now=self._clock())
            except PERSON_FAILURES as exc:
                done(_failed(user_id, exc, person.notes, person.remarks))
                continue
            decided.append(_Planned(person, states[user_id], write, outcome))
            await asyncio.sleep(0)  # the batch being written goes on meanwhile (its I/O, its thread)
        return decided

    async def _write(self, batch: list[_Planned], done: Callable[[PersonReport], None]) -> None:
        """Each person in a transaction of their own; then their photos; then one change event."""
        errors: list[Any] = [None] * len(batch)
        if batch and not self._dry_run:
            people = [PersonWrite(p.person.user_id, p.write, p.state) for p in batch]
            errors = list(await self._store.write_imports(people, source=SOURCE))
        for planned, error in zip(batch, errors, strict=True):
            person = planned.person
            if error is not None:
                done(_failed(person.user_id, error, person.notes, person.remarks))
                continue
            done(await self._finish(planned))

    async def _finish(self, planned: _Planned) -> PersonReport:
        """The account of a person written: their photos brought, their live conversations refreshed
        once for all of it."""
        person, state, write, outcome = planned.person, planned.state, planned.write, planned.outcome
        user_id = person.user_id
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
