"""The sections the budget may shorten (person, family, music), costed for any limits without being
rendered, and rendered for the limits chosen.

The budget search asks for the estimate of the whole text at several levels of ``Caps``. These
sections are lines joined by newlines, a data line is values joined by ``, `` and a list item is parts
joined by ``; ``; estimate units add up over such joins (``tokens.estimate_units``), so each line is
costed from its parts' units, which are computed once per build (a list's as prefix sums), and only
the chosen level's text is made. Which lines a section has, and in what order, is decided in one
place for both, so the cost is always that of the text.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from companion.profiles.models import MAX_CONTACTS, FamilyMember, Photo

from .draft import LIST_SEPARATOR, PART_SEPARATOR, Caps, Draft, clean_all, item, quoted
from .sanitize import MAX_VALUE_CHARS, quote, sanitize_value
from .tokens import estimate_units

_NEWLINE_UNITS: Final = estimate_units("\n")
_LIST_SEPARATOR_UNITS: Final = estimate_units(LIST_SEPARATOR)
_PART_SEPARATOR_UNITS: Final = estimate_units(PART_SEPARATOR)
# Units add up over ``a + b`` unless ``a`` ends with a non-ASCII character and ``b`` starts with a
# space (a space costs what precedes it); no separator starts with one, and a newline is ASCII.
if LIST_SEPARATOR[0] == " " or PART_SEPARATOR[0] == " ":  # pragma: no cover - caught at import
    raise RuntimeError("a separator that starts with a space makes units depend on what precedes it")


class Lines(Protocol):
    """Consecutive lines of a section, for any limits."""

    def cost(self, caps: Caps) -> tuple[int, int]:
        """Estimate units of the lines joined by newlines, and how many lines there are."""
        ...

    def lines(self, caps: Caps) -> list[str]: ...


class Fixed:
    """Lines that no limit changes; empty ones are left out, as ``join_lines`` does."""

    __slots__ = ("_cost", "_lines")

    def __init__(self, *lines: str | None) -> None:
        self._lines = [line for line in lines if line]
        self._cost = (estimate_units("\n".join(self._lines)), len(self._lines))

    def cost(self, caps: Caps) -> tuple[int, int]:
        return self._cost

    def lines(self, caps: Caps) -> list[str]:
        return self._lines


class Single:
    """A data line of one value shortened to ``limit(caps)`` characters; none when nothing is left."""

    __slots__ = ("_draft", "_key", "_limit", "_made", "_value")

    def __init__(self, draft: Draft, key: str, value: str, limit: Callable[[Caps], int]) -> None:
        self._draft, self._key, self._value, self._limit = draft, key, value, limit
        self._made: dict[int, tuple[str | None, int]] = {}

    def _line(self, caps: Caps) -> tuple[str | None, int]:
        cap = self._limit(caps)
        if cap not in self._made:
            line = self._draft.line(self._key, [self._value], cap)
            self._made[cap] = (line, estimate_units(line) if line else 0)
        return self._made[cap]

    def cost(self, caps: Caps) -> tuple[int, int]:
        line, units = self._line(caps)
        return (units, 1) if line else (0, 0)

    def lines(self, caps: Caps) -> list[str]:
        line = self._line(caps)[0]
        return [line] if line else []


class Listed:
    """A data line of a list shortened to its first ``caps.items`` entries; none when nothing is left.

    Its units are the head's, each kept value's quoted, and a separator between each two; the values
    kept of the first ``k`` entries are the first of those kept of all (``clean_all``).
    """

    __slots__ = ("_all", "_head", "_head_units", "_units", "_values")

    def __init__(self, draft: Draft, key: str, values: Sequence[object]) -> None:
        self._values = tuple(map(str, values))
        self._all = clean_all(self._values, MAX_VALUE_CHARS)
        self._head = draft.line_head(key)
        self._head_units = estimate_units(self._head)
        self._units = _quoted_units(self._all)

    def _kept(self, caps: Caps) -> tuple[str, ...]:
        """The values the line keeps, as ``Draft.line`` cleans them."""
        if caps.items >= len(self._values):
            return self._all
        return clean_all(self._values[: caps.items], MAX_VALUE_CHARS)

    def cost(self, caps: Caps) -> tuple[int, int]:
        count = len(self._kept(caps))
        if not count:
            return 0, 0
        return self._head_units + self._units[count] + _LIST_SEPARATOR_UNITS * (count - 1), 1

    def lines(self, caps: Caps) -> list[str]:
        kept = self._kept(caps)
        return [self._head + LIST_SEPARATOR.join(map(quote, kept))] if kept else []


@functools.lru_cache(maxsize=1024)  # the same cleaned lists are costed at every refresh of a person
def _quoted_units(values: tuple[str, ...]) -> tuple[int, ...]:
    """Prefix sums: element ``k`` is the units of the first ``k`` values, each quoted."""
    sums = [0]
    for value in values:
        sums.append(sums[-1] + estimate_units(quote(value)))
    return tuple(sums)


def _units(parts: Sequence[Lines], caps: Caps) -> int | None:
    """Units of the parts' lines joined by newlines; ``None`` when there is no line."""
    units = present = 0
    for part in parts:
        part_units, count = part.cost(caps)
        if count:
            units += part_units
            present += 1
    return units + _NEWLINE_UNITS * (present - 1) if present else None


