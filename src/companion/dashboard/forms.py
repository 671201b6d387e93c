"""Wizard forms -> the draft, and validation errors -> messages next to their fields.

Field names are the section's own camelCase paths (``familyMembers.0.phone``), so a pydantic error's
location names the input it belongs to. Phone numbers and times are tidied as they are read
(``normalise_phone``; ``8:30`` -> ``08:30``) so the caregiver sees the stored form right away; what
cannot be tidied is kept as typed and reported by the models' validation.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from functools import cache
from typing import Any

from starlette.datastructures import FormData

from companion.dashboard.family_contacts import contact_from, follow_family, follow_removal, missing_contacts
from companion.dashboard.wizard import JSON, Draft, FieldError
from companion.profiles.models import DEFAULT_COMPANION_GENDER, normalise_phone

ROUTINE_KEYS = ("wake", "breakfast", "lunch", "dinner", "sleep")
_LOOSE_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")
_TIME_SPLIT = re.compile(r"[,;\s]+")

# Lists edited as removable chips: the form field, and where the list lives in the draft.
CHIPS: dict[str, tuple[str, ...]] = {
    "hobbies": ("profile", "background", "hobbies"),
    "forbiddenTopics": ("safety", "forbiddenTopics"),
    "preferredArtists": ("music", "preferredArtists"),
    "preferredSongs": ("music", "preferredSongs"),
    "preferredGenres": ("music", "preferredGenres"),
    "dislikedArtists": ("music", "dislikedArtists"),
}
# Lists edited as rows of fields, and an empty row of each.
ROWS: dict[str, tuple[tuple[str, ...], JSON]] = {
    "familyMembers": (
        ("profile", "familyMembers"),
        {"name": "", "relationship": "", "phone": None, "isEmergencyContact": False, "notes": ""},
    ),
    "emergencyContacts": (
        ("safety", "emergencyContacts"),
        {
            "name": "",
            "relationship": "",
            "phone": "",
            "email": None,
            "notifyFor": ["critical", "high", "medium"],
        },
    ),
    "medications": (
        ("safety", "medications"),
        {"name": "", "dosage": "", "times": [], "instructions": ""},
    ),
    "neverAllow": (("safety", "neverAllow"), {"rule": "", "reason": "", "severity": "high"}),
    "crisisTriggers": (("safety", "crisisTriggers"), {"phrase": "", "severity": "critical", "action": ""}),
}
CRISIS_PRESETS: dict[str, tuple[str, ...]] = {
    "he": ("תעזרו לי", "נפלתי", "כואב לי בחזה", "אני לא מצליח לנשום", "אני רוצה למות", "אני הולך לאיבוד"),
    "en": ("help me", "I fell", "my chest hurts", "I can't breathe", "I want to die", "I'm lost"),
}


def _get(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _optional(form: FormData, name: str) -> str | None:
    return _get(form, name) or None


def tidy_phone(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalise_phone(value)
    except ValueError:
        return value  # the model reports it, next to the field


def tidy_time(value: str) -> str:
    match = _LOOSE_TIME.match(value.strip())
    return f"{int(match[1]):02d}:{match[2]}" if match else value.strip()


def _rows(form: FormData, name: str) -> list[int]:
    indexes = set()
    for key in form:
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == name and parts[1].isdigit():
            indexes.add(int(parts[1]))
    return sorted(indexes)


def _chips(form: FormData, name: str) -> list[str]:
    values = [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]
    typed = _get(form, f"new.{name}")  # typed but "add" not pressed: keep it rather than lose it
    if typed and typed not in values:
        values.append(typed)
    return values


def _read_rows(form: FormData, name: str, read: Callable[[str], JSON]) -> list[JSON]:
    return [read(f"{name}.{i}.") for i in _rows(form, name)]


def read_step(number: int, draft: Draft, form: FormData) -> None:
    """Copy the fields of step ``number`` from ``form`` into ``draft`` (no validation here)."""
    profile, safety, music = draft.data["profile"], draft.data["safety"], draft.data["music"]
    if number == 1:
        profile["personalInfo"] = {
            "fullName": _get(form, "personalInfo.fullName"),
            "preferredName": _optional(form, "personalInfo.preferredName"),
            "gender": _optional(form, "personalInfo.gender"),
            "age": _optional(form, "personalInfo.age"),
            "dateOfBirth": _optional(form, "personalInfo.dateOfBirth"),
            "language": _get(form, "personalInfo.language") or "he",
            "timezone": tidy_zone(_get(form, "personalInfo.timezone")),
        }
        profile["companion"] = {
            "gender": _get(form, "companion.gender") or DEFAULT_COMPANION_GENDER.value,
            "voice": _optional(form, "companion.voice"),  # empty: the service chooses by the gender
        }
    elif number == 2:
        profile["cognitiveMode"] = _get(form, "cognitiveMode") or "standard"
        profile["background"] = {
            "condition": _get(form, "background.condition"),
            "personality": _get(form, "background.personality"),
            "hobbies": _chips(form, "hobbies"),
            "lifeStory": _get(form, "background.lifeStory"),
        }
        profile["conversationRecords"] = _get(form, "conversationRecords") or "summary"
        profile["conversationRetentionDays"] = _optional(form, "conversationRetentionDays") or 90
    elif number == 3:
        before = profile.get("familyMembers", [])
        profile["familyMembers"] = _read_rows(
            form,
            "familyMembers",
            lambda p: {
                "name": _get(form, p + "name"),
                "relationship": _get(form, p + "relationship"),
                "phone": tidy_phone(_optional(form, p + "phone")),
                "isEmergencyContact": bool(form.get(p + "isEmergencyContact")),
                "notes": _get(form, p + "notes"),
            },
        )
        contacts = safety.get("emergencyContacts", [])
        safety["emergencyContacts"] = follow_family(before, profile["familyMembers"], contacts)
    elif number == 4:
        safety["emergencyContacts"] = _read_rows(
            form,
            "emergencyContacts",
            lambda p: {
                "name": _get(form, p + "name"),
                "relationship": _get(form, p + "relationship"),
                "phone": tidy_phone(_get(form, p + "phone")) or "",
                "email": _optional(form, p + "email"),
                "notifyFor": [v for v in form.getlist(p + "notifyFor") if isinstance(v, str)],
                "digest": _get(form, p + "digest") or "none",
                "digestTime": tidy_time(_get(form, p + "digestTime")) or "19:00",
            },
        )
        safety["escalationMinutes"] = _optional(form, "escalationMinutes")
    elif number == 5:
        safety["medications"] = _read_rows(
            form,
            "medications",
            lambda p: {
                "name": _get(form, p + "name"),
                "dosage": _get(form, p + "dosage"),
                "times": [tidy_time(t) for t in _TIME_SPLIT.split(_get(form, p + "times")) if t],
                "instructions": _get(form, p + "instructions"),
            },
        )
    elif number == 6:
        routine: JSON = {key: tidy_time(_get(form, f"routine.{key}")) or None for key in ROUTINE_KEYS}
        routine["checkins"] = [tidy_time(t) for t in _TIME_SPLIT.split(_get(form, "routine.checkins")) if t]
        profile["routine"] = routine
    elif number == 7:
        safety["neverAllow"] = _read_rows(
            form,
            "neverAllow",
            lambda p: {
                "rule": _get(form, p + "rule"),
                "reason": _get(form, p + "reason"),
                "severity": _get(form, p + "severity") or "high",
            },
        )
        safety["forbiddenTopics"] = _chips(form, "forbiddenTopics")
        safety["crisisTriggers"] = _read_rows(
            form,
            "crisisTriggers",
            lambda p: {
                "phrase": _get(form, p + "phrase"),
                "severity": _get(form, p + "severity") or "critical",
                "action": _get(form, p + "action"),
            },
        )
    elif number == 9:
        music.update(
            {
                "enabled": bool(form.get("enabled")),
                "preferredArtists": _chips(form, "preferredArtists"),
                "preferredSongs": _chips(form, "preferredSongs"),
                "preferredGenres": _chips(form, "preferredGenres"),
                "dislikedArtists": _chips(form, "dislikedArtists"),
                "allowAutoPlay": bool(form.get("allowAutoPlay")),
                "playOnSadness": bool(form.get("playOnSadness")),
                "maxSongsPerSession": _get(form, "maxSongsPerSession") or "3",
            }
        )


def _at(draft: Draft, path: tuple[str, ...]) -> Any:
    node: Any = draft.data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    return node.setdefault(path[-1], [])


def add_row(draft: Draft, name: str) -> bool:
    if name not in ROWS:
        return False
    path, empty = ROWS[name]
    _at(draft, path).append(dict(empty))
    return True


def add_preset(draft: Draft, phrase: str) -> None:
    triggers = _at(draft, ROWS["crisisTriggers"][0])
    if all(t.get("phrase") != phrase for t in triggers):
        triggers.append({"phrase": phrase, "severity": "critical", "action": ""})


def remove_item(draft: Draft, name: str, index: int) -> bool:
    path = CHIPS.get(name) or (ROWS[name][0] if name in ROWS else None)
    items = _at(draft, path) if path else draft.memories if name == "memories" else None
    if items is None or not 0 <= index < len(items):
        return False
    if name == "familyMembers":
        safety = draft.data["safety"]
        safety["emergencyContacts"] = follow_removal(items[index], safety.get("emergencyContacts", []))
    del items[index]
    return True


def add_family_contact(draft: Draft, index: int) -> bool:
    """The contacts step's "add from the family": a ticked family member not yet on the list."""
    members = draft.data["profile"].get("familyMembers", [])
    contacts = _at(draft, ROWS["emergencyContacts"][0])
    for number, member in missing_contacts(members, contacts):
        if number == index:
            contacts.append(contact_from(member))
            return True
    return False


