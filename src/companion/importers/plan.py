"""One person: their source documents mapped (``prepare``), then compared with what is stored here
(``decide``), giving what to write and an account of it. Both pure: the runner does the I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ValidationError

from companion.errors import InvalidInput
from companion.importers.conversations import conversation_id, map_conversation
from companion.importers.fields import NotCarried
from companion.importers.history import map_incident, map_reminder
from companion.importers.memories import map_memory
from companion.importers.merge import digest, fingerprint, merge, paths
from companion.importers.music import map_music
from companion.importers.people import map_user
from companion.importers.photos import PhotoMeta, map_photo
from companion.importers.report import Action
from companion.importers.safety import map_safety_config, newest
from companion.importers.values import written_at
from companion.languages import DEFAULT_LANGUAGE
from companion.profiles.models import (
    DEFAULT_RETENTION_DAYS,
    MAX_MEMORIES,
    PHOTO_KIND,
    SECTION_MODELS,
    Memory,
    PersonalInfo,
    Photo,
)
from companion.profiles.service import MEMORY_KIND, SECTION_DOC_ID, validation_error
from companion.store import (
    ConversationRecord,
    DocumentWrite,
    ImportedState,
    ImportMark,
    ImportWrite,
    RecordsLevel,
    StoredDocument,
    TurnRecord,
)
from companion.store.base import ReminderRecord

SOURCE: Final = "never-alone"
ALERT_KIND: Final = "alert"  # care.alerts.ALERT_KIND
PHOTOS_SECTION: Final = "photos"  # what a change event names for the photo library (photos.service)
DEFAULT_ZONE: Final = str(PersonalInfo.model_fields["timezone"].default)
# The containers this import reads, in the seed system's names.
CONTAINERS: Final = (
    "users",
    "safety-config",
    "user-music-preferences",
    "memories",
    "reminders",
    "safety-incidents",
    "conversations",
    "photos",
    "music-playback-history",
)
# Containers it knows and does not carry, with why (the dashboard's PascalCase ones only ever held the
# seed scripts' demo rows; FamilyMembers holds plain-text passwords).
NOT_IMPORTED: Final[Mapping[str, str]] = {
    "Conversations": "the dashboard's demo conversations, written only by the seed scripts",
    "Reminders": "the dashboard's demo reminders, written only by the seed scripts",
    "SafetyIncidents": "the dashboard's demo alerts, written only by the seed scripts",
    "FamilyMembers": "dashboard logins with plain-text passwords: create caregiver accounts here instead",
}


@dataclass(slots=True)
class PersonImport:
    """A person's source documents, mapped."""

    user_id: str
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    memories: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    reminders: list[ReminderRecord] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)  # mapped in ``decide``: records level
    photos: list[PhotoMeta] = field(default_factory=list)
    notes: list[NotCarried] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    @property
    def conversation_ids(self) -> list[str]:
        return [
            conversation_id(self.user_id, str(c.get("id") or c.get("conversationId") or c.get("sessionId")))
            for c in self.conversations
        ]


@dataclass(frozen=True, slots=True)
class PhotoUpload:
    """A photo that is not here yet: its bytes (at ``meta.blob_path``) go through the photo library after
    the person's transaction, with ``description``; ``mark`` is remembered once it is stored."""

    meta: PhotoMeta
    description: dict[str, Any]  # caption, people, when, where: validated, in the JSON shape
    mark: ImportMark
    action: Action


@dataclass(slots=True)
class Outcome:
    """What ``decide`` chose for one person."""

    changes: list[tuple[str, Action]] = field(default_factory=list)
    conflicts: list[tuple[str, str, bool]] = field(default_factory=list)  # item, why, overwritten
    sections: list[str] = field(default_factory=list)  # what live conversations must refresh for
    notes: list[NotCarried] = field(default_factory=list)
    uploads: list[PhotoUpload] = field(default_factory=list)
    photo_errors: list[tuple[PhotoMeta, str]] = field(default_factory=list)  # a photo that cannot come


