"""A straightforward builder to hold the real one to: every section rendered in full at every level,
every candidate text estimated whole, memories dropped one at a time, levels tried in order.

The person, family and music sections are written here as plain functions of the draft, without the
per-part costing the product uses; the sections no limit changes are the product's own renderers.
"""

from __future__ import annotations

import hashlib
from datetime import UTC

from companion.profiles.models import MAX_CONTACTS, CareContext, Memory
from companion.prompt import Instructions
from companion.prompt.builder import DEFAULT_BUDGET_TOKENS, LEVELS, VERSION_HEX_CHARS, companion_of
from companion.prompt.capped import photo_index, someone  # shapes and choices; the costing is compared
from companion.prompt.draft import Caps, Draft, Section, join_lines
from companion.prompt.lang import SECTION_NAMES, pack_for
from companion.prompt.render import RENDERERS, SECTION_SEPARATOR, memory_item, section_head
from companion.prompt.sanitize import quote, sanitize_value
from companion.prompt.tokens import estimate_tokens


def person(d: Draft) -> str | None:
    if d.profile is None:
        return None
    info, background = d.profile.personal_info, d.profile.background
    full = sanitize_value(info.full_name)
    preferred = sanitize_value(info.preferred_name or "") or full
    return join_lines(
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


def family(d: Draft) -> str | None:
    members = list(d.profile.family_members) if d.profile else []
    ranked = sorted(range(len(members)), key=lambda i: not members[i].is_emergency_contact)
    protected = [i for i in ranked if members[i].is_emergency_contact][:MAX_CONTACTS]
    optional = [i for i in ranked if i not in protected][: d.caps.items]
    chosen = {*protected, *optional}
    members = [member for i, member in enumerate(members) if i in chosen]
    member_lines = [
        someone(
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
        someone(d, contact.name, contact.relationship, d.part("phone", contact.phone))
        for contact in d.context.safety.emergency_contacts
    ]
    if not any(member_lines) and not any(contact_lines):
        return None
    return join_lines(
        d.say(d.pack.family_intro),
        *member_lines,
        d.pack.emergency_intro if any(contact_lines) else None,
        *contact_lines,
    )


def music(d: Draft) -> str | None:
    prefs = d.context.music
    if not prefs.enabled:
        return d.say(d.pack.music_disabled)
    all_disliked = d.clean_all(prefs.disliked_artists)
    never = {artist.casefold() for artist in all_disliked}
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
        return join_lines(*lists, d.say(d.pack.music_nothing_listed))
    max_songs = quote(str(prefs.max_songs_per_session))
    stop_words = ", ".join(f'"{word}"' for word in d.pack.stop_words)
    return join_lines(
        *lists,
        d.line("max_songs_per_session", [prefs.max_songs_per_session]),
        d.say(d.pack.music_rules, stop_words=stop_words, max_songs=max_songs),
        d.say(d.pack.music_sadness_on if prefs.play_on_sadness else d.pack.music_sadness_off),
        d.say(d.pack.music_auto_play_on if prefs.allow_auto_play else d.pack.music_auto_play_off),
    )


def photos(d: Draft) -> str | None:
    if not d.context.photos or not d.caps.items:
        return None
    offered, asked = photo_index(d.context.photos)
    return join_lines(
        d.say(d.pack.photos_intro, count=quote(str(len(d.context.photos)))),
        d.line("photo_people", offered[: d.caps.items]),
        d.line("photo_people_asked", asked[: d.caps.items]),
        d.say(d.pack.photos_rules),
    )


CAPPED_RENDERERS = {"person": person, "family": family, "music": music, "photos": photos}


def render(draft: Draft) -> tuple[Section, ...]:
    sections = []
    for name in SECTION_NAMES:
        body = (CAPPED_RENDERERS.get(name) or RENDERERS[name])(draft)
        if body:
            sections.append(Section(name, section_head(draft, name) + body))
    return tuple(sections)


def _drop_order(memories: tuple[Memory, ...]) -> list[Memory]:
    def moment(memory: Memory) -> float:
        created = memory.created_at
        return (created if created.tzinfo else created.replace(tzinfo=UTC)).timestamp()

    return sorted(
        memories,
        key=lambda m: (m.importance, moment(m), m.id, m.text, m.type.value, m.source.value),
    )


def build(context: CareContext, budget_tokens: int = DEFAULT_BUDGET_TOKENS) -> Instructions:
    profile = context.profile
    pack = pack_for(profile.personal_info.language if profile else None)
    lines = [memory_item(pack, memory) for memory in _drop_order(context.memories)]

    def attempt(caps: Caps, dropped: int) -> tuple[tuple[Section, ...], str, int]:
        kept = tuple(line for line in reversed(lines[dropped:]) if line)
        sections = render(Draft(context=context, pack=pack, caps=caps, memories=kept))
        text = SECTION_SEPARATOR.join(section.text for section in sections)
        return sections, text, estimate_tokens(text)

    def result(
        chosen: tuple[tuple[Section, ...], str, int], dropped: int, trimmed: tuple[str, ...]
    ) -> Instructions:
        sections, text, tokens = chosen
        spans, start = [], 0
        for section in sections:
            spans.append((section.name, start, start + len(section.text)))
            start += len(section.text) + len(SECTION_SEPARATOR)
        return Instructions(
            text=text,
            version=hashlib.sha256(text.encode()).hexdigest()[:VERSION_HEX_CHARS],
            language=pack.code,
            spans=tuple(spans),
            tokens_estimate=tokens,
            dropped_memories=dropped,
            trimmed=trimmed,
            over_budget=tokens > budget_tokens,
            **companion_of(context),
        )

    for dropped in range(len(lines) + 1):
        chosen = attempt(Caps(), dropped)
        if chosen[2] <= budget_tokens:
            return result(chosen, dropped, ())
    for index, (_, caps) in enumerate(LEVELS):
        chosen = attempt(caps, len(lines))
        if chosen[2] <= budget_tokens or index == len(LEVELS) - 1:
            return result(chosen, len(lines), tuple(dict.fromkeys(step for step, _ in LEVELS[: index + 1])))
    raise AssertionError("unreachable: the last level is always taken")
