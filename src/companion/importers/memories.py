"""``memories``: what the model saved in conversation (``extract_important_memory``) -> our memories,
learned in conversation and waiting for the family's review.

The seed system has two category enums that do not match (its interface: family_info, medical_info,
preferences, routine, personal_history; its tool: family_info, preference, health, routine); both map
to ours. The memory's text is its key and value ("daughter name: Dana")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from companion.importers.fields import Fields, NotCarried
from companion.importers.values import fit, moment, safe_id
from companion.profiles.models import LONG_TEXT, MemorySource, MemoryType

TYPES: Final = {
    # the interface's enum
    "family_info": MemoryType.FAMILY,
    "medical_info": MemoryType.HEALTH,
    "preferences": MemoryType.PREFERENCE,
    "routine": MemoryType.ROUTINE,
    "personal_history": MemoryType.LIFE_STORY,
    # the tool's enum (family_info and routine are in both)
    "preference": MemoryType.PREFERENCE,
    "health": MemoryType.HEALTH,
}
IMPORTANCE: Final = {"high": 5, "medium": 3, "low": 2}


def memory_text(key: str, value: str) -> str:
    label = key.replace("_", " ").replace("-", " ").strip()
    if not label or label.lower() in value.lower():
        return value
    return f"{label}: {value}"


def map_memory(
    body: dict[str, Any], *, fallback_time: datetime
) -> tuple[dict[str, Any] | None, list[NotCarried]]:
    """Our memory document (its id made from the source id), or None when it has no text."""
    doc = Fields.of("memories", body)
    doc.get("userId")
    source_id = doc.text("id")
    value = doc.text("value")
    key = doc.text("key")
    raw_type = doc.text("memoryType").lower()
    kind = TYPES.get(raw_type)
    if kind is None:
        if raw_type:
            doc.note("memoryType", "not in either of the seed system's enums: kept as life story")
        kind = MemoryType.LIFE_STORY
    raw_importance = doc.text("importance").lower()
    if raw_importance and raw_importance not in IMPORTANCE:
        doc.note("importance", "not high, medium or low: medium is used")
    created = moment(doc.get("extractedAt"))
    if created is None:
        doc.note("extractedAt", "missing or not a date: the import's time is used")
    doc.drop("context", "the conversation's circumstances as the model described them: no place here")
    doc.drop("confidence", "always 0.95 in the seed system: it says nothing")
    doc.drop("accessCount", "how often the seed system read it: not kept here")
    doc.drop("lastAccessed", "when the seed system last read it: not kept here")
    doc.drop("tags", "words taken from the value: the text is searched here instead")
    doc.drop("conversationId", "the seed system's conversation ids are not kept here")
    if not value:
        doc.note("value", "missing: a memory needs its words; not carried")
        return None, doc.finish()
    memory = {
        "id": safe_id(source_id or f"{key}:{value}"),
        "text": fit(doc, "value", memory_text(key, value), LONG_TEXT),
        "type": kind.value,
        "importance": IMPORTANCE.get(raw_importance, 3),
        "source": MemorySource.CONVERSATION.value,
        "createdAt": (created or fallback_time).isoformat(),
    }
    return memory, doc.finish()
