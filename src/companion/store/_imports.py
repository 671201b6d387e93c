"""The import half of ``SqlStore``: everything brought over for one person, in one transaction.

``import_person`` reads what the person has here (their documents, the marks of earlier imports, the
reminder and conversation rows the import may touch), hands it to the caller's pure ``plan``, and
writes what the plan returns, all inside one transaction: a family edit that lands between the read and
the write cannot be overwritten (the writes are compare-and-swap, and on SQLite the writer's turn is
held throughout), and a person whose import fails leaves nothing half-written. Writes go in batches
(one ``INSERT`` of many rows per table); every document kind written gets a change-log row, so other
instances refresh the person's live conversations.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from companion.errors import InvalidInput, PreconditionFailed
from companion.store._changes import SqlChanges
from companion.store._conversations import _record as conversation_record
from companion.store._conversations import _row as conversation_fields
from companion.store._engine import check_aware, check_key, json_roundtrip, stored_document
from companion.store._reminders import _record as reminder_record
from companion.store.base import ConversationRecord, ReminderRecord, StoredDocument, TurnRecord
from companion.store.schema import (
    CONVERSATION_TEXT_MAX,
    ID_MAX,
    LABEL_MAX,
    change_log,
    conversation_turns,
    conversations,
    documents,
    imports,
    reminders,
    users,
)

_imp = imports.c
_doc = documents.c
READ_CHUNK: Final = 500  # ids in one ``IN (...)``: far below every backend's parameter limit


@dataclass(frozen=True, slots=True)
class ImportMark:
    """What an earlier import wrote for one item: a digest per field it owns, and the version."""

    item: str
    digest: dict[str, str]
    version: int


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
class DocumentWrite:
    """A document to create (``expected_version`` None) or to update from that version."""

    kind: str
    doc_id: str
    body: dict[str, Any]
    expected_version: int | None


@dataclass(frozen=True, slots=True)
class ImportWrite:
    """What one person's import writes. Reminders and conversations are new rows or replace the row
    with their id (a conversation's turns with it)."""

    documents: tuple[DocumentWrite, ...] = ()
    new_reminders: tuple[ReminderRecord, ...] = ()
    changed_reminders: tuple[ReminderRecord, ...] = ()
    new_conversations: tuple[tuple[ConversationRecord, tuple[TurnRecord, ...]], ...] = ()
    changed_conversations: tuple[tuple[ConversationRecord, tuple[TurnRecord, ...]], ...] = ()
    marks: tuple[ImportMark, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)  # the plan's own account, handed back

    @property
    def empty(self) -> bool:
        return not (
            self.documents
            or self.new_reminders
            or self.changed_reminders
            or self.new_conversations
            or self.changed_conversations
            or self.marks
        )


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


class SqlImports(SqlChanges):
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
                for row in await conn.execute(select(conversations).where(conversations.c.id.in_(chunk))):
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
        and nothing of it is written."""
        check_key("user_id", user_id, ID_MAX)
        check_key("source", source, 64)
        if write.empty:
            return
        async with self._tx() as conn:
            await self._write_import(conn, user_id, source, write, state)

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
        if write.empty:
            return
        now = self._now()
        known_marks = state.marks
        if not state.registered:
            await conn.execute(insert(users).values(user_id=user_id, created_at=now))
        await self._write_documents(conn, user_id, write.documents, now)
        await _write_reminders(conn, user_id, write, now)
        await _write_conversations(conn, user_id, write, now)
        if write.marks:
            merged = {**known_marks, **{m.item: m for m in write.marks}}
            items = {item: [m.version, m.digest] for item, m in sorted(merged.items())}
            for item in items:
                _checked_item(item)
            if known_marks:
                await conn.execute(
                    update(imports)
                    .where(_imp.user_id == user_id, _imp.source == source)
                    .values(items=items, imported_at=now)
                )
            else:
                await conn.execute(
                    insert(imports).values(user_id=user_id, source=source, items=items, imported_at=now)
                )

    async def _write_documents(
        self, conn: AsyncConnection, user_id: str, writes: tuple[DocumentWrite, ...], now: Any
    ) -> None:
        versions: dict[str, int] = {}
        creates = []
        for w in writes:
            check_key("kind", w.kind, 64)
            check_key("doc_id", w.doc_id, ID_MAX)
            body = json_roundtrip(w.body)
            if w.expected_version is None:
                creates.append(
                    {"user_id": user_id, "kind": w.kind, "doc_id": w.doc_id, "body": body, "version": 1}
                )
                versions[w.kind] = max(versions.get(w.kind, 0), 1)
                continue
            done = await conn.execute(
                update(documents)
                .where(
                    _doc.user_id == user_id,
                    _doc.kind == w.kind,
                    _doc.doc_id == w.doc_id,
                    _doc.version == w.expected_version,
                )
                .values(body=body, version=w.expected_version + 1, updated_at=now)
            )
            if done.rowcount != 1:
                raise PreconditionFailed(
                    f"{w.kind}/{w.doc_id} changed here during the import", current_version=None
                )
            versions[w.kind] = max(versions.get(w.kind, 0), w.expected_version + 1)
        if creates:
            await conn.execute(insert(documents), [c | {"updated_at": now} for c in creates])
        if versions:  # one change-log row per kind written, in one statement
            await conn.execute(
                insert(change_log),
                [
                    {"user_id": user_id, "kind": kind, "version": version, "created_at": now}
                    for kind, version in sorted(versions.items())
                ],
            )


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


def _checked_item(item: str) -> str:
    check_key("item", item, ID_MAX)
    return item


def _reminder_row(record: ReminderRecord, user_id: str, now: Any) -> dict[str, Any]:
    check_key("id", record.id, ID_MAX)
    if record.user_id != user_id:
        raise InvalidInput("every reminder must belong to the person imported", field="user_id")
    if len(record.label) > LABEL_MAX:
        raise InvalidInput(f"label is longer than {LABEL_MAX} characters", field="label")
    check_aware(record.due_at)
    return {
        "id": record.id,
        "user_id": user_id,
        "kind": record.kind,
        "label": record.label,
        "local_time": record.local_time,
        "due_at": record.due_at,
        "state": record.state,
        "delivered_at": record.delivered_at,
        "delivered_via": record.delivered_via,
        "acked_at": record.acked_at,
        "acked_via": record.acked_via,
        "snoozed_until": record.snoozed_until,
        "missed_at": record.missed_at,
        "updated_at": now,
    }


async def _write_reminders(conn: AsyncConnection, user_id: str, write: ImportWrite, now: Any) -> None:
    if write.new_reminders:
        await conn.execute(insert(reminders), [_reminder_row(r, user_id, now) for r in write.new_reminders])
    for record in write.changed_reminders:
        row = _reminder_row(record, user_id, now)
        await conn.execute(
            update(reminders)
            .where(and_(reminders.c.id == record.id, reminders.c.user_id == user_id))
            .values({k: v for k, v in row.items() if k not in ("id", "user_id")})
        )


def _conversation_row(record: ConversationRecord, user_id: str, now: Any) -> dict[str, Any]:
    check_key("id", record.id, ID_MAX)
    check_aware(record.started_at)
    if record.user_id != user_id:
        raise InvalidInput("every conversation must belong to the person imported", field="user_id")
    return {
        "id": record.id,
        "user_id": user_id,
        "started_at": record.started_at,
        **conversation_fields(record, now),
    }


def _turn_rows(record: ConversationRecord, turns: tuple[TurnRecord, ...]) -> builtins.list[dict[str, Any]]:
    return [
        {
            "conversation_id": record.id,
            "seq": turn.seq,
            "user_id": record.user_id,
            "role": turn.role,
            "at": turn.at,
            "text": turn.text[:CONVERSATION_TEXT_MAX],
            "cut": int(turn.cut),
        }
        for turn in turns
    ]


async def _write_conversations(conn: AsyncConnection, user_id: str, write: ImportWrite, now: Any) -> None:
    if write.new_conversations:
        await conn.execute(
            insert(conversations), [_conversation_row(r, user_id, now) for r, _ in write.new_conversations]
        )
    for record, _ in write.changed_conversations:
        row = _conversation_row(record, user_id, now)
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == record.id, conversations.c.user_id == user_id)
            .values({k: v for k, v in row.items() if k not in ("id", "user_id")})
        )
        await conn.execute(
            delete(conversation_turns).where(conversation_turns.c.conversation_id == record.id)
        )
    turns = [
        row
        for record, kept in (*write.new_conversations, *write.changed_conversations)
        for row in _turn_rows(record, kept)
    ]
    if turns:
        await conn.execute(insert(conversation_turns), turns)
