"""The profile wizard's data: the steps, the draft, validation per step, changes, diffs and merging.

Pure code over plain JSON-like dicts (the sections as the API speaks them, camelCase); validation is
the profile models' own (``SECTION_MODELS``), so the wizard accepts exactly what the API accepts. A
draft remembers every section as it was when the wizard opened, with its version: that version is
the If-Match of the save, and the before/after of a conflict.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from companion.profiles.models import SECTION_MODELS, SECTIONS, Background, Companion, Music, Routine, Safety
from companion.services import Services

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Step:
    number: int
    key: str
    section: str | None  # the document the step edits (memories and review edit none)
    fields: tuple[str, ...] = ()  # top-level keys of the section this step owns; () = all of it


STEPS: tuple[Step, ...] = (
    Step(1, "personal", "profile", ("personalInfo", "companion")),
    Step(
        2,
        "background",
        "profile",
        ("cognitiveMode", "background", "conversationRecords", "conversationRetentionDays"),
    ),
    Step(3, "family", "profile", ("familyMembers",)),
    Step(4, "contacts", "safety", ("emergencyContacts",)),
    Step(5, "medications", "safety", ("medications",)),
    Step(6, "routine", "profile", ("routine",)),
    Step(7, "safety", "safety", ("neverAllow", "forbiddenTopics", "crisisTriggers")),
    Step(8, "memories", None),
    Step(9, "music", "music"),
    Step(10, "photos", None),  # saved at once, photo by photo (bytes cannot wait in a draft)
    Step(11, "review", None),
)
LAST_STEP = len(STEPS)
PHOTOS_STEP = next(s.number for s in STEPS if s.key == "photos")


def step(number: int) -> Step:
    return STEPS[min(max(number, 1), LAST_STEP) - 1]


def dump(model: Any) -> JSON:
    data: JSON = model.model_dump(mode="json", by_alias=True)
    return data


def empty_section(section: str) -> JSON:
    """What a section looks like before anyone saved it (the profile has no valid empty form)."""
    if section == "profile":
        return {
            # no time zone yet: the wizard suggests the caregiver's browser's own
            "personalInfo": {"language": "he", "timezone": ""},
            "companion": dump(Companion()),
            "cognitiveMode": "standard",
            "background": dump(Background()),
            "familyMembers": [],
            "routine": dump(Routine()),
        }
    return dump(Safety() if section == "safety" else Music())


@dataclass(slots=True)
class Conflict:
    theirs: JSON  # the section as stored now
    version: int


@dataclass(slots=True)
class Draft:
    user_id: str
    base: dict[str, JSON | None]  # each section as stored when the wizard opened (None: not yet saved)
    versions: dict[str, int | None]
    data: dict[str, JSON]  # the caregiver's working copy
    base_memories: list[JSON]
    memories: list[JSON]  # new ones have no "id" until they are saved
    conflicts: dict[str, Conflict] = field(default_factory=dict)

    @classmethod
    async def open(cls, services: Services, user_id: str) -> Draft:
        states, memories = await services.profiles.all_sections(user_id)
        base = {s.name: dump(s.data) if s.data is not None else None for s in states}
        stored = [dump(m) for m in memories]
        return cls(
            user_id=user_id,
            base=base,
            versions={s.name: s.version for s in states},
            data={name: copy.deepcopy(body) if body else empty_section(name) for name, body in base.items()},
            base_memories=stored,
            memories=copy.deepcopy(stored),
        )

    @property
    def person_language(self) -> str:
        return str(self.data["profile"].get("personalInfo", {}).get("language") or "he")

    def to_json(self) -> JSON:
        """The draft as JSON (kept in Redis between requests in cluster mode)."""
        return {
            "userId": self.user_id,
            "base": self.base,
            "versions": self.versions,
            "data": self.data,
            "baseMemories": self.base_memories,
            "memories": self.memories,
            "conflicts": {s: {"theirs": c.theirs, "version": c.version} for s, c in self.conflicts.items()},
        }

    @classmethod
    def from_json(cls, body: JSON) -> Draft:
        """Raises ``KeyError``/``TypeError``/``ValueError`` for anything ``to_json`` did not write."""
        return cls(
            user_id=str(body["userId"]),
            base=dict(body["base"]),
            versions={str(k): None if v is None else int(v) for k, v in body["versions"].items()},
            data=dict(body["data"]),
            base_memories=list(body["baseMemories"]),
            memories=list(body["memories"]),
            conflicts={
                str(s): Conflict(theirs=dict(c["theirs"]), version=int(c["version"]))
                for s, c in body["conflicts"].items()
            },
        )

    def accept(self, section: str, stored: JSON, version: int) -> None:
        """``stored`` at ``version`` is now both the base and the working copy of ``section``."""
        self.base[section] = stored
        self.versions[section] = version
        self.data[section] = copy.deepcopy(stored)
        self.conflicts.pop(section, None)


# ---- validation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str  # a form field name: "familyMembers.0.phone"
    type: str  # pydantic's error type
    message: str  # pydantic's message (English), for the cases with no translation
    context: dict[str, Any]


def _field_name(loc: tuple[int | str, ...], message: str) -> str:
    parts = list(loc)
    while parts and isinstance(parts[-1], int):  # one input holds the whole list (chips, times)
        parts.pop()
    if parts == ["personalInfo"] and "dateOfBirth" in message:  # the model-level check of the birth date
        parts.append("dateOfBirth")
    if parts == ["companion"]:  # the model-level check: a voice that sounds like the other gender
        parts.append("voice")
    return ".".join(str(p) for p in parts)


def validate(section: str, data: JSON) -> tuple[JSON | None, list[FieldError]]:
    try:
        return dump(SECTION_MODELS[section].model_validate(data)), []
    except ValidationError as exc:
        errors = [
            FieldError(
                field=_field_name(tuple(e["loc"]), e["msg"]),
                type=e["type"],
                message=e["msg"].removeprefix("Value error, "),
                context=dict(e.get("ctx") or {}),
            )
            for e in exc.errors(include_url=False, include_input=False)
        ]
        return None, errors


def step_errors(number: int, draft: Draft) -> list[FieldError]:
    current = step(number)
    if current.section is None:
        return []
    _, errors = validate(current.section, draft.data[current.section])
    if not current.fields:
        return errors
    return [e for e in errors if e.field.split(".")[0] in current.fields]


def first_invalid_step(draft: Draft) -> tuple[int, list[FieldError]] | None:
    for current in STEPS:
        errors = step_errors(current.number, draft)
        if errors:
            return current.number, errors
    return None


def changed_sections(draft: Draft) -> dict[str, JSON]:
    """The sections to save (validated): those changed, and those never saved before."""
    changed = {}
    for section in SECTIONS:
        valid, errors = validate(section, draft.data[section])
        if errors or valid is None:
            raise ValueError(f"the {section} section is not valid; check first_invalid_step first")
        if valid != draft.base[section]:
            changed[section] = valid
    return changed


def _pruned(value: Any) -> Any:
    """``value`` without its empty leaves (None, "", [], {}): how a half-filled form compares."""
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [_pruned(item) for item in value]
    return value


def _comparable(section: str, body: JSON) -> Any:
    """A section as it would be saved, or, while it does not validate, as typed without empty fields."""
    valid, errors = validate(section, body)
    return valid if valid is not None and not errors else _pruned(body)


def has_unsent_changes(draft: Draft) -> bool:
    """Whether the draft holds anything the caregiver would lose: a section that differs from what the
    wizard opened with (as it would be saved, so a step posted unchanged is no change), or a memory
    added, removed or kept. A draft with none is no draft to "continue"."""
    for section in SECTIONS:
        opened = draft.base[section]
        before = _comparable(section, opened if opened is not None else empty_section(section))
        if _comparable(section, draft.data[section]) != before:
            return True
    added, removed = memory_changes(draft)
    return bool(added or removed or any(m.get("confirmedAt") == "pending" for m in draft.memories))


def memory_changes(draft: Draft) -> tuple[list[JSON], list[JSON]]:
    """(added, removed) memories since the wizard opened."""
    kept = {m["id"] for m in draft.memories if m.get("id")}
    added = [m for m in draft.memories if not m.get("id")]
    removed = [m for m in draft.base_memories if m["id"] not in kept]
    return added, removed


# ---- diffs and merging -------------------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": [1, 2]}}`` -> ``{"a.b": [1, 2]}``; lists of objects are numbered: ``a.0.b``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{index}"))
        return out
    return {prefix: value}


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    before: Any
    after: Any


def diff(before: JSON | None, after: JSON | None) -> list[Change]:
    old, new = flatten(before or {}), flatten(after or {})
    paths = list(old) + [p for p in new if p not in old]
    return [Change(p, old.get(p), new.get(p)) for p in paths if old.get(p) != new.get(p)]


_MISSING = object()


def merge(base: Any, mine: Any, theirs: Any) -> Any:
    """Three-way merge: my changes since ``base`` applied on top of ``theirs``.

    Objects merge key by key; lists merge as sets of items (items I removed go, items I added come,
    everything they did stays); where we both changed the same value, mine wins, as the caregiver
    asked to re-apply.
    """
    if mine == base:
        return theirs
    if theirs == base:
        return mine
    if isinstance(base, dict) and isinstance(mine, dict) and isinstance(theirs, dict):
        keys = list(theirs) + [k for k in mine if k not in theirs]
        merged = {}
        for key in keys:
            value = merge(base.get(key, _MISSING), mine.get(key, _MISSING), theirs.get(key, _MISSING))
            if value is not _MISSING:
                merged[key] = value
        return merged
    if isinstance(base, list) and isinstance(mine, list) and isinstance(theirs, list):
        removed = [item for item in base if item not in mine]
        added = [item for item in mine if item not in base and item not in theirs]
        return [item for item in theirs if item not in removed] + added
    return mine
