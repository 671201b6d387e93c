"""Each section of the instructions as a pure function of (care context, language pack, limits).

Renderers never see raw caregiver text: every value goes through ``sanitize_value`` and ``quote``
here, in one place, so no section can forget it. Data the offline engine reads is written as one
line, ``<label> [<key>]: «v1», «v2»``; records with several parts (a family member, a medication)
are list items, ``- «name»; <label>: «value»``, which carry no ``[key]`` and so can repeat.

A renderer returns ``None`` when its data is empty, and the section is left out.

Only what the budget policy may cut is ever capped (``Caps``): the life story, background and family
notes, and the optional lists. Everything else, and above all every safety and medication value, is
rendered whole (``sanitize_value`` with no cap beyond its absolute ``MAX_VALUE_CHARS``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from companion.profiles.models import (
    LONG_TEXT,
    MAX_CONTACTS,
    MAX_FAMILY,
    MAX_HOBBIES,
    MAX_MUSIC_ITEMS,
    MEDIUM_TEXT,
    CareContext,
    Gender,
    Memory,
    Profile,
    Severity,
)

from .lang import SECTION_NAMES, LanguagePack
from .sanitize import MAX_VALUE_CHARS, quote, sanitize_value

_ALTERNATION = re.compile(r"\{([^{}|]*)\|([^{}|]*)(?:\|([^{}|]*))?\}")
_SLOT = re.compile(r"\{([a-z_]+)\}")


def inflect(template: str, gender: Gender | None) -> str:
    """Resolve ``{masculine|feminine}`` / ``{masculine|feminine|unknown}`` forms for ``gender``."""

    def choose(match: re.Match[str]) -> str:
        masculine, feminine, unknown = match.group(1), match.group(2), match.group(3)
        if gender is Gender.MALE:
            return masculine
        if gender is Gender.FEMALE:
            return feminine
        if unknown is not None:
            return unknown
        return masculine if masculine == feminine else f"{masculine}/{feminine}"

    return _ALTERNATION.sub(choose, template)


@dataclass(frozen=True, slots=True)
class Section:
    """One titled part of the instructions; ``name`` is stable across languages."""

    name: str
    text: str

    @property
    def chars(self) -> int:
        return len(self.text)


@dataclass(frozen=True, slots=True)
class Caps:
    """Limits on what may be cut, applied while rendering; the budget policy tightens them level by level.

    There is deliberately no limit for safety or medication content: it is always rendered whole.
    """

    life_story: int = LONG_TEXT  # characters of the life story (0 leaves it out)
    note: int = MEDIUM_TEXT  # characters of each background or family note (0 leaves them out)
    # entries of each optional list: hobbies, music lists, family members beyond the emergency contacts
    items: int = max(MAX_HOBBIES, MAX_MUSIC_ITEMS, MAX_FAMILY)


@dataclass(frozen=True, slots=True)
class Draft:
    """What every renderer needs: the data, the language, the limits, the memories that fit."""

    context: CareContext
    pack: LanguagePack
    caps: Caps
    memories: tuple[str, ...]  # list items from ``memory_item``, chosen and ordered by the builder

    @property
    def profile(self) -> Profile | None:
        return self.context.profile

    @property
    def gender(self) -> Gender | None:
        return self.profile.personal_info.gender if self.profile else None

    def say(self, template: str, **slots: str) -> str:
        """Pack text in the person's gender; slots hold pack text or already quoted data."""
        return _SLOT.sub(lambda match: slots[match.group(1)], inflect(template, self.gender))

    def clean_all(self, values: Iterable[object], cap: int = MAX_VALUE_CHARS) -> list[str]:
        """Sanitised, non-empty, de-duplicated (case-insensitively) values, in the given order."""
        return list(_clean_all(tuple(map(str, values)), cap))

    def line(self, key: str, values: Iterable[object], cap: int = MAX_VALUE_CHARS) -> str | None:
        """A data line, or ``None`` when no value is left after sanitising."""
        clean = self.clean_all(values, cap)
        if not clean:
            return None
        return f"{self.pack.labels[key]} [{key}]: " + ", ".join(quote(value) for value in clean)

    def part(self, key: str, value: object, cap: int = MAX_VALUE_CHARS) -> str | None:
        """One labelled part of a list item, ``label: «value»``."""
        clean = sanitize_value(str(value), cap)
        return f"{self.pack.labels[key]}: {quote(clean)}" if clean else None


@functools.lru_cache(maxsize=4096)  # pure; every refresh and every budget attempt cleans the same lists
def _clean_all(values: tuple[str, ...], cap: int) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        clean = sanitize_value(value, cap)
        folded = clean.casefold()
        if clean and folded not in seen:
            seen.add(folded)
            out.append(clean)
    return tuple(out)


def _item(*parts: str | None) -> str | None:
    present = [part for part in parts if part]
    return "- " + "; ".join(present) if present else None


