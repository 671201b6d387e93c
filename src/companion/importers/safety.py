"""``safety-config``: the wizard's document (shape A, written by the dashboard: objects for crisis
triggers, the background, routines, boundaries, photos and music) or the seed scripts' (shape B,
``type: safety_config``: never-allow rules, crisis phrases as plain strings). Both become our
``safety`` section, and the parts of ``profile`` (background, routine) and ``music`` they hold.

When a person has several safety-config documents, the newest (``updatedAt``, else ``createdAt``, else
the time in its id, else ``_ts``) wins; the others are named in the report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from companion.importers.fields import Fields, NotCarried
from companion.importers.music import music_fields
from companion.importers.people import WRITTEN
from companion.importers.values import fit, hhmm, phone, text_list, written_at
from companion.profiles.models import (
    ACTION_TEXT,
    DOSAGE_TEXT,
    INSTRUCTIONS_TEXT,
    LONG_TEXT,
    MAX_CONTACTS,
    MAX_CRISIS_TRIGGERS,
    MAX_FORBIDDEN_TOPICS,
    MAX_HOBBIES,
    MAX_MEDICATIONS,
    MAX_NEVER_ALLOW,
    MAX_TIMES_PER_MEDICATION,
    MEDICATION_NAME_TEXT,
    MEDIUM_TEXT,
    NAME_TEXT,
    PHRASE_TEXT,
    RELATIONSHIP_TEXT,
    RULE_TEXT,
    SHORT_TEXT,
    Severity,
)

Shape = Literal["A", "B"]
ROUTINE_KEYS: Final = {
    "wakeTime": "wake",
    "breakfastTime": "breakfast",
    "lunchTime": "lunch",
    "dinnerTime": "dinner",
    "sleepTime": "sleep",
}
SEVERITIES: Final = frozenset(s.value for s in Severity)


@dataclass(slots=True)
class SafetyMapping:
    """What one safety-config document gives: fields of three sections, photo metadata, and notes."""

    shape: Shape
    doc_id: str
    safety: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    music: dict[str, Any] = field(default_factory=dict)
    photos: list[dict[str, Any]] = field(default_factory=list)
    notes: list[NotCarried] = field(default_factory=list)


def shape_of(body: dict[str, Any]) -> Shape:
    """B: the seed scripts' document (``type: safety_config``, or never-allow rules, or crisis phrases
    as strings); A: the dashboard wizard's."""
    if body.get("type") == "safety_config" or "neverAllow" in body:
        return "B"
    triggers = body.get("crisisTriggers")
    if isinstance(triggers, list) and triggers and all(isinstance(t, str) for t in triggers):
        return "B"
    return "A"