def prepare(user_id: str, docs: Mapping[str, list[dict[str, Any]]], now: datetime) -> PersonImport:
    """Map every source document of one person. Raises ``InvalidInput`` naming the document at fault
    when one cannot be read at all (the person then fails; the others go on)."""
    person = PersonImport(user_id)
    profile: dict[str, Any] = {}
    users = docs.get("users", [])
    configs = docs.get("safety-config", [])
    if configs:
        chosen, older = newest(configs)
        mapped = map_safety_config(chosen)
        person.notes += mapped.notes
        shape = "the dashboard's (A)" if mapped.shape == "A" else "the seed scripts' (B)"
        person.remarks.append(f"safety-config {chosen.get('id')}: {shape} shape")
        if older:
            person.remarks.append(
                f"{len(configs)} safety-config documents: the newest ({chosen.get('id')}, "
                f"{written_at(chosen).isoformat()}) wins"
            )
            person.notes += [
                NotCarried(
                    "safety-config", str(d.get("id", "")), "*", "an older safety-config: the newest wins"
                )
                for d in older
            ]
        profile = merge(profile, mapped.profile)
        if mapped.safety:
            person.sections["safety"] = mapped.safety
        if mapped.music:
            person.sections["music"] = mapped.music
        for photo in mapped.photos:
            meta, notes = map_photo(photo, user_id=user_id, container="safety-config")
            person.notes += notes
            if meta:
                _add_photo(person, meta)
    if users:
        chosen_user, older_users = newest(users)
        mapped_profile, notes = map_user(chosen_user)
        person.notes += notes
        person.notes += [
            NotCarried("users", str(d.get("id", "")), "*", "an older profile document: the newest wins")
            for d in older_users
        ]
        profile = merge(profile, mapped_profile)  # the profile document wins over the wizard's background
    if profile:
        info = profile.setdefault("personalInfo", {})
        if "gender" not in info:
            info["gender"] = "male"
            person.remarks.append("gender: not at the source; male, the seed system's default")
        person.sections["profile"] = profile
    music_docs = docs.get("user-music-preferences", [])
    if music_docs:
        chosen_music, older_music = newest(music_docs)
        music, notes = map_music(chosen_music)
        person.notes += notes
        person.notes += [
            NotCarried(
                "user-music-preferences",
                str(d.get("id", "")),
                "*",
                "older music preferences: the newest wins",
            )
            for d in older_music
        ]
        if "music" in person.sections:
            person.remarks.append("music: user-music-preferences wins over the wizard's musicPreferences")
        person.sections["music"] = music
    for body in docs.get("memories", []):
        memory, notes = map_memory(body, fallback_time=now)
        person.notes += notes
        if memory:
            person.memories.append(memory)
    info = profile.get("personalInfo", {})
    zone = str(info.get("timezone") or DEFAULT_ZONE)
    language = str(info.get("language") or DEFAULT_LANGUAGE)
    ours_by_source: dict[str, str] = {}
    seen: set[str] = set()
    for body in docs.get("reminders", []):
        record, notes = map_reminder(body, user_id=user_id, zone=zone, now=now)
        person.notes += notes
        if record is None:
            continue
        ours_by_source[str(body.get("id", ""))] = record.id
        if record.id in seen:
            person.notes.append(
                NotCarried(
                    "reminders",
                    str(body.get("id", "")),
                    "*",
                    "the same dose at the same time twice: once kept",
                )
            )
            continue
        seen.add(record.id)
        person.reminders.append(record)
    for body in docs.get("safety-incidents", []):
        alert, notes = map_incident(body, language=language, reminder_ids=ours_by_source, now=now)
        person.notes += notes
        if alert:
            person.alerts.append(alert)
    person.conversations = list(docs.get("conversations", []))
    for body in docs.get("photos", []):
        meta, notes = map_photo(body, user_id=user_id)
        person.notes += notes
        if meta:
            _add_photo(person, meta)
    plays = docs.get("music-playback-history", [])
    if plays:
        person.notes += [
            NotCarried(
                "music-playback-history", str(d.get("id", "")), "*", "no place here for what was played"
            )
            for d in plays
        ]
    return person


