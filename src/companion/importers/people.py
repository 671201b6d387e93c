"""``users``: the person's profile document (``type: user_profile``, id = userId) -> our ``profile``
section's fields: personal information, cognitive mode, family members, and what of the medical and
lifestyle notes has a place here."""

from __future__ import annotations

from typing import Any, Final

from pydantic import ValidationError

from companion.importers.fields import Fields, NotCarried
from companion.importers.values import birth_date, fit, phone, text_list, zone_name
from companion.languages import check_language
from companion.profiles.models import (
    MAX_FAMILY,
    MAX_HOBBIES,
    MEDIUM_TEXT,
    NAME_TEXT,
    RELATIONSHIP_TEXT,
    SHORT_TEXT,
    CognitiveMode,
    FamilyMember,
)

WRITTEN: Final = "when the seed system wrote the document: the import keeps its own time"
# Spellings of gender the seed system's documents use (its default, when missing, is male).
GENDERS: Final = {
    "male": "male",
    "m": "male",
    "זכר": "male",
    "female": "female",
    "f": "female",
    "נקבה": "female",
}


def map_user(body: dict[str, Any]) -> tuple[dict[str, Any], list[NotCarried]]:
    """The ``profile`` fields this document gives (in our JSON shape), and what it does not carry."""
    doc = Fields.of("users", body)
    doc.get("id")
    doc.get("userId")
    doc.get("type")
    doc.drop_all(("createdAt", "updatedAt"), WRITTEN)
    profile: dict[str, Any] = {}
    info = doc.part("personalInfo")
    personal = personal_info(info)
    if personal:
        profile["personalInfo"] = personal
    info.finish()
    mode = cognitive_mode(doc, "cognitiveMode")
    if mode:
        profile["cognitiveMode"] = mode
    background = medical_and_lifestyle(doc)
    if background:
        profile["background"] = background
    members = family_members(doc, "familyMembers")
    if members is not None:
        profile["familyMembers"] = members
    return profile, doc.finish()


def personal_info(info: Fields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    name = info.text("fullName")
    if name:
        out["fullName"] = fit(info, "fullName", name, NAME_TEXT)
    age = info.get("age")
    if age is not None:
        if isinstance(age, int) and not isinstance(age, bool) and 0 <= age <= 130:
            out["age"] = age
        else:
            info.note("age", "not an age in years (0-130)")
    born = birth_date(info, "dateOfBirth")
    if born:
        out["dateOfBirth"] = born.isoformat()
    gender = info.text("gender").lower()
    if gender:
        if gender in GENDERS:
            out["gender"] = GENDERS[gender]
        else:
            info.note("gender", "neither male nor female: the seed system's default (male) is used")
    language = info.text("language")
    if language:
        try:
            out["language"] = check_language(language.split("-")[0].lower())
        except ValueError:
            info.note("language", "no language pack here: the default language is used")
    zone = zone_name(info, "timezone")
    if zone:
        out["timezone"] = zone
    return out


COGNITIVE_MODES: Final = frozenset(m.value for m in CognitiveMode)


def cognitive_mode(doc: Fields, key: str) -> str | None:
    raw = doc.text(key).lower().replace("_", "-").replace(" ", "-")
    if not raw:
        return None
    if raw in COGNITIVE_MODES:
        return raw
    doc.note(key, f"not one of {', '.join(sorted(COGNITIVE_MODES))}")
    return None


def medical_and_lifestyle(doc: Fields) -> dict[str, Any]:
    """Conditions become the background's condition, hobbies and interests its hobbies; the rest of
    these free-form notes is named in the report."""
    out: dict[str, Any] = {}
    medical = doc.get("medicalInfo")
    if isinstance(medical, str):
        out["condition"] = fit(doc, "medicalInfo", medical.strip(), MEDIUM_TEXT)
    elif isinstance(medical, dict):
        part = doc.part("medicalInfo")
        conditions = text_list(part, "conditions", MEDIUM_TEXT, 20) or text_list(
            part, "diagnosis", MEDIUM_TEXT, 20
        )
        if conditions:
            out["condition"] = fit(part, "conditions", ", ".join(conditions), MEDIUM_TEXT)
        part.drop("medications", "medications come from the safety-config document")
        part.rest("no place here: the background keeps the conditions only")
        part.finish()
    elif medical is not None:
        doc.note("medicalInfo", "neither text nor an object")
    lifestyle = doc.get("lifestyle")
    if isinstance(lifestyle, dict):
        part = doc.part("lifestyle")
        hobbies = text_list(part, "hobbies", SHORT_TEXT, MAX_HOBBIES) + text_list(
            part, "interests", SHORT_TEXT, MAX_HOBBIES
        )
        if hobbies:
            out["hobbies"] = list(dict.fromkeys(hobbies))[:MAX_HOBBIES]
        part.rest("no place here: the background keeps hobbies and interests only")
        part.finish()
    elif lifestyle is not None:
        doc.note("lifestyle", "not an object")
    return out


def family_members(doc: Fields, key: str) -> list[dict[str, Any]] | None:
    if doc.get(key) is None:
        return None
    out: list[dict[str, Any]] = []
    for member in doc.items(key):
        entry: dict[str, Any] = {
            "name": fit(member, "name", member.text("name"), NAME_TEXT),
            "relationship": fit(member, "relationship", member.text("relationship"), RELATIONSHIP_TEXT),
            "isEmergencyContact": bool(member.get("isEmergencyContact", False)),
        }
        number = phone(member, "phone")
        if number:
            entry["phone"] = number
        try:
            FamilyMember.model_validate(entry)
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            member.note(where or "name", "missing or invalid: this family member is not carried")
            member.finish()
            continue
        member.finish()
        out.append(entry)
    if len(out) > MAX_FAMILY:
        doc.note(key, f"more than {MAX_FAMILY} family members: the first {MAX_FAMILY} kept")
        out = out[:MAX_FAMILY]
    return out