def _body(parts: Sequence[Lines], caps: Caps) -> str | None:
    lines = [line for part in parts for line in part.lines(caps)]
    return "\n".join(lines) if lines else None


class CappedSection(Protocol):
    """A section's body (its text after the ``## title`` line) for any limits."""

    def units(self, caps: Caps) -> int | None:
        """Estimate units of ``body(caps)``, without making it; ``None`` when the section is left out."""
        ...

    def body(self, caps: Caps) -> str | None: ...


class Person:
    """Who the person is: names and fixed facts, then the notes, the hobbies and the life story."""

    def __init__(self, d: Draft) -> None:
        self._parts: list[Lines] = []
        if d.profile is None:
            return
        info, background = d.profile.personal_info, d.profile.background
        full = sanitize_value(info.full_name)
        preferred = sanitize_value(info.preferred_name or "") or full
        born = info.date_of_birth
        self._parts = [
            Fixed(
                d.say(d.pack.person_intro),
                d.line("full_name", [full]) if full != preferred else None,
                d.line("preferred_name", [preferred]),
                d.line("age", [] if info.age is None else [info.age]),
                d.line("date_of_birth", [] if born is None else [born.isoformat()]),
                d.line("gender", [d.pack.genders[info.gender]]),
                d.line("cognitive_mode", [d.pack.cognitive_modes[d.profile.cognitive_mode]]),
                d.line("timezone", [info.timezone]),
            ),
            Single(d, "condition", background.condition, _note),
            Single(d, "personality", background.personality, _note),
            Listed(d, "hobbies", background.hobbies),
            Single(d, "life_story", background.life_story, _life_story),
        ]

    def units(self, caps: Caps) -> int | None:
        return _units(self._parts, caps)

    def body(self, caps: Caps) -> str | None:
        return _body(self._parts, caps)


def _note(caps: Caps) -> int:
    return caps.note


def _life_story(caps: Caps) -> int:
    return caps.life_story


def someone(d: Draft, name: str, relationship: str, *parts: str | None) -> str | None:
    """A list item for a family member or contact: ``- «name» («relationship»); part; part``."""
    quoted_name = quoted(name)
    if quoted_name is None:
        return None
    quoted_relationship = quoted(relationship)
    head = f"{quoted_name} ({quoted_relationship})" if quoted_relationship else quoted_name
    return item(head, *parts)