def _add_photo(person: PersonImport, meta: PhotoMeta) -> None:
    """One photo per file: the ``photos`` document wins over the wizard's copy of the same file in the
    safety config (the seed system writes the one from the other), and the later of two alike."""
    for index, known in enumerate(person.photos):
        if known.id != meta.id:
            continue
        kept, dropped = (known, meta) if known.container == "photos" != meta.container else (meta, known)
        person.photos[index] = kept
        why = f"the same file as {kept.container} {kept.source_id}: that one is carried"
        person.notes.append(NotCarried(dropped.container, dropped.source_id, "photos", why))
        return
    person.photos.append(meta)


def decide(
    person: PersonImport, state: ImportedState, *, overwrite: bool, now: datetime
) -> tuple[ImportWrite, Outcome]:
    """What to write for ``person`` given ``state``. Raises ``InvalidInput`` when a section would not be
    valid here (the person fails, named in the report)."""
    out = Outcome()
    documents: list[DocumentWrite] = []
    marks: list[ImportMark] = []

    def doc_item(kind: str, doc_id: str, item: str, partial: dict[str, Any], build: Any) -> None:
        current = state.documents.get((kind, doc_id))
        mark = state.marks.get(item)
        body = build(merge(current.body if current else None, partial))
        owned = sorted(set(paths(partial)) | set(mark.digest if mark else ()))
        new = fingerprint(body, owned)
        action = _action(item, new, current, mark, owned, overwrite, out)
        if action is None:
            return
        if action == "mark":
            version = current.version if current else 0
            marks.append(ImportMark(item, new, version))
            return
        expected = current.version if current else None
        documents.append(DocumentWrite(kind, doc_id, body, expected))
        marks.append(ImportMark(item, new, 1 if expected is None else expected + 1))
        out.changes.append((item, action))
        if kind in SECTION_MODELS:
            out.sections.append(kind)
        elif kind == MEMORY_KIND and "memories" not in out.sections:
            out.sections.append("memories")
        elif kind == PHOTO_KIND and PHOTOS_SECTION not in out.sections:
            out.sections.append(PHOTOS_SECTION)

    for section in ("profile", "safety", "music"):
        partial = person.sections.get(section)
        if partial is None:
            continue
        current = state.documents.get((section, SECTION_DOC_ID))
        if section == "profile" and current is None and not partial.get("personalInfo", {}).get("fullName"):
            out.notes.append(
                NotCarried(
                    "users", person.user_id, "personalInfo.fullName", "no name at the source: no profile made"
                )
            )
            continue
        doc_item(section, SECTION_DOC_ID, f"section:{section}", partial, _validator(section))

    existing = sum(1 for (kind, _) in state.documents if kind == MEMORY_KIND)
    memories = sorted(person.memories, key=lambda m: m["createdAt"], reverse=True)
    room = MAX_MEMORIES - existing + sum(1 for m in memories if (MEMORY_KIND, m["id"]) in state.documents)
    for index, memory in enumerate(memories):
        if index >= room and (MEMORY_KIND, memory["id"]) not in state.documents:
            out.notes.append(
                NotCarried(
                    "memories", memory["id"][3:], "*", f"beyond {MAX_MEMORIES} memories: the newest kept"
                )
            )
            continue
        partial = {k: v for k, v in memory.items() if k != "id"}
        doc_item(MEMORY_KIND, memory["id"], f"memory:{memory['id']}", partial, _memory(memory["id"]))

    for alert in person.alerts:
        partial = {k: v for k, v in alert.items() if k not in ("id", "importedAt")}
        doc_item(ALERT_KIND, alert["id"], f"alert:{alert['id']}", partial, _alert(alert))

    new_rem: list[ReminderRecord] = []
    changed_rem: list[ReminderRecord] = []
    for record in person.reminders:
        item = f"reminder:{record.id}"
        current_rem = state.reminders.get(record.id)
        owned = list(REMINDER_FIELDS)
        new = fingerprint(_reminder_fields(record), owned)
        action = _action(
            item,
            new,
            _Row(_reminder_fields(current_rem)) if current_rem else None,
            state.marks.get(item),
            owned,
            overwrite,
            out,
        )
        if action is None:
            continue
        marks.append(ImportMark(item, new, 0))
        if action != "mark":
            (changed_rem if current_rem else new_rem).append(record)
            out.changes.append((item, action))

    level, retention = _records_setting(state)
    new_conv: list[tuple[ConversationRecord, tuple[TurnRecord, ...]]] = []
    changed_conv: list[tuple[ConversationRecord, tuple[TurnRecord, ...]]] = []
    for body in person.conversations:
        mapped, notes = map_conversation(
            body, user_id=person.user_id, records=level, retention_days=retention, now=now
        )
        out.notes += notes
        if mapped is None:
            continue
        conversation, turns = mapped
        item = f"conversation:{conversation.id}"
        current_conv = state.conversations.get(conversation.id)
        owned = [*CONVERSATION_FIELDS, "turns"]
        new = fingerprint(_conversation_fields(conversation, len(turns)), owned)
        here = _Row(_conversation_fields(current_conv, None)) if current_conv else None
        action = _action(item, new, here, state.marks.get(item), owned, overwrite, out, ignore=("turns",))
        if action is None:
            continue
        marks.append(ImportMark(item, new, 0))
        if action != "mark":
            (changed_conv if current_conv else new_conv).append((conversation, turns))
            out.changes.append((item, action))

    for photo in person.photos:
        try:
            _photo_item(photo, state, overwrite=overwrite, now=now, out=out, doc_item=doc_item)
        except InvalidInput as exc:  # that photo only: the person's other data still comes
            out.photo_errors.append((photo, exc.message))
    write = ImportWrite(
        documents=tuple(documents),
        new_reminders=tuple(new_rem),
        changed_reminders=tuple(changed_rem),
        new_conversations=tuple(new_conv),
        changed_conversations=tuple(changed_conv),
        marks=tuple(marks),
    )
    return write, out


