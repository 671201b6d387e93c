"""What every section renderer works with: the data, the language, the limits, and the few shapes a
line of the instructions can take.

Renderers never see raw caregiver text: every value goes through ``sanitize_value`` and ``quote``
here, in one place, so no section can forget it. Data the offline engine reads is written as one
line, ``<label> [<key>]: «v1», «v2»``; records with several parts (a family member, a medication)
are list items, ``- «name»; <label>: «value»``, which carry no ``[key]`` and so can repeat.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from companion.profiles.models import (
    DEFAULT_COMPANION_GENDER,
    LONG_TEXT,
    MAX_FAMILY,
    MAX_HOBBIES,
    MAX_MUSIC_ITEMS,
    MEDIUM_TEXT,
    CareContext,
    Gender,
    Profile,
)

from .lang import LanguagePack
from .sanitize import MAX_VALUE_CHARS, quote, sanitize_value

_ALTERNATION = re.compile(r"\{([^{}|]*)\|([^{}|]*)(?:\|([^{}|]*))?\}")
_COMPANION_ALTERNATION = re.compile(r"\{@([^{}|]*)\|([^{}|]*)\}")
_SLOT = re.compile(r"\{([a-z_]+)\}")

LIST_SEPARATOR = ", "  # between the values of a data line
PART_SEPARATOR = "; "  # between the parts of a list item
ITEM_PREFIX = "- "


def inflect(template: str, gender: Gender | None, companion: Gender = DEFAULT_COMPANION_GENDER) -> str:
    """Resolve ``{@masculine|feminine}`` forms for the ``companion``'s gender, then
    ``{masculine|feminine}`` / ``{masculine|feminine|unknown}`` forms for the person's ``gender``."""
    template = _COMPANION_ALTERNATION.sub(
        lambda match: match.group(1) if companion is Gender.MALE else match.group(2), template
    )

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

    @property
    def companion_gender(self) -> Gender:
        """The companion's own gender: the profile's setting, its default when there is no profile."""
        return self.profile.companion.gender if self.profile else DEFAULT_COMPANION_GENDER

    def say(self, template: str, **slots: str) -> str:
        """Pack text in the person's and the companion's genders; slots hold pack text or already
        quoted data."""
        text, has_slots = _inflected(template, self.gender, self.companion_gender)
        return _SLOT.sub(lambda match: slots[match.group(1)], text) if has_slots else text

    def clean_all(self, values: Iterable[object], cap: int = MAX_VALUE_CHARS) -> list[str]:
        """Sanitised, non-empty, de-duplicated (case-insensitively) values, in the given order."""
        return list(clean_all(tuple(map(str, values)), cap))

    def line_head(self, key: str) -> str:
        """What a data line starts with, before its values."""
        return f"{self.pack.labels[key]} [{key}]: "

    def line(self, key: str, values: Iterable[object], cap: int = MAX_VALUE_CHARS) -> str | None:
        """A data line, or ``None`` when no value is left after sanitising."""
        clean = self.clean_all(values, cap)
        if not clean:
            return None
        return self.line_head(key) + LIST_SEPARATOR.join(quote(value) for value in clean)

    def part(self, key: str, value: object, cap: int = MAX_VALUE_CHARS) -> str | None:
        """One labelled part of a list item, ``label: «value»``."""
        clean = sanitize_value(str(value), cap)
        return f"{self.pack.labels[key]}: {quote(clean)}" if clean else None


# Pure: a pack's templates in each gender are a few hundred texts, resolved by two regular expressions
# with a Python callback per alternation, and every section of every build says several of them.
@functools.lru_cache(maxsize=1024)
def _inflected(template: str, gender: Gender | None, companion: Gender) -> tuple[str, bool]:
    """``inflect(template, gender, companion)``, and whether it still has ``{slot}``s to fill."""
    text = inflect(template, gender, companion)
    return text, _SLOT.search(text) is not None


def forget_cached_text() -> None:
    """Caregiver text kept by the caches here leaves memory (an erasure: it may hold health data).
    The templates' cache holds no caregiver text and stays."""
    clean_all.cache_clear()


@functools.lru_cache(maxsize=4096)  # pure; every refresh and every budget attempt cleans the same lists
def clean_all(values: tuple[str, ...], cap: int) -> tuple[str, ...]:
    """Sanitised, non-empty values without case-insensitive repeats, first seen kept.

    Each value is kept or not by itself and those before it, so the values kept of the first ``k``
    are the first of the values kept of all.
    """
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        clean = sanitize_value(value, cap)
        folded = clean.casefold()
        if clean and folded not in seen:
            seen.add(folded)
            out.append(clean)
    return tuple(out)


def item(*parts: str | None) -> str | None:
    """A list item of the parts that are present, or ``None`` when none is."""
    present = [part for part in parts if part]
    return ITEM_PREFIX + PART_SEPARATOR.join(present) if present else None


def join_lines(*lines: str | None) -> str:
    return "\n".join(line for line in lines if line)


def quoted(value: str, cap: int = MAX_VALUE_CHARS) -> str | None:
    clean = sanitize_value(value, cap)
    return quote(clean) if clean else None