def confirm_memory(draft: Draft, index: int) -> bool:
    """Mark a memory learned in conversation as kept by the family (written on submit)."""
    if not 0 <= index < len(draft.memories):
        return False
    memory = draft.memories[index]
    if memory.get("source") != "conversation" or not memory.get("id"):
        return False
    if not memory.get("confirmedAt"):
        memory["confirmedAt"] = "pending"
    return True


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@cache
def timezone_choices() -> tuple[str, ...]:
    """Every IANA zone the system knows, sorted: the wizard's searchable list."""
    return tuple(sorted(known_timezones()))


@cache
def _zones_folded() -> dict[str, str]:
    return {zone.casefold(): zone for zone in known_timezones()}


def tidy_zone(value: str) -> str:
    """``asia/jerusalem`` or ``America/New York`` -> the zone's own spelling; anything else as typed."""
    key = re.sub(r"\s+", "_", re.sub(r"\s*/\s*", "/", value.strip()))
    return _zones_folded().get(key.casefold(), value.strip())


def extra_errors(number: int, draft: Draft) -> list[FieldError]:
    """Checks the models leave to the form: a time zone is chosen, and it is one the system knows."""
    if number != 1:
        return []
    zone = str(draft.data["profile"].get("personalInfo", {}).get("timezone") or "")
    if not zone:
        return [FieldError("personalInfo.timezone", "missing", "Field required", {})]
    zones = known_timezones()
    if zones and zone not in zones:
        return [FieldError("personalInfo.timezone", "timezone", "unknown time zone", {})]
    return []