def _photo_item(
    photo: PhotoMeta, state: ImportedState, *, overwrite: bool, now: datetime, out: Outcome, doc_item: Any
) -> None:
    """A photo already here: its description updated like any document (in the person's transaction).
    A photo not here yet: an upload for the runner, unless the family deleted it here since an import."""
    item = f"photo:{photo.id}"
    partial = photo.description()
    build = _photo(photo.id)
    if (PHOTO_KIND, photo.id) in state.documents:
        doc_item(PHOTO_KIND, photo.id, item, partial, build)
        return
    body = build(partial | {"createdAt": now.isoformat()})
    owned = list(partial)
    new = fingerprint(body, owned)
    action = _action(item, new, None, state.marks.get(item), owned, overwrite, out)
    if action is None or action == "mark":
        return
    described = {key: body[key] for key in owned}
    out.uploads.append(PhotoUpload(photo, described, ImportMark(item, new, 1), action))


@dataclass(frozen=True, slots=True)
class _Row:
    """A row's fields standing in for a document's body."""

    body: dict[str, Any]


def _action(
    item: str,
    new: dict[str, str],
    current: StoredDocument | _Row | None,
    mark: ImportMark | None,
    owned: list[str],
    overwrite: bool,
    out: Outcome,
    *,
    ignore: tuple[str, ...] = (),
) -> Action | Literal["mark"] | None:
    """None: nothing to do; "mark": only remember what is there; else the write and what it is."""
    if mark is not None and mark.digest == new:
        return None  # the source did not change since the last import
    if current is None:
        if mark is None:
            return "created"
        return _conflict(out, item, "removed here since the last import", overwrite, "created")
    here = {k: v for k, v in fingerprint(current.body, owned).items() if k not in ignore}
    wanted = {k: v for k, v in new.items() if k not in ignore}
    if here == wanted:
        return "mark"  # already as the source says (the family made the same change, or a re-import)
    if mark is None:
        return _conflict(out, item, "made here, not by an import", overwrite, "overwritten")
    before = {k: v for k, v in mark.digest.items() if k not in ignore}
    if any(here.get(k) != v for k, v in before.items() if k in here):
        return _conflict(out, item, "edited here since the last import", overwrite, "overwritten")
    return "updated"


