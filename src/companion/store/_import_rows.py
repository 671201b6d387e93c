"""What one person's import writes, and the statements that write it: plain functions of a sync
``Connection``, so the same statements run through the async engine (``AsyncConnection.run_sync``)
and, for a bulk import into a SQLite file, in a worker thread on the driver's own connection
(``_imports.SqlImports.write_imports``). Every statement is built once; rows go in batches (one
``INSERT`` of many rows per table); every document kind written gets a change-log row, so other
instances refresh the person's live conversations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.engine import Connection

from companion.errors import InvalidInput, PreconditionFailed
from companion.store._conversations import _row as conversation_fields
from companion.store._conversations import turn_rows
from companion.store._engine import check_aware, check_key, json_roundtrip
from companion.store._reminders import _check_record as check_reminder
from companion.store._reminders import _row as reminder_fields
from companion.store.base import ConversationRecord, ReminderRecord, TurnRecord
from companion.store.schema import (
    ID_MAX,
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


@dataclass(frozen=True, slots=True)
class ImportMark:
    """What an earlier import wrote for one item: a digest per field it owns, and the version."""

    item: str
    digest: dict[str, str]
    version: int


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


# Built once: a thousand people's writes then skip building each statement and its cache key again.
_ADD_USER: Final = insert(users)
_ADD_MARKS: Final = insert(imports)
_SET_MARKS: Final = (
    update(imports)
    .where(_imp.user_id == bindparam("b_user_id"), _imp.source == bindparam("b_source"))
    .values(items=bindparam("items"), imported_at=bindparam("imported_at"))
)
_ADD_DOCUMENTS: Final = insert(documents)
_SET_DOCUMENT: Final = (
    update(documents)
    .where(
        _doc.user_id == bindparam("b_user_id"),
        _doc.kind == bindparam("b_kind"),
        _doc.doc_id == bindparam("b_doc_id"),
        _doc.version == bindparam("b_version"),
    )
    .values(body=bindparam("body"), version=bindparam("version"), updated_at=bindparam("updated_at"))
)
_ADD_CHANGES: Final = insert(change_log)
_ADD_REMINDERS: Final = insert(reminders)
_ADD_CONVERSATIONS: Final = insert(conversations)
_ADD_TURNS: Final = insert(conversation_turns)


def write_person(
    conn: Connection,
    user_id: str,
    source: str,
    write: ImportWrite,
    *,
    registered: bool,
    known_marks: dict[str, ImportMark],
    now: datetime,
) -> None:
    """Write one person's planned import on ``conn`` (the caller's transaction). Raises
    ``PreconditionFailed`` when a document changed here since it was read."""
    if write.empty:
        return
    if not registered:
        conn.execute(_ADD_USER, {"user_id": user_id, "created_at": now})
    _write_documents(conn, user_id, write.documents, now)
    _write_reminders(conn, user_id, write, now)
    _write_conversations(conn, user_id, write, now)
    if write.marks:
        merged = {**known_marks, **{m.item: m for m in write.marks}}
        items = {item: [m.version, m.digest] for item, m in sorted(merged.items())}
        for item in items:
            check_key("item", item, ID_MAX)
        row = {"items": items, "imported_at": now}
        if known_marks:
            conn.execute(_SET_MARKS, {"b_user_id": user_id, "b_source": source, **row})
        else:
            conn.execute(_ADD_MARKS, {"user_id": user_id, "source": source, **row})


def _write_documents(
    conn: Connection, user_id: str, writes: tuple[DocumentWrite, ...], now: datetime
) -> None:
    versions: dict[str, int] = {}
    creates = []
    for w in writes:
        check_key("kind", w.kind, 64)
        check_key("doc_id", w.doc_id, ID_MAX)
        body = json_roundtrip(w.body)
        if w.expected_version is None:
            creates.append(
                {
                    "user_id": user_id,
                    "kind": w.kind,
                    "doc_id": w.doc_id,
                    "body": body,
                    "version": 1,
                    "updated_at": now,
                }
            )
            versions[w.kind] = max(versions.get(w.kind, 0), 1)
            continue
        done = conn.execute(
            _SET_DOCUMENT,
            {
                "b_user_id": user_id,
                "b_kind": w.kind,
                "b_doc_id": w.doc_id,
                "b_version": w.expected_version,
                "body": body,
                "version": w.expected_version + 1,
                "updated_at": now,
            },
        )
        if done.rowcount != 1:
            changed = f"{w.kind}/{w.doc_id} changed here during the import"
            raise PreconditionFailed(changed, current_version=None)
        versions[w.kind] = max(versions.get(w.kind, 0), w.expected_version + 1)
    if creates:
        conn.execute(_ADD_DOCUMENTS, creates)
    if versions:  # one change-log row per kind written, in one statement
        conn.execute(
            _ADD_CHANGES,
            [
                {"user_id": user_id, "kind": kind, "version": version, "created_at": now}
                for kind, version in sorted(versions.items())
            ],
        )


def _reminder_row(record: ReminderRecord, user_id: str, now: datetime) -> dict[str, Any]:
    """The store's reminder row, with what has happened to the reminder so far."""
    check_reminder(record, user_id, wrong_owner="every reminder must belong to the person imported")
    return {
        **reminder_fields(record, now),
        "delivered_at": record.delivered_at,
        "delivered_via": record.delivered_via,
        "acked_at": record.acked_at,
        "acked_via": record.acked_via,
        "snoozed_until": record.snoozed_until,
        "missed_at": record.missed_at,
    }


def _write_reminders(conn: Connection, user_id: str, write: ImportWrite, now: datetime) -> None:
    if write.new_reminders:
        conn.execute(_ADD_REMINDERS, [_reminder_row(r, user_id, now) for r in write.new_reminders])
    for record in write.changed_reminders:
        row = _reminder_row(record, user_id, now)
        conn.execute(
            update(reminders)
            .where(reminders.c.id == record.id, reminders.c.user_id == user_id)
            .values({k: v for k, v in row.items() if k not in ("id", "user_id")})
        )


def _conversation_row(record: ConversationRecord, user_id: str, now: datetime) -> dict[str, Any]:
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


def _write_conversations(conn: Connection, user_id: str, write: ImportWrite, now: datetime) -> None:
    if write.new_conversations:
        conn.execute(
            _ADD_CONVERSATIONS, [_conversation_row(r, user_id, now) for r, _ in write.new_conversations]
        )
    for record, _ in write.changed_conversations:
        row = _conversation_row(record, user_id, now)
        conn.execute(
            update(conversations)
            .where(conversations.c.id == record.id, conversations.c.user_id == user_id)
            .values({k: v for k, v in row.items() if k not in ("id", "user_id")})
        )
        conn.execute(delete(conversation_turns).where(conversation_turns.c.conversation_id == record.id))
    turns = [
        row
        for record, kept in (*write.new_conversations, *write.changed_conversations)
        for row in turn_rows(record, kept)
    ]
    if turns:
        conn.execute(_ADD_TURNS, turns)