def _join(*lines: str | None) -> str:
    return "\n".join(line for line in lines if line)


def _quoted(value: str, cap: int = MAX_VALUE_CHARS) -> str | None:
    clean = sanitize_value(value, cap)
    return quote(clean) if clean else None


def identity(d: Draft) -> str:
    gender = d.gender
    addressing = d.pack.addressing[gender] if gender else d.pack.addressing_unknown
    return _join(d.say(d.pack.persona), d.say(d.pack.language_rule), addressing, d.say(d.pack.data_note))


def person(d: Draft) -> str | None:
    if d.profile is None:
        return None
    info, background = d.profile.personal_info, d.profile.background
    full = sanitize_value(info.full_name)
    preferred = sanitize_value(info.preferred_name or "") or full
    return _join(
        d.say(d.pack.person_intro),
        d.line("full_name", [full]) if full != preferred else None,
        d.line("preferred_name", [preferred]),
        d.line("age", [] if info.age is None else [info.age]),
        d.line("date_of_birth", [] if info.date_of_birth is None else [info.date_of_birth.isoformat()]),
        d.line("gender", [d.pack.genders[info.gender]]),
        d.line("cognitive_mode", [d.pack.cognitive_modes[d.profile.cognitive_mode]]),
        d.line("timezone", [info.timezone]),
        d.line("condition", [background.condition], d.caps.note),
        d.line("personality", [background.personality], d.caps.note),
        d.line("hobbies", background.hobbies[: d.caps.items]),
        d.line("life_story", [background.life_story], d.caps.life_story),
    )


def cognitive(d: Draft) -> str:
    if d.profile is None:
        return d.say(d.pack.cognitive_unknown)
    return d.say(d.pack.cognitive[d.profile.cognitive_mode])


def _someone(d: Draft, name: str, relationship: str, *parts: str | None) -> str | None:
    """A list item for a family member or contact: ``- «name» («relationship»); part; part``."""
    quoted_name = _quoted(name)
    if quoted_name is None:
        return None
    quoted_relationship = _quoted(relationship)
    head = f"{quoted_name} ({quoted_relationship})" if quoted_relationship else quoted_name
    return _item(head, *parts)


def family(d: Draft) -> str | None:
    members = list(d.profile.family_members) if d.profile else []
    # The first MAX_CONTACTS emergency contacts always stay; of the others, up to ``caps.items``,
    # emergency contacts first. The family's order stays.
    ranked = sorted(range(len(members)), key=lambda i: not members[i].is_emergency_contact)
    protected = [i for i in ranked if members[i].is_emergency_contact][:MAX_CONTACTS]
    optional = [i for i in ranked if i not in protected][: d.caps.items]
    chosen = {*protected, *optional}
    members = [member for i, member in enumerate(members) if i in chosen]
    member_lines = [
        _someone(
            d,
            member.name,
            member.relationship,
            d.part("phone", member.phone) if member.phone else None,
            d.pack.labels["emergency_contact"] if member.is_emergency_contact else None,
            d.part("notes", member.notes, d.caps.note),
        )
        for member in members
    ]
    contact_lines = [
        _someone(d, contact.name, contact.relationship, d.part("phone", contact.phone))
        for contact in d.context.safety.emergency_contacts
    ]
    if not any(member_lines) and not any(contact_lines):
        return None
    return _join(
        d.say(d.pack.family_intro),
        *member_lines,
        d.pack.emergency_intro if any(contact_lines) else None,
        *contact_lines,
    )


def routine(d: Draft) -> str | None:
    if d.profile is None:
        return None
    times = d.profile.routine
    lines = [
        d.line(key, [value])
        for key, value in (
            ("wake", times.wake),
            ("breakfast", times.breakfast),
            ("lunch", times.lunch),
            ("dinner", times.dinner),
            ("sleep", times.sleep),
        )
        if value is not None
    ]
    return _join(d.say(d.pack.routine_intro), *lines) if lines else None


def medications(d: Draft) -> str | None:
    meds = d.context.safety.medications
    if not meds:
        return None
    items = [
        _item(
            _quoted(med.name),
            d.part("dosage", med.dosage),
            f"{d.pack.labels['times']}: " + ", ".join(quote(time) for time in d.clean_all(med.times)),
            d.part("instructions", med.instructions),
        )
        for med in meds
    ]
    return _join(d.say(d.pack.medications_intro), *items, d.say(d.pack.medications_rules))


