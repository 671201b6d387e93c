"""The conversation half of ``SqlStore``: each conversation's row, its turns, and what the family
reads of them (newest first, by dates, by words, in pages).

A live conversation is written by the instance that holds it, in small transactions: the row's
counts, the turns not yet stored, the turns cut since. The first write inserts the row and every later
one only updates it, so a conversation the family deleted while it was still going is not brought back
by its next write (the write reports it, and the recorder stops).

Search is a case-folded substring match (``LIKE``, with the words' own ``%`` and ``_`` escaped) over
the summary and, where kept, the turns: Hebrew has no case, and English is folded by the database's
``lower``. A person's history is bounded by their retention (at most a year of conversations), and
``ix_conversations_user_id`` narrows every query to one person first.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from companion.store._engine import SqlBase, check_aware, check_key
from companion.store._erasure import audit
from companion.store.base import (
    ConversationRecord,
    ConversationWrite,
    RecordsLevel,
    TimelineEntry,
    TurnRecord,
    UnsubscribeRecord,
)
from companion.store.schema import (
    CONVERSATION_TEXT_MAX,
    HASH_MAX,
    ID_MAX,
    LABEL_MAX,
    SUMMARY_MAX,
    conversation_turns,
    conversations,
    digest_unsubscribes,
)

_conv = conversations.c
_turn = conversation_turns.c
_unsub = digest_unsubscribes.c

DELETE_CONVERSATION: Final = "delete_conversation"
MAX_PAGE: Final = 100  # conversations in one page of the history
MAX_RANGE_ROWS: Final = 5000  # conversations in one date range read whole (the 14-day strip, a digest)
MAX_QUERY_CHARS: Final = 200  # a search's words

_COUNTS: Final = (
    "connections",
    "rotations",
    "reconnects",
    "person_turns",
    "companion_turns",
    "person_talk_ms",
    "companion_talk_ms",
    "songs",
    "memories",
    "alerts",
    "reminders_said",
    "reminders_confirmed",
)


def _row(record: ConversationRecord, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {name: int(getattr(record, name)) for name in _COUNTS}
    row.update(
        records=record.records,
        device_id=record.device_id,
        ended_at=record.ended_at,
        ended_how=record.ended_how,
        summary=None if record.summary is None else record.summary[:SUMMARY_MAX],
        summary_kind=record.summary_kind,
        timeline=[entry.as_json() for entry in record.timeline],
        updated_at=now,
    )
    return row


def _record(row: Any) -> ConversationRecord:
    timeline = tuple(
        TimelineEntry(datetime.fromisoformat(e["at"]), str(e.get("kind", "")), str(e.get("label", "")))
        for e in (row.timeline or [])
        if isinstance(e, dict) and isinstance(e.get("at"), str)
    )
    return ConversationRecord(
        id=row.id,
        user_id=row.user_id,
        device_id=row.device_id,
        records=row.records,
        started_at=row.started_at,
        ended_at=row.ended_at,
        ended_how=row.ended_how,
        summary=row.summary,
        summary_kind=row.summary_kind,
        timeline=timeline,
        updated_at=row.updated_at,
        **{name: int(getattr(row, name)) for name in _COUNTS},
    )


def _turn_record(row: Any) -> TurnRecord:
    return TurnRecord(seq=row.seq, role=row.role, at=row.at, text=row.text, cut=bool(row.cut))


def _like(words: str) -> str:
    """A ``LIKE`` pattern for ``words`` anywhere, its own wildcards escaped (with ``\\``)."""
    escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlConversations(SqlBase):
    async def save_conversation(self, write: ConversationWrite) -> bool:
        """Store one incremental write; False when the row is gone (deleted by the family, or the
        person erased): nothing more of that conversation is written."""
        record = write.record
        check_key("id", record.id, ID_MAX)
        check_key("user_id", record.user_id, ID_MAX)
        check_aware(record.started_at)
        now = self._now()
        async with self._tx() as conn:
            if write.first:
                statement = self._insert_ignore(conversations).values(
                    id=record.id, user_id=record.user_id, started_at=record.started_at, **_row(record, now)
                )
                await conn.execute(statement)
            else:
                updated = await conn.execute(
                    update(conversations)
                    .where(_conv.id == record.id, _conv.user_id == record.user_id)
                    .values(**_row(record, now))
                )
                if updated.rowcount == 0:
                    return False
            if write.turns:
                await conn.execute(insert(conversation_turns), turn_rows(record, write.turns))
            for seq, text in write.cuts:
                await conn.execute(
                    update(conversation_turns)
                    .where(_turn.conversation_id == record.id, _turn.seq == seq)
                    .values(text=text[:CONVERSATION_TEXT_MAX], cut=1)
                )
        return True

    async def get_conversation(
        self, user_id: str, conversation_id: str
    ) -> tuple[ConversationRecord, builtins.list[TurnRecord]] | None:
        """The conversation with its turns, in order; None when it is not this person's."""
        async with self._read() as conn:
            row = (
                await conn.execute(
                    select(conversations).where(_conv.id == conversation_id, _conv.user_id == user_id)
                )
            ).first()
            if row is None:
                return None
            turns = await conn.execute(
                select(conversation_turns).where(_turn.conversation_id == conversation_id).order_by(_turn.seq)
            )
            return _record(row), [_turn_record(t) for t in turns]

    async def list_conversations(
        self,
        user_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        words: str | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 20,
    ) -> builtins.list[ConversationRecord]:
        """Newest first: started in [``start``, ``end``), holding ``words`` in their summary or turns,
        and older than ``after`` (the last of the previous page: its start and id)."""
        where: list[ColumnElement[bool]] = [_conv.user_id == user_id]
        if start is not None:
            check_aware(start)
            where.append(_conv.started_at >= start)
        if end is not None:
            check_aware(end)
            where.append(_conv.started_at < end)
        if words:
            pattern = _like(words[:MAX_QUERY_CHARS].lower())
            in_turns = exists().where(
                _turn.conversation_id == _conv.id, func.lower(_turn.text).like(pattern, escape="\\")
            )
            where.append(or_(func.lower(_conv.summary).like(pattern, escape="\\"), in_turns))
        if after is not None:
            at, last_id = after
            check_aware(at)
            where.append(or_(_conv.started_at < at, and_(_conv.started_at == at, _conv.id < last_id)))
        query = (
            select(conversations)
            .where(*where)
            .order_by(_conv.started_at.desc(), _conv.id.desc())
            .limit(max(1, min(limit, MAX_PAGE)))
        )
        async with self._read() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def conversations_between(
        self, user_id: str, start: datetime, end: datetime
    ) -> builtins.list[ConversationRecord]:
        """Every conversation started in [``start``, ``end``), oldest first (the strip, a digest)."""
        check_aware(start, end)
        query = (
            select(conversations)
            .where(_conv.user_id == user_id, _conv.started_at >= start, _conv.started_at < end)
            .order_by(_conv.started_at, _conv.id)
            .limit(MAX_RANGE_ROWS)
        )
        async with self._read() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def recent_conversations(self, user_id: str, limit: int) -> builtins.list[ConversationRecord]:
        """The newest ended conversations, newest first (what the next conversation is told)."""
        query = (
            select(conversations)
            .where(_conv.user_id == user_id, _conv.ended_at.is_not(None))
            .order_by(_conv.ended_at.desc(), _conv.id.desc())
            .limit(max(1, limit))
        )
        async with self._read() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def last_turns(self, conversation_id: str, limit: int) -> builtins.list[TurnRecord]:
        """The last ``limit`` turns of a conversation, in order."""
        query = (
            select(conversation_turns)
            .where(_turn.conversation_id == conversation_id)
            .order_by(_turn.seq.desc())
            .limit(max(1, limit))
        )
        async with self._read() as conn:
            rows = [_turn_record(row) for row in await conn.execute(query)]
        return rows[::-1]

    async def all_turns_of(self, user_id: str) -> builtins.list[tuple[str, TurnRecord]]:
        """Every stored turn of the person, as (conversation id, turn): the export's."""
        query = (
            select(conversation_turns)
            .where(_turn.user_id == user_id)
            .order_by(_turn.conversation_id, _turn.seq)
        )
        async with self._read() as conn:
            return [(row.conversation_id, _turn_record(row)) for row in await conn.execute(query)]

    async def all_conversations_of(self, user_id: str) -> builtins.list[ConversationRecord]:
        query = select(conversations).where(_conv.user_id == user_id).order_by(_conv.started_at, _conv.id)
        async with self._read() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def delete_conversation(self, user_id: str, conversation_id: str, *, actor: str) -> bool:
        """Delete one conversation and its turns; audited in the same transaction."""
        async with self._tx() as conn:
            mine = and_(_conv.id == conversation_id, _conv.user_id == user_id)
            if not await conn.scalar(select(exists().where(mine))):
                return False
            await conn.execute(delete(conversation_turns).where(_turn.conversation_id == conversation_id))
            await conn.execute(delete(conversations).where(mine))
            await audit(conn, self._now(), actor, DELETE_CONVERSATION, conversation_id)
        return True

    async def narrow_conversations(self, user_id: str, level: RecordsLevel) -> int:
        """Remove at once what ``level`` no longer allows: the turns below "transcript", the summaries
        and the timelines' words below "summary". How many conversations changed."""
        async with self._tx() as conn:
            return await _narrow(conn, user_id, level, self._now())

    async def prune_conversations(self, user_id: str, before: datetime) -> int:
        """Delete the person's conversations started before ``before`` (their retention)."""
        check_aware(before)
        old = select(_conv.id).where(_conv.user_id == user_id, _conv.started_at < before)
        async with self._tx() as conn:
            await conn.execute(delete(conversation_turns).where(_turn.conversation_id.in_(old)))
            result = await conn.execute(
                delete(conversations).where(_conv.user_id == user_id, _conv.started_at < before)
            )
            return int(result.rowcount)

    async def people_with_conversations(self) -> builtins.list[str]:
        query = select(_conv.user_id).distinct().order_by(_conv.user_id)
        async with self._read() as conn:
            return list(await conn.scalars(query))

    # -- digest unsubscribe links --------------------------------------------------------------------

    async def add_unsubscribe(self, link: UnsubscribeRecord) -> None:
        check_key("token_hash", link.token_hash, HASH_MAX)
        check_key("user_id", link.user_id, ID_MAX)
        check_key("contact", link.contact, LABEL_MAX)
        check_aware(link.created_at, link.expires_at)
        async with self._tx() as conn:
            await conn.execute(
                insert(digest_unsubscribes).values(
                    token_hash=link.token_hash,
                    user_id=link.user_id,
                    contact=link.contact,
                    created_at=link.created_at,
                    expires_at=link.expires_at,
                    used_at=link.used_at,
                )
            )

    async def use_unsubscribe(self, token_hash: str, now: datetime) -> UnsubscribeRecord | None:
        """Spend a link: the one caller that finds it unused and unexpired gets it; else None."""
        check_aware(now)
        statement = (
            update(digest_unsubscribes)
            .where(_unsub.token_hash == token_hash, _unsub.used_at.is_(None), _unsub.expires_at > now)
            .values(used_at=now)
            .returning(*digest_unsubscribes.c)
        )
        async with self._tx() as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else _unsubscribe(row)

    async def find_unsubscribe(self, token_hash: str) -> UnsubscribeRecord | None:
        async with self._read() as conn:
            query = select(digest_unsubscribes).where(_unsub.token_hash == token_hash)
            row = (await conn.execute(query)).first()
        return None if row is None else _unsubscribe(row)

    async def unsubscribes_of(self, user_id: str) -> builtins.list[UnsubscribeRecord]:
        async with self._read() as conn:
            query = select(digest_unsubscribes).where(_unsub.user_id == user_id).order_by(_unsub.created_at)
            return [_unsubscribe(row) for row in await conn.execute(query)]

    async def purge_unsubscribes(self, before: datetime) -> int:
        check_aware(before)
        async with self._tx() as conn:
            result = await conn.execute(delete(digest_unsubscribes).where(_unsub.expires_at < before))
            return int(result.rowcount)


def _unsubscribe(row: Any) -> UnsubscribeRecord:
    return UnsubscribeRecord(
        token_hash=row.token_hash,
        user_id=row.user_id,
        contact=row.contact,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


async def _narrow(conn: AsyncConnection, user_id: str, level: RecordsLevel, now: datetime) -> int:
    changed = 0
    if level != "transcript":
        theirs = select(_conv.id).where(_conv.user_id == user_id)
        await conn.execute(delete(conversation_turns).where(_turn.conversation_id.in_(theirs)))
        result = await conn.execute(
            update(conversations)
            .where(_conv.user_id == user_id, _conv.records == "transcript")
            .values(records="summary", updated_at=now)
        )
        changed += int(result.rowcount)
    if level == "none":
        result = await conn.execute(
            update(conversations)
            .where(_conv.user_id == user_id, _conv.records != "none")
            .values(records="none", summary=None, summary_kind=None, timeline=[], updated_at=now)
        )
        changed += int(result.rowcount)
    return changed


def turn_rows(record: ConversationRecord, turns: tuple[TurnRecord, ...]) -> builtins.list[dict[str, Any]]:
    """The rows of ``turns`` of ``record`` (each text within the column's bound)."""
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