class _Members:
    """The family members kept for ``caps.items``, each with their notes shortened to ``caps.note``.

    The first ``MAX_CONTACTS`` emergency contacts always stay; of the others, up to ``caps.items``,
    emergency contacts first. The family's order stays. A member's item is the same without notes,
    plus ``; `` and the notes part when there are any left.
    """

    def __init__(self, d: Draft, members: list[FamilyMember]) -> None:
        self._draft, self._members = d, members
        ranked = sorted(range(len(members)), key=lambda i: not members[i].is_emergency_contact)
        self._protected = [i for i in ranked if members[i].is_emergency_contact][:MAX_CONTACTS]
        self._optional = [i for i in ranked if i not in self._protected]
        self._without_notes = [
            someone(
                d,
                member.name,
                member.relationship,
                d.part("phone", member.phone) if member.phone else None,
                d.pack.labels["emergency_contact"] if member.is_emergency_contact else None,
            )
            for member in members
        ]
        self._base_units = [estimate_units(line) if line else 0 for line in self._without_notes]
        self._chosen: dict[int, list[int]] = {}
        self._notes: dict[int, list[tuple[str | None, int]]] = {}

    def kept(self, caps: Caps) -> list[int]:
        """Indexes of the members kept, in the family's order, leaving out those with no item."""
        if caps.items not in self._chosen:
            chosen = {*self._protected, *self._optional[: caps.items]}
            self._chosen[caps.items] = [i for i in sorted(chosen) if self._without_notes[i]]
        return self._chosen[caps.items]

    def _notes_parts(self, caps: Caps) -> list[tuple[str | None, int]]:
        """Each member's notes part at ``caps.note`` characters and its units (0 when there is none)."""
        if caps.note not in self._notes:
            parts = [self._draft.part("notes", member.notes, caps.note) for member in self._members]
            self._notes[caps.note] = [(part, estimate_units(part) if part else 0) for part in parts]
        return self._notes[caps.note]

    def cost(self, caps: Caps) -> tuple[int, int]:
        kept, notes = self.kept(caps), self._notes_parts(caps)
        units = 0
        for i in kept:
            part, part_units = notes[i]
            units += self._base_units[i] + (_PART_SEPARATOR_UNITS + part_units if part else 0)
        return units + _NEWLINE_UNITS * max(len(kept) - 1, 0), len(kept)

    def lines(self, caps: Caps) -> list[str]:
        notes = self._notes_parts(caps)
        lines = []
        for i in self.kept(caps):
            line, part = self._without_notes[i], notes[i][0]
            assert line is not None  # ``kept`` leaves out members with no item
            lines.append(line + PART_SEPARATOR + part if part else line)
        return lines


class Family:
    """The family members kept (see ``_Members``), then every emergency contact; left out when there
    is neither."""

    def __init__(self, d: Draft) -> None:
        members = list(d.profile.family_members) if d.profile else []
        contacts = [
            someone(d, contact.name, contact.relationship, d.part("phone", contact.phone))
            for contact in d.context.safety.emergency_contacts
        ]
        self._has_contacts = any(contacts)
        self._members = _Members(d, members)
        self._parts: list[Lines] = [
            Fixed(d.say(d.pack.family_intro)),
            self._members,
            Fixed(d.pack.emergency_intro if self._has_contacts else None, *contacts),
        ]

    def _listed(self, caps: Caps) -> bool:
        return self._has_contacts or bool(self._members.kept(caps))

    def units(self, caps: Caps) -> int | None:
        return _units(self._parts, caps) if self._listed(caps) else None

    def body(self, caps: Caps) -> str | None:
        return _body(self._parts, caps) if self._listed(caps) else None