def safety(d: Draft) -> str:
    rules = d.context.safety
    never = [
        _item(
            _quoted(rule.rule),
            d.part("reason", rule.reason),
            d.part("severity", rule.severity.value),
        )
        for rule in rules.never_allow
    ]
    crisis_line = d.line("crisis_phrases", [trigger.phrase for trigger in rules.crisis_triggers])
    crisis_details = [
        _item(
            _quoted(trigger.phrase),
            d.part("severity", trigger.severity.value),
            d.part("action", trigger.action),
        )
        for trigger in rules.crisis_triggers
        if trigger.severity is not Severity.CRITICAL or sanitize_value(trigger.action)
    ]
    forbidden_line = d.line("forbidden_topics", rules.forbidden_topics)
    return _join(
        d.say(d.pack.safety_baseline),
        *((d.say(d.pack.never_allow_intro), *never) if any(never) else ()),
        *((crisis_line, d.say(d.pack.crisis_rules), *crisis_details) if crisis_line else ()),
        *((forbidden_line, d.say(d.pack.forbidden_rules)) if forbidden_line else ()),
    )


def memory_item(pack: LanguagePack, memory: Memory) -> str | None:
    """One memory as a list item; the builder renders each once and reuses it while fitting the budget."""
    quoted = _quoted(memory.text, LONG_TEXT)
    return f"- {quoted} ({pack.memory_types[memory.type]})" if quoted else None


def memories_intro(d: Draft) -> str:
    return d.say(d.pack.memories_intro)


def memories(d: Draft) -> str | None:
    if not d.memories:
        return None
    return _join(memories_intro(d), *d.memories)


def music(d: Draft) -> str | None:
    prefs = d.context.music
    if not prefs.enabled:
        return d.say(d.pack.music_disabled)
    all_disliked = d.clean_all(prefs.disliked_artists)
    never = {artist.casefold() for artist in all_disliked}  # disliked wins over preferred
    artists = [a for a in d.clean_all(prefs.preferred_artists) if a.casefold() not in never]
    artists = artists[: d.caps.items]
    songs = d.clean_all(prefs.preferred_songs)[: d.caps.items]
    genres = d.clean_all(prefs.preferred_genres)[: d.caps.items]
    disliked = all_disliked[: d.caps.items]
    if not (artists or songs or genres or disliked):
        return None
    lists = (
        d.line("preferred_artists", artists),
        d.line("preferred_songs", songs),
        d.line("preferred_genres", genres),
        d.line("disliked_artists", disliked),
    )
    if not (artists or songs or genres):
        return _join(*lists, d.say(d.pack.music_nothing_listed))
    max_songs = quote(str(prefs.max_songs_per_session))
    stop_words = ", ".join(f'"{word}"' for word in d.pack.stop_words)
    return _join(
        *lists,
        d.line("max_songs_per_session", [prefs.max_songs_per_session]),
        d.say(d.pack.music_rules, stop_words=stop_words, max_songs=max_songs),
        d.say(d.pack.music_sadness_on if prefs.play_on_sadness else d.pack.music_sadness_off),
        d.say(d.pack.music_auto_play_on if prefs.allow_auto_play else d.pack.music_auto_play_off),
    )


def style(d: Draft) -> str:
    return d.say(d.pack.style)


def tools(d: Draft) -> str:
    return d.say(d.pack.tools)


RENDERERS: dict[str, Callable[[Draft], str | None]] = {
    "identity": identity,
    "person": person,
    "cognitive": cognitive,
    "family": family,
    "routine": routine,
    "medications": medications,
    "safety": safety,
    "memories": memories,
    "music": music,
    "style": style,
    "tools": tools,
}
if tuple(RENDERERS) != SECTION_NAMES:  # pragma: no cover - a programming error, caught at import
    raise RuntimeError("RENDERERS and SECTION_NAMES must list the same sections in the same order")


SECTION_SEPARATOR = "\n\n"


def section_head(draft: Draft, name: str) -> str:
    return f"## {draft.pack.titles[name]}\n"


# Which limits each section's text depends on; the others (memories aside) depend on none.
CAPPED_SECTIONS: Final[dict[str, Callable[[Caps], tuple[int, ...]]]] = {
    "person": lambda caps: (caps.life_story, caps.note, caps.items),
    "family": lambda caps: (caps.note, caps.items),
    "music": lambda caps: (caps.items,),
}
SectionMemo = dict[tuple[str, tuple[int, ...]], Section | None]


def render(draft: Draft, memo: SectionMemo | None = None) -> tuple[Section, ...]:
    """All non-empty sections, in order, each starting with its ``## title`` line.

    ``memo`` (one per build, for one context and language) keeps sections that another attempt of
    the budget search already rendered with the same limits; the memories section is never kept.
    """
    sections = []
    for name, renderer in RENDERERS.items():
        limits = CAPPED_SECTIONS.get(name)
        key = (name, limits(draft.caps) if limits else ())
        if memo is not None and name != "memories" and key in memo:
            section = memo[key]
        else:
            body = renderer(draft)
            section = Section(name, section_head(draft, name) + body) if body else None
            if memo is not None and name != "memories":
                memo[key] = section
        if section is not None:
            sections.append(section)
    return tuple(sections)
