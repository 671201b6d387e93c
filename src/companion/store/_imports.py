"""The import half of ``SqlStore``: everything brought over for one person, in one transaction.

``imported_states`` reads what people have here (their documents, the marks of earlier imports, the
reminder and conversation rows the import may touch), a hundred at a time; the caller plans each person
(pure), and ``write_imports`` writes each person's plan in a transaction of its own: a person whose
write fails (a document changed here since it was read: the writes are compare-and-swap; a row created
meanwhile) leaves nothing half-written and fails alone. ``import_person`` does the reading, the planning
and the writing of one person in one transaction (on SQLite the writer's turn is held throughout).

On a SQLite file, ``write_imports`` runs the people's transactions one after the other in a worker
thread, on a connection of the driver's own (``sqlite3``) and with this process's writer's turn held:
through the async driver each statement is three trips to its thread and back (a cursor, the
statement, its close), which cost more than the statements themselves. The statements are the same
(``_import_rows``); only where they run differs.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import NullPool, create_engine, event, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from companion.errors import CompanionError, PreconditionFailed
from companion.store._changes import SqlChanges
from companion.store._conversations import _record as conversation_record
from companion.store._engine import (
    _UNAVAILABLE,
    _json_dumps,
    _sqlite_on_connect,
    _timed_out,
    check_key,
    stored_document,
)
from companion.store._import_rows import DocumentWrite, ImportMark, ImportWrite, write_person
from companion.store._reminders import _record as reminder_record
from companion.store.base import ConversationRecord, ReminderRecord, StoredDocument
from companion.store.schema import ID_MAX, conversations, documents, imports, reminders, users

_imp = imports.c
_doc = documents.c
READ_CHUNK: Final = 500  # ids in one ``IN (...)``: far below every backend's parameter limit
PARALLEL: Final = 4  # people written at once on PostgreSQL: their round trips overlap
# These reads, planned afresh each time on PostgreSQL: asyncpg prepares each statement once per
# connection, and after five runs PostgreSQL keeps one generic plan for it, made from the table's size
# when it was first planned. Planned on the empty tables of a first import, ``id IN (500 ids)`` stayed
# a scan comparing every row with every id: 240-500 ms a query at 20,000 reminders, against 5-12 ms.
CUSTOM_PLANS: Final = "SET LOCAL plan_cache_mode = force_custom_plan"
SQLITE_BUSY_S: Final = 30  # as the service's own connections: wait for another process's writer
# What fails one person's write without failing the others (anything else stops the import).
PERSON_FAILURES: Final = (CompanionError, ValueError, TypeError, KeyError)


@dataclass(frozen=True, slots=True)
class ImportedState:
    """What the person has here, as the plan sees it."""

    user_id: str
    registered: bool
    documents: dict[tuple[str, str], StoredDocument]  # (kind, doc_id) -> document
    marks: dict[str, ImportMark]
    reminders: dict[str, ReminderRecord]  # of the ids asked for that exist
    conversations: dict[str, ConversationRecord]  # of the ids asked for that exist


@dataclass(frozen=True, slots=True)
class PersonWrite:
    """One person's planned import, and the state it was planned from."""

    user_id: str
    write: ImportWrite
    state: ImportedState


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