class Music:
    """What may be played: the four lists (disliked artists win over preferred), each shortened to
    ``caps.items``, then the rules when anything may be played; left out when every list is empty."""

    def __init__(self, d: Draft) -> None:
        self._draft = d
        prefs = d.context.music
        self._disabled = None if prefs.enabled else Fixed(d.say(d.pack.music_disabled))
        self._after: dict[bool, list[Lines]] = {}
        if self._disabled is not None:
            return
        all_disliked = d.clean_all(prefs.disliked_artists)
        artists = list(_not_disliked(tuple(d.clean_all(prefs.preferred_artists)), tuple(all_disliked)))
        songs, genres = d.clean_all(prefs.preferred_songs), d.clean_all(prefs.preferred_genres)
        self._playable = (artists, songs, genres)
        self._disliked = all_disliked
        self._lists: list[Lines] = [
            Listed(d, "preferred_artists", artists),
            Listed(d, "preferred_songs", songs),
            Listed(d, "preferred_genres", genres),
            Listed(d, "disliked_artists", all_disliked),
        ]

    def _parts(self, caps: Caps) -> list[Lines] | None:
        if self._disabled is not None:
            return [self._disabled]
        playable = any(values[: caps.items] for values in self._playable)
        if not playable and not self._disliked[: caps.items]:
            return None
        if playable not in self._after:
            self._after[playable] = [*self._lists, self._rules() if playable else self._nothing_listed()]
        return self._after[playable]

    def _rules(self) -> Fixed:
        d, prefs = self._draft, self._draft.context.music
        max_songs = quote(str(prefs.max_songs_per_session))
        stop_words = ", ".join(f'"{word}"' for word in d.pack.stop_words)
        return Fixed(
            d.line("max_songs_per_session", [prefs.max_songs_per_session]),
            d.say(d.pack.music_rules, stop_words=stop_words, max_songs=max_songs),
            d.say(d.pack.music_sadness_on if prefs.play_on_sadness else d.pack.music_sadness_off),
            d.say(d.pack.music_auto_play_on if prefs.allow_auto_play else d.pack.music_auto_play_off),
        )

    def _nothing_listed(self) -> Fixed:
        return Fixed(self._draft.say(self._draft.pack.music_nothing_listed))

    def units(self, caps: Caps) -> int | None:
        parts = self._parts(caps)
        return None if parts is None else _units(parts, caps)

    def body(self, caps: Caps) -> str | None:
        parts = self._parts(caps)
        return None if parts is None else _body(parts, caps)


@functools.lru_cache(maxsize=1024)  # pure; case-folding two full lists was most of the section's cost
def _not_disliked(artists: tuple[str, ...], disliked: tuple[str, ...]) -> tuple[str, ...]:
    """The artists not also disliked (compared case-insensitively): disliked wins over preferred."""
    never = {artist.casefold() for artist in disliked}
    return tuple(artist for artist in artists if artist.casefold() not in never)


def photo_index(photos: Sequence[Photo]) -> tuple[list[str], list[str]]:
    """(the people in photos the companion may offer, most photographed first; the people only in
    photos shown when the person asks). Names compare case-insensitively and without niqqud (נוֹעַם is
    נועם); the first spelling stays."""
    offered: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for photo in photos:
        for name in photo.people:
            key = _name_key(sanitize_value(name))
            if not key:
                continue
            spelling.setdefault(key, name)
            (asked if photo.only_when_asked else offered)[key] += 1

    def by_count(counts: Counter[str]) -> list[str]:
        return [spelling[key] for key, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    return by_count(offered), by_count(Counter({k: n for k, n in asked.items() if k not in offered}))


def _name_key(name: str) -> str:
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare).casefold()


class Photos:
    """The family's photos: how many, who is in them (the lists shortened to ``caps.items``), and when
    to show them (``show_photos`` is explained here, not in the tools section: only people with photos
    have the tool). Left out when there are none, and at the budget's last level (no list items at all):
    the tool's own description still says how to use it."""

    def __init__(self, d: Draft) -> None:
        self._parts: list[Lines] = []
        photos = d.context.photos
        if not photos:
            return
        offered, asked = photo_index(photos)
        self._parts = [
            Fixed(d.say(d.pack.photos_intro, count=quote(str(len(photos))))),
            Listed(d, "photo_people", offered),
            Listed(d, "photo_people_asked", asked),
            Fixed(d.say(d.pack.photos_rules)),
        ]

    def units(self, caps: Caps) -> int | None:
        return _units(self._parts, caps) if caps.items else None

    def body(self, caps: Caps) -> str | None:
        return _body(self._parts, caps) if caps.items else None


CAPPED: Final[dict[str, Callable[[Draft], CappedSection]]] = {
    "person": Person,
    "family": Family,
    "music": Music,
    "photos": Photos,
}