def newest(docs: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The newest document and the others, newest first (ties: the larger id wins, so the choice is
    the same on every run)."""
    ordered = sorted(docs, key=lambda d: (written_at(d), str(d.get("id", ""))), reverse=True)
    return ordered[0], ordered[1:]


def map_safety_config(body: dict[str, Any]) -> SafetyMapping:
    doc = Fields.of("safety-config", body)
    out = SafetyMapping(shape_of(body), doc.doc_id, notes=doc.notes)
    doc.get("id")
    doc.get("userId")
    doc.get("type")
    doc.drop_all(("createdAt", "updatedAt"), WRITTEN)
    doc.drop("yamlConfig", "a text rendering of the other fields; the instructions here are built from them")
    doc.drop("voiceCalibration", "the wizard skipped this step; nothing was recorded")
    doc.drop(
        "redirectToFamily",
        "no place here for topics to hand over to the family: add them as never-allow rules",
    )
    doc.drop("approvedActivities", "no place here for approved activities: add them as hobbies")

    for key, read in SAFETY_PARTS:
        value = read(doc)
        if value is not None:
            out.safety[key] = value

    background, name, age = patient_background(doc)
    if background:
        out.profile["background"] = background
    if name or age is not None:
        out.profile["personalInfo"] = {k: v for k, v in (("fullName", name), ("age", age)) if v}
    routine = routines(doc)
    if routine:
        out.profile["routine"] = routine
    if doc.get("musicPreferences") is not None:
        part = doc.part("musicPreferences")
        out.music = music_fields(part)
        part.finish()
    out.photos = [p.body for p in doc.items("photos")]
    doc.finish()
    return out


def emergency_contacts(doc: Fields) -> list[dict[str, Any]] | None:
    if doc.get("emergencyContacts") is None:
        return None
    out: list[dict[str, Any]] = []
    for contact in doc.items("emergencyContacts"):
        name = fit(contact, "name", contact.text("name"), NAME_TEXT)
        relationship = fit(contact, "relationship", contact.text("relationship"), RELATIONSHIP_TEXT)
        number = phone(contact, "phone")
        contact.finish()
        if not (name and relationship and number):
            contact.note("", "a contact needs a name, a relationship and a phone number: not carried")
            continue
        out.append({"name": name, "relationship": relationship, "phone": number})
    if len(out) > MAX_CONTACTS:
        doc.note("emergencyContacts", f"more than {MAX_CONTACTS} contacts: the first {MAX_CONTACTS} kept")
        out = out[:MAX_CONTACTS]
    return out


def medications(doc: Fields) -> list[dict[str, Any]] | None:
    """One entry per time at the source; entries of one medication (same name, dosage and
    instructions) become one medication with its times, in order."""
    if doc.get("medications") is None:
        return None
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for med in doc.items("medications"):
        name = fit(med, "name", med.text("name"), MEDICATION_NAME_TEXT)
        dosage = fit(med, "dosage", med.text("dosage"), DOSAGE_TEXT)
        instructions = fit(med, "specialInstructions", med.text("specialInstructions"), INSTRUCTIONS_TEXT)
        times = [t for t in (hhmm(med, "time"),) if t]
        if isinstance(med.get("times"), list):
            times += [t for t in text_list(med, "times", 8, MAX_TIMES_PER_MEDICATION) if t not in times]
        med.finish()
        if not (name and dosage and times):
            med.note("", "a medication needs a name, a dosage and a time: not carried")
            continue
        slot = grouped.setdefault((name, dosage, instructions), [])
        slot.extend(t for t in times if t not in slot)
    out = []
    for (name, dosage, instructions), times in grouped.items():
        if len(times) > MAX_TIMES_PER_MEDICATION:
            doc.note("medications", f"{name}: more than {MAX_TIMES_PER_MEDICATION} times; the first kept")
        out.append(
            {
                "name": name,
                "dosage": dosage,
                "times": sorted(times)[:MAX_TIMES_PER_MEDICATION],
                "instructions": instructions,
            }
        )
    if len(out) > MAX_MEDICATIONS:
        doc.note("medications", f"more than {MAX_MEDICATIONS} medications: the first {MAX_MEDICATIONS} kept")
        out = out[:MAX_MEDICATIONS]
    return out


def never_allow(doc: Fields) -> list[dict[str, Any]] | None:
    if doc.get("neverAllow") is None:
        return None
    out = []
    for entry in doc.items("neverAllow"):
        rule = fit(entry, "rule", entry.text("rule"), RULE_TEXT)
        reason = fit(entry, "reason", entry.text("reason"), RULE_TEXT)
        severity = entry.text("severity").lower()
        entry.finish()
        if not rule:
            entry.note("rule", "missing: this rule is not carried")
            continue
        item: dict[str, Any] = {"rule": rule, "reason": reason}
        if severity in SEVERITIES:
            item["severity"] = severity
        out.append(item)
    if len(out) > MAX_NEVER_ALLOW:
        doc.note("neverAllow", f"more than {MAX_NEVER_ALLOW} rules: the first {MAX_NEVER_ALLOW} kept")
        out = out[:MAX_NEVER_ALLOW]
    return out


def forbidden_topics(doc: Fields) -> list[str] | None:
    """Shape B keeps them at the top; shape A under ``boundaries`` (with free-text ``notes``)."""
    topics: list[str] | None = None
    if doc.get("forbiddenTopics") is not None:
        topics = text_list(doc, "forbiddenTopics", PHRASE_TEXT, MAX_FORBIDDEN_TOPICS * 4)
    if doc.get("boundaries") is not None:
        part = doc.part("boundaries")
        more = text_list(part, "forbiddenTopics", PHRASE_TEXT, MAX_FORBIDDEN_TOPICS * 4)
        part.drop("notes", "no place here for free-text boundary notes: add them as never-allow rules")
        part.finish()
        topics = list(dict.fromkeys((topics or []) + more))
    if topics is not None and len(topics) > MAX_FORBIDDEN_TOPICS:
        doc.note("forbiddenTopics", f"more than {MAX_FORBIDDEN_TOPICS} topics: the first kept")
        topics = topics[:MAX_FORBIDDEN_TOPICS]
    return topics


def crisis_triggers(doc: Fields) -> list[dict[str, Any]] | None:
    """Shape A: ``{keyword, severity, action}``; shape B: plain phrases (critical, no action)."""
    raw = doc.get("crisisTriggers")
    if raw is None:
        return None
    if not isinstance(raw, list):
        doc.note("crisisTriggers", "not a list")
        return None
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(raw):
        path = f"crisisTriggers[{index}]"
        if isinstance(entry, str):
            phrase = fit(doc, path, entry.strip(), PHRASE_TEXT)
            if phrase:
                out.append({"phrase": phrase, "severity": Severity.CRITICAL.value, "action": ""})
            continue
        if not isinstance(entry, dict):
            doc.note(path, "neither a phrase nor an object")
            continue
        trigger = Fields("safety-config", entry, doc_id=doc.doc_id, prefix=path, notes=doc.notes)
        phrase = fit(trigger, "keyword", trigger.text("keyword") or trigger.text("phrase"), PHRASE_TEXT)
        severity = trigger.text("severity").lower()
        action = fit(trigger, "action", trigger.text("action"), ACTION_TEXT)
        trigger.finish()
        if not phrase:
            trigger.note("keyword", "missing: this trigger is not carried")
            continue
        if severity and severity not in SEVERITIES:
            trigger.note("severity", "not critical, high or medium: critical is used")
        out.append(
            {
                "phrase": phrase,
                "severity": severity if severity in SEVERITIES else "critical",
                "action": action,
            }
        )
    if len(out) > MAX_CRISIS_TRIGGERS:
        doc.note("crisisTriggers", f"more than {MAX_CRISIS_TRIGGERS} triggers: the first kept")
        out = out[:MAX_CRISIS_TRIGGERS]
    return out


def patient_background(doc: Fields) -> tuple[dict[str, Any], str, int | None]:
    """The wizard's first step: name and age (the users document wins where it has them), condition,
    personality, hobbies, and the family context and important memories as the life story."""
    if doc.get("patientBackground") is None:
        return {}, "", None
    part = doc.part("patientBackground")
    name = fit(part, "fullName", part.text("fullName"), NAME_TEXT)
    age_raw = part.get("age")
    age = (
        age_raw
        if isinstance(age_raw, int) and not isinstance(age_raw, bool) and 0 <= age_raw <= 130
        else None
    )
    if age_raw is not None and age is None:
        part.note("age", "not an age in years (0-130)")
    out: dict[str, Any] = {}
    condition = part.text("medicalCondition")
    if condition:
        out["condition"] = fit(part, "medicalCondition", condition, MEDIUM_TEXT)
    personality = part.text("personality")
    if personality:
        out["personality"] = fit(part, "personality", personality, MEDIUM_TEXT)
    hobbies = text_list(part, "hobbies", SHORT_TEXT, MAX_HOBBIES)
    if hobbies:
        out["hobbies"] = hobbies
    story = "\n\n".join(t for t in (part.text("familyContext"), part.text("importantMemories")) if t)
    if story:
        out["lifeStory"] = fit(part, "importantMemories", story, LONG_TEXT)
    part.finish()
    return out, name, age


def routines(doc: Fields) -> dict[str, str]:
    if doc.get("routines") is None:
        return {}
    part = doc.part("routines")
    out = {ours: t for theirs, ours in ROUTINE_KEYS.items() if (t := hhmm(part, theirs))}
    part.finish()
    return out


SAFETY_PARTS: Final[tuple[tuple[str, Callable[[Fields], Any]], ...]] = (
    ("emergencyContacts", emergency_contacts),
    ("medications", medications),
    ("neverAllow", never_allow),
    ("forbiddenTopics", forbidden_topics),
    ("crisisTriggers", crisis_triggers),
)
"""The ``safety`` section's parts, each read from the document in this order (None: not there)."""
