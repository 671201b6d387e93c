"""The import, person by person: read the source, map each person's documents, and write each person in
one transaction of their own (a person whose documents cannot be read, or whose sections would not be
valid here, fails alone and is named; the others go on). After a person's transaction, one change
event names every section that changed, so each of their live conversations refreshes once.

Nothing is sent to anyone: imported alerts are recorded without messages (the outbox gets no row) and
never escalate; imported reminders are history, in final states the reminder service never picks up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Protocol

from companion.clock import Clock, utcnow
from companion.errors import CompanionError
from companion.events import ProfileChanged, RefreshCounts
from companion.importers.plan import CONTAINERS, NOT_IMPORTED, SOURCE, Outcome, decide, prepare
from companion.importers.report import ImportReport, PersonReport, Status
from companion.importers.sources import Source, owner
from companion.store import ImportedState, ImportWrite

log = logging.getLogger(__name__)

PARALLEL: Final = 4  # people written at once: PostgreSQL overlaps their round trips; SQLite takes turns

Publish = Callable[[ProfileChanged], Awaitable[RefreshCounts]]


class ImportStore(Protocol):
    async def import_person(
        self,
        user_id: str,
        plan: Callable[[ImportedState], ImportWrite],
        *,
        source: str,
        reminder_ids: Sequence[str] = ...,
        conversation_ids: Sequence[str] = ...,
        commit: bool = ...,
    ) -> ImportWrite: ...


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
    ) -> None:
        self._store = store
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

        async def one(user_id: str) -> None:
            async with gate:
                result = await self.import_one(user_id, people[user_id])
            results[user_id] = result
            if on_person:
                on_person(result)

        async with asyncio.TaskGroup() as group:
            for user_id in order:
                group.create_task(one(user_id))
        report.people = [results[u] for u in order]
        report.finished_at = self._clock()
        return report

    async def import_one(self, user_id: str, docs: dict[str, list[dict[str, Any]]]) -> PersonReport:
        now = self._clock()
        try:
            person = prepare(user_id, docs, now)
        except (CompanionError, ValueError, TypeError, KeyError) as exc:
            return _failed(user_id, exc)
        holder: dict[str, Any] = {}

        def plan(state: ImportedState) -> ImportWrite:
            write, outcome = decide(person, state, overwrite=self._overwrite, now=now)
            version = max((m.version for m in write.marks), default=0)
            holder.update(outcome=outcome, registered=state.registered, version=version)
            return write

        try:
            await self._store.import_person(
                user_id,
                plan,
                source=SOURCE,
                reminder_ids=[r.id for r in person.reminders],
                conversation_ids=person.conversation_ids,
                commit=not self._dry_run,
            )
        except (CompanionError, ValueError, TypeError, KeyError) as exc:
            return _failed(user_id, exc, person.notes, person.remarks)
        outcome: Outcome = holder["outcome"]
        status: Status = (
            "unchanged" if not outcome.changes else "updated" if holder["registered"] else "created"
        )
        result = PersonReport(
            user_id,
            status,
            changes=list(outcome.changes),
            conflicts=outcome.conflicts,
            not_carried=person.notes + outcome.notes,
            remarks=person.remarks,
        )
        if outcome.sections and self._publish is not None and not self._dry_run:
            # one event for the person: each live conversation rebuilds its instructions once
            result.live = await self._publish(
                ProfileChanged(user_id, tuple(outcome.sections), holder["version"])
            )
        return result


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