def _conflict(out: Outcome, item: str, why: str, overwrite: bool, action: Action) -> Action | None:
    out.conflicts.append((item, why, overwrite))
    return action if overwrite else None


def _checked(model: type[BaseModel], where: str, fields: dict[str, Any] | None = None) -> Any:
    """A builder: the body, with ``fields`` fixed, checked by ``model`` (a problem names ``where``)."""
    fixed = fields or {}

    def build(body: dict[str, Any]) -> dict[str, Any]:
        try:
            return model.model_validate(body | fixed).model_dump(mode="json", by_alias=True)
        except ValidationError as exc:
            raise validation_error(exc, where) from None

    return build


def _validator(section: str) -> Any:
    return _checked(SECTION_MODELS[section], section)


def _memory(memory_id: str) -> Any:
    return _checked(Memory, f"memory {memory_id}", {"id": memory_id})


def _photo(photo_id: str) -> Any:
    return _checked(Photo, f"photo {photo_id}", {"id": photo_id})


def _alert(alert: dict[str, Any]) -> Any:
    from companion.care.alerts import Alert

    def build(body: dict[str, Any]) -> dict[str, Any]:
        try:
            fixed = {"id": alert["id"], "importedAt": body.get("importedAt") or alert["importedAt"]}
            return Alert.model_validate(body | fixed).model_dump(mode="json", by_alias=True)
        except ValidationError as exc:
            raise validation_error(exc, f"alert {alert['id']}") from None

    return build


REMINDER_FIELDS: Final = (
    "kind",
    "label",
    "local_time",
    "due_at",
    "state",
    "delivered_at",
    "delivered_via",
    "acked_at",
    "missed_at",
)
CONVERSATION_FIELDS: Final = ("records", "started_at", "ended_at", "person_turns", "companion_turns")


ROW: Final = ["*"]  # a reminder is owned whole: one digest of all its fields


def _row_digest(fields: dict[str, Any]) -> dict[str, str]:
    return {"*": digest(fields)}


def _reminder_fields(record: ReminderRecord) -> dict[str, Any]:
    return {name: _plain(getattr(record, name)) for name in REMINDER_FIELDS}


def _conversation_fields(record: ConversationRecord, turns: int | None) -> dict[str, Any]:
    fields = {name: _plain(getattr(record, name)) for name in CONVERSATION_FIELDS}
    return fields | {"turns": turns}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _records_setting(state: ImportedState) -> tuple[RecordsLevel, int]:
    """What the person's profile here keeps of conversations (the default for a new person)."""
    profile = state.documents.get(("profile", SECTION_DOC_ID))
    body = profile.body if profile else {}
    level = body.get("conversationRecords", "summary")
    days = body.get("conversationRetentionDays", DEFAULT_RETENTION_DAYS)
    if level not in ("none", "summary", "transcript"):
        level = "summary"
    return level, int(days) if isinstance(days, int) else DEFAULT_RETENTION_DAYS


__all__ = [
    "CONTAINERS",
    "NOT_IMPORTED",
    "SOURCE",
    "InvalidInput",
    "Outcome",
    "PersonImport",
    "PhotoUpload",
    "decide",
    "prepare",
]
