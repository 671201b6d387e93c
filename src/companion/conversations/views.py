"""Conversations as the API and the dashboard show them (camelCase JSON), and the history's cursor."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from companion.errors import InvalidInput
from companion.store.base import ConversationRecord, TurnRecord


def conversation_json(record: ConversationRecord, turns: list[TurnRecord] | None = None) -> dict[str, Any]:
    """One conversation; with ``turns``, its transcript (only where transcripts are kept)."""
    body: dict[str, Any] = {
        "id": record.id,
        "startedAt": record.started_at.isoformat(),
        "endedAt": record.ended_at.isoformat() if record.ended_at else None,
        "durationSeconds": round(record.duration_s),
        "endedHow": record.ended_how,
        "records": record.records,
        "deviceId": record.device_id,
        "connections": {
            "total": record.connections,
            "rotations": record.rotations,
            "reconnects": record.reconnects,
        },
        "turns": {"person": record.person_turns, "companion": record.companion_turns},
        "talkSeconds": {
            "person": round(record.person_talk_ms / 1000),
            "companion": round(record.companion_talk_ms / 1000),
        },
        "did": {
            "songs": record.songs,
            "memories": record.memories,
            "alerts": record.alerts,
            "remindersSaid": record.reminders_said,
            "remindersConfirmed": record.reminders_confirmed,
        },
        "summary": record.summary,
        "summaryKind": record.summary_kind,
        "timeline": [entry.as_json() for entry in record.timeline],
    }
    if turns is not None:
        body["transcript"] = [
            {"seq": t.seq, "role": t.role, "at": t.at.isoformat(), "text": t.text, "cut": t.cut}
            for t in turns
        ]
    return body


def encode_cursor(record: ConversationRecord) -> str:
    raw = f"{record.started_at.isoformat()}|{record.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (start, id) a page's cursor names; a clear 400 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, conversation_id = raw.partition("|")
        moment = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("cursor is not one this service gave out", field="cursor") from None
    if not conversation_id or moment.tzinfo is None:
        raise InvalidInput("cursor is not one this service gave out", field="cursor")
    return moment, conversation_id