class SqlImports(SqlChanges):
    _bulk: Engine | None = None  # the driver's own engine on a SQLite file (``_bulk_engine``)

    async def import_marks(self, user_id: str) -> builtins.list[ImportMark]:
        async with self._read() as conn:
            return await _marks(conn, user_id)

    async def import_person(
        self,
        user_id: str,
        plan: Callable[[ImportedState], ImportWrite],
        *,
        source: str,
        reminder_ids: Collection[str] = (),
        conversation_ids: Collection[str] = (),
        commit: bool = True,
    ) -> ImportWrite:
        """Read the person's state, plan, write the plan: one transaction. ``commit=False`` (a dry
        run) does the same and rolls it back. A document changed here since it was read, or a row
        created meanwhile, fails the whole person (``PreconditionFailed``; nothing is written)."""
        check_key("user_id", user_id, ID_MAX)
        check_key("source", source, 64)
        result: ImportWrite | None = None
        try:
            async with self._tx() as conn:
                state = await self._imported_state(conn, user_id, reminder_ids, conversation_ids)
                result = plan(state)
                await self._write_import(conn, user_id, source, result, state)
                if not commit:
                    raise _DryRun
        except _DryRun:
            pass
        assert result is not None
        return result

    async def imported_states(
        self, people: Mapping[str, tuple[Collection[str], Collection[str]]]
    ) -> dict[str, ImportedState]:
        """What each of ``people`` has here (user id -> the reminder and conversation ids the import may
        touch), read for all of them at once: five queries for a hundred people instead of five each.
        The write that follows (``write_import``) checks every document's version, so an edit made in
        between is never overwritten."""
        users_wanted = sorted(people)
        registered: set[str] = set()
        found: dict[str, dict[tuple[str, str], StoredDocument]] = {u: {} for u in users_wanted}
        marks: dict[str, dict[str, ImportMark]] = {u: {} for u in users_wanted}
        rems: dict[str, dict[str, ReminderRecord]] = {u: {} for u in users_wanted}
        convs: dict[str, dict[str, ConversationRecord]] = {u: {} for u in users_wanted}
        reminder_ids = sorted({i for r, _ in people.values() for i in r})
        conversation_ids = sorted({i for _, c in people.values() for i in c})
        async with self._read() as conn:
            if self.backend == "postgresql":
                await conn.exec_driver_sql(CUSTOM_PLANS)
            for chunk in _chunks(users_wanted):
                registered.update(
                    await conn.scalars(select(users.c.user_id).where(users.c.user_id.in_(chunk)))
                )
                for row in await conn.execute(select(documents).where(_doc.user_id.in_(chunk))):
                    doc = stored_document(row._mapping)
                    found[doc.user_id][(doc.kind, doc.doc_id)] = doc
                for row in await conn.execute(select(imports).where(_imp.user_id.in_(chunk))):
                    marks[row.user_id].update(_marks_of(row._mapping["items"]))
            for chunk in _chunks(reminder_ids):
                for row in await conn.execute(select(reminders).where(reminders.c.id.in_(chunk))):
                    if row.user_id in rems:
                        rems[row.user_id][row.id] = reminder_record(row._mapping)
            for chunk in _chunks(conversation_ids):
                query = select(conversations).where(conversations.c.id.in_(chunk))
                for row in await conn.execute(query):
                    if row.user_id in convs:
                        convs[row.user_id][row.id] = conversation_record(row)
        return {
            u: ImportedState(u, u in registered, found[u], marks[u], rems[u], convs[u]) for u in users_wanted
        }

    async def write_import(
        self, user_id: str, write: ImportWrite, state: ImportedState, *, source: str
    ) -> None:
        """Write one person's planned import in one transaction (nothing when the plan is empty). A
        document changed since ``state`` was read, or a row created meanwhile, fails the whole person
        (``PreconditionFailed``) and nothing of it is written."""
        check_key("user_id", user_id, ID_MAX)
        check_key("source", source, 64)
        if write.empty:
            return
        try:
            async with self._tx() as conn:
                await self._write_import(conn, user_id, source, write, state)
        except sa_exc.IntegrityError:
            raise _created_meanwhile(user_id) from None

    async def write_imports(
        self, people: Sequence[PersonWrite], *, source: str
    ) -> builtins.list[CompanionError | ValueError | TypeError | KeyError | None]:
        """Each person's planned import in a transaction of its own; for each person, None when it was
        written, or the error that failed it (nothing of that person written, the others go on)."""
        check_key("source", source, 64)
        bulk = self._bulk_engine()
        if bulk is not None:
            async with self._writer_turn():
                return await asyncio.to_thread(self._write_people, bulk, people, source)
        gate = asyncio.Semaphore(PARALLEL)

        async def one(person: PersonWrite) -> CompanionError | ValueError | TypeError | KeyError | None:
            async with gate:
                try:
                    await self.write_import(person.user_id, person.write, person.state, source=source)
                except PERSON_FAILURES as exc:
                    return exc
                return None

        return list(await asyncio.gather(*(one(person) for person in people)))

    def _write_people(
        self, engine: Engine, people: Sequence[PersonWrite], source: str
    ) -> builtins.list[CompanionError | ValueError | TypeError | KeyError | None]:
        """``write_imports`` on a SQLite file, in a worker thread: one transaction per person."""
        results: list[CompanionError | ValueError | TypeError | KeyError | None] = []
        try:
            with engine.connect() as conn:
                for person in people:
                    results.append(self._write_one(conn, person, source))
        except _UNAVAILABLE as exc:  # the file could not be opened at all
            raise self._unavailable(exc) from exc
        return results

    def _write_one(
        self, conn: Connection, person: PersonWrite, source: str
    ) -> CompanionError | ValueError | TypeError | KeyError | None:
        if person.write.empty:
            return None
        try:
            check_key("user_id", person.user_id, ID_MAX)
            with conn.begin():
                self._write_rows(conn, person.user_id, source, person.write, person.state)
        except sa_exc.IntegrityError:
            return _created_meanwhile(person.user_id)
        except _UNAVAILABLE as exc:
            return self._unavailable(exc)
        except sa_exc.DBAPIError as exc:
            if _timed_out(exc):
                return self._unavailable(exc)
            raise
        except PERSON_FAILURES as exc:
            return exc
        return None

    def _bulk_engine(self) -> Engine | None:
        """The driver's own engine on this store's SQLite file (made when first needed), or None: the
        store is on PostgreSQL, or in memory (where only its own connections see the data)."""
        if self.backend != "sqlite":
            return None
        database = self._url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        engine = self._bulk
        if engine is None:
            engine = create_engine(
                self._url.set(drivername="sqlite"),
                hide_parameters=True,  # bound parameters include document bodies (health data)
                json_serializer=_json_dumps,
                poolclass=NullPool,  # a connection per batch of people, closed after it
                connect_args={"timeout": SQLITE_BUSY_S, "check_same_thread": False},
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            self._bulk = engine
        return engine

    async def _imported_state(
        self,
        conn: AsyncConnection,
        user_id: str,
        reminder_ids: Collection[str],
        conversation_ids: Collection[str],
    ) -> ImportedState:
        registered = bool(await conn.scalar(select(users.c.user_id).where(users.c.user_id == user_id)))
        docs = await conn.execute(select(documents).where(_doc.user_id == user_id))
        found = {(d.kind, d.doc_id): d for d in (stored_document(row._mapping) for row in docs)}
        rems: dict[str, ReminderRecord] = {}
        for chunk in _chunks(sorted(reminder_ids)):
            rows = await conn.execute(
                select(reminders).where(reminders.c.user_id == user_id, reminders.c.id.in_(chunk))
            )
            rems.update((row.id, reminder_record(row._mapping)) for row in rows)
        convs: dict[str, ConversationRecord] = {}
        for chunk in _chunks(sorted(conversation_ids)):
            rows = await conn.execute(
                select(conversations).where(conversations.c.user_id == user_id, conversations.c.id.in_(chunk))
            )
            convs.update((row.id, conversation_record(row)) for row in rows)
        marks = {m.item: m for m in await _marks(conn, user_id)}
        return ImportedState(user_id, registered, found, marks, rems, convs)

    async def _write_import(
        self, conn: AsyncConnection, user_id: str, source: str, write: ImportWrite, state: ImportedState
    ) -> None:
        await conn.run_sync(self._write_rows, user_id, source, write, state)

    def _write_rows(
        self, conn: Connection, user_id: str, source: str, write: ImportWrite, state: ImportedState
    ) -> None:
        now, known = self._now(), state.marks
        write_person(conn, user_id, source, write, registered=state.registered, known_marks=known, now=now)


async def _marks(conn: AsyncConnection, user_id: str) -> builtins.list[ImportMark]:
    rows = await conn.execute(select(imports).where(_imp.user_id == user_id))
    return [mark for row in rows for mark in _marks_of(row._mapping["items"]).values()]


def _marks_of(items: Any) -> dict[str, ImportMark]:
    if not isinstance(items, dict):
        return {}
    return {
        item: ImportMark(item, dict(entry[1]), int(entry[0]))
        for item, entry in items.items()
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict)
    }


def _chunks(ids: builtins.list[str] | Collection[str]) -> builtins.list[builtins.list[str]]:
    values = list(ids)
    return [values[i : i + READ_CHUNK] for i in range(0, len(values), READ_CHUNK)]


def _created_meanwhile(user_id: str) -> PreconditionFailed:
    return PreconditionFailed(
        f"a row of {user_id!r} that the import creates was created here during the import",
        current_version=None,
    )


__all__ = ["DocumentWrite", "ImportMark", "ImportWrite", "ImportedState", "PersonWrite", "SqlImports"]
