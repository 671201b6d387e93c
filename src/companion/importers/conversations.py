"""``conversations`` (one document per session, its turns rewritten every turn) -> conversation
records, under what the person's profile keeps here (``conversationRecords``):

- ``none``: when, how long and how many turns;
- ``summary`` (the default): the same (the seed system made no summaries, and its transcripts are not
  kept unless the family chose to keep them);
- ``transcript``: and every turn's words.

Conversations older than the person's retention are not brought over: they would be deleted at once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any, Final

from companion.importers.fields import Fields, NotCarried
from companion.importers.values import moment
from companion.store.base import ConversationRecord, RecordsLevel, TurnRecord
from companion.store.schema import CONVERSATION_TEXT_MAX

ROLES: Final = {"user": "person", "assistant": "companion"}


def conversation_id(user_id: str, source_id: str) -> str:
    """Conversation ids are unique across people here: the person's id is part of the digest."""
    return "na-" + hashlib.sha256(f"{user_id}\x1f{source_id}".encode()).hexdigest()[:32]


def map_conversation(
    body: dict[str, Any], *, user_id: str, records: RecordsLevel, retention_days: int, now: datetime
) -> tuple[tuple[ConversationRecord, tuple[TurnRecord, ...]] | None, list[NotCarried]]:
    doc = Fields.of("conversations", body)
    doc.get("userId")
    doc.get("type")
    source_id = doc.text("id") or doc.text("conversationId") or doc.text("sessionId")
    doc.drop("conversationId", "the conversation is known here by an id of its own")
    doc.drop("sessionId", "the seed system's session ids are not kept here")
    doc.drop("tokenUsage", "always 0 in the seed system: it says nothing")
    doc.drop("totalTurns", "counted again from the turns")
    started = moment(doc.get("startedAt"))
    ended = moment(doc.get("endedAt"))
    turns_raw = doc.items("turns")
    turns: list[TurnRecord] = []
    for index, turn in enumerate(turns_raw):
        role = ROLES.get(turn.text("role"))
        at = moment(turn.get("timestamp")) or started
        text = turn.text("transcript")
        turn.finish()
        if role is None or at is None:
            turn.note("role" if role is None else "timestamp", "not a turn of the person or the companion")
            continue
        if len(text) > CONVERSATION_TEXT_MAX:
            turn.note("transcript", f"longer than {CONVERSATION_TEXT_MAX} characters: cut")
        turns.append(TurnRecord(index, role, at, text[:CONVERSATION_TEXT_MAX]))  # type: ignore[arg-type]
    if started is None:
        started = turns[0].at if turns else None
    if not source_id or started is None:
        doc.note("startedAt" if source_id else "id", "missing: this conversation is not carried")
        return None, doc.finish()
    if started < now - timedelta(days=retention_days):
        doc.note("startedAt", f"older than the person's retention ({retention_days} days): not carried")
        return None, doc.finish()
    if ended is None and turns:
        ended = max(t.at for t in turns)
    if records != "transcript" and turns:
        doc.note("turns", f"the words are not kept: this person's records setting is {records!r}")
    record = ConversationRecord(
        id=conversation_id(user_id, source_id),
        user_id=user_id,
        device_id=None,
        records=records,
        started_at=started,
        ended_at=max(ended, started) if ended else started,
        person_turns=sum(1 for t in turns if t.role == "person"),
        companion_turns=sum(1 for t in turns if t.role == "companion"),
    )
    kept = tuple(turns) if records == "transcript" else ()
    return (record, kept), doc.finish()