def message(t: Callable[..., str], error: FieldError) -> str:
    """The error in the reader's language where we have the words, else pydantic's own."""
    last = error.field.rsplit(".", 1)[-1]
    ctx: dict[str, Any] = error.context
    kind = error.type
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return str(t("err.required"))
    if kind == "value_error":
        if last == "phone":
            return str(t("err.phone"))
        if last in ROUTINE_KEYS or last == "times":
            return str(t("err.time"))
        if last == "dateOfBirth":
            return str(t("err.birth_future"))
        if last == "voice":
            return str(t("err.voice_gender"))
    simple = {
        "timezone": "err.timezone",
        "string_too_long": "err.too_long",
        "too_long": "err.too_many",
        "too_short": "err.too_few",
        "int_parsing": "err.number",
        "int_from_float": "err.number",
        "int_type": "err.number",
        "greater_than_equal": "err.min",
        "less_than_equal": "err.max",
        "date_from_datetime_parsing": "err.date",
        "date_parsing": "err.date",
        "date_type": "err.date",
        "enum": "err.choice",
        "literal_error": "err.choice",
    }
    if kind in simple:
        values = {k: ctx.get(k, "") for k in ("max_length", "min_length", "ge", "le")}
        return str(t(simple[kind], **values))
    return error.message


def error_map(t: Callable[..., str], errors: list[FieldError]) -> dict[str, str]:
    """field -> its first message."""
    out: dict[str, str] = {}
    for error in errors:
        out.setdefault(error.field, message(t, error))
    return out
