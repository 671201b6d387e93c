"""Care context -> the model's instructions. Pure: no I/O, no clock, no randomness.

The same context always gives byte-identical text and so the same ``version``, which is what lets a
live session skip a ``session.update`` when a save changed nothing the model sees. The current time is
deliberately not in the text (it would change the version every minute); the session supplies it.

Budget policy
-------------
The instructions must stay under ``budget_tokens`` (estimated by ``estimate_tokens``, which
over-counts). When the full text is over budget, the builder gives up, in this order, only as much
as it must:

1. memories, one at a time: lowest importance first, then oldest first (the result equals dropping
   them one by one; a binary search finds the count, since each drop only shortens the text);
2. the life story, shortened, then left out;
3. background and family notes (condition, personality, a family member's notes): the cap on their
   length is lowered, so the longest are cut first, then they are left out;
4. optional lists (hobbies, music lists, family members): shortened to their first entries, then
   emptied. Family members who are emergency contacts (up to ``MAX_CONTACTS`` of them) always stay.

Never cut, shortened or dropped: safety and medication content (every never-allow rule with its
reason, every crisis phrase with its action, every forbidden topic, every emergency contact, every
medication with its name, dosage, each time and its instructions), the person's names, and the
identity, cognitive, style and tools sections. The schema's limits (``profiles/models.py``) are set
so that all of that fits the default budget for a profile at every limit; ``tests/prompt`` proves it.
If it still does not fit (a budget far below the default, or text in a script that costs more
tokens per character than Hebrew), the smallest text is returned with the safety content whole,
``over_budget`` set and ``tokens_estimate`` showing by how much: cutting a rule or a dosage to make
room would be worse than a long prompt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any, Final, NamedTuple

from companion.profiles.models import DEFAULT_COMPANION_GENDER, CareContext, Gender, Memory

from . import continuity
from .lang import LanguagePack, pack_for
from .render import (
    SECTION_SEPARATOR,
    Caps,
    Draft,
    Section,
    Sections,
    memories_intro,
    memory_item,
    section_head,
)
from .tokens import estimate_units, units_to_tokens

DEFAULT_BUDGET_TOKENS: Final = 6000  # leaves most of a realtime model's context for the conversation
VERSION_HEX_CHARS: Final = 16  # 64 bits: collisions between two versions of one profile are negligible

# Step 2 onwards of the budget policy: (what was cut, limits), each level tighter than the one before.
# ``Caps`` has no limit for safety or medication content, so no level can cut it.
LEVELS: Final[tuple[tuple[str, Caps], ...]] = (
    ("life_story", Caps(life_story=600)),
    ("life_story", Caps(life_story=0)),
    ("notes", Caps(life_story=0, note=120)),
    ("notes", Caps(life_story=0, note=0)),
    ("lists", Caps(life_story=0, note=0, items=10)),
    ("lists", Caps(life_story=0, note=0, items=3)),
    ("lists", Caps(life_story=0, note=0, items=0)),  # last: only what keeps them safe and addressed
)


@dataclass(frozen=True, slots=True)
class Instructions:
    """The compiled instructions and what the relay and the dashboard need to know about them."""

    text: str
    version: str  # first 16 hex characters of the SHA-256 of ``text``
    language: str
    # (name, start, end) of each section in ``text``: a live session keeps its instructions for as long
    # as it lasts, and a second copy of the text in the sections was ~12 KB of each idle session
    spans: tuple[tuple[str, int, int], ...]
    tokens_estimate: int
    dropped_memories: int
    trimmed: tuple[str, ...] = ()  # budget steps beyond memories that were applied, in order
    # True when even every allowed cut left the text over budget; the safety content is still whole
    over_budget: bool = False
    # The companion's gender (the text speaks of it too) and the voice the family chose for it (None: the
    # service chooses, ``profiles.models.session_voice``): a conversation starts with them.
    companion_gender: Gender = DEFAULT_COMPANION_GENDER
    voice: str | None = None

    @property
    def sections(self) -> tuple[Section, ...]:
        """The titled parts, cut from ``text`` when asked (the dashboard and the tests ask)."""
        return tuple(Section(name, self.text[start:end]) for name, start, end in self.spans)

    @property
    def section_names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.spans)


class _Attempt(NamedTuple):
    sections: tuple[Section, ...]
    text: str
    tokens: int
    dropped: int


def _spans(sections: tuple[Section, ...]) -> tuple[tuple[str, int, int], ...]:
    """Where each section lies in the text that joins them with :data:`SECTION_SEPARATOR`."""
    spans, start = [], 0
    for section in sections:
        end = start + len(section.text)
        spans.append((section.name, start, end))
        start = end + len(SECTION_SEPARATOR)
    return tuple(spans)


def _moment(memory: Memory) -> float:
    """Seconds since the epoch; a naive timestamp is taken as UTC so mixed inputs still sort."""
    created = memory.created_at
    return (created if created.tzinfo else created.replace(tzinfo=UTC)).timestamp()


def _drop_key(memory: Memory) -> tuple[int, float, str, str, str, str]:
    """Lowest importance, then oldest, first; the rest makes the order total, so input order never matters."""
    return (
        memory.importance,
        _moment(memory),
        memory.id,
        memory.text,
        memory.type.value,
        memory.source.value,
    )


def build(context: CareContext, *, budget_tokens: int = DEFAULT_BUDGET_TOKENS) -> Instructions:
    """Compile ``context`` into instructions within ``budget_tokens`` (see the module docstring); what
    it recalls of earlier conversations comes last, within the budget the rest left
    (``continuity.py``)."""
    built = _build(context, budget_tokens=budget_tokens)
    if not context.history and not context.recent_turns:
        return built
    left = budget_tokens - built.tokens_estimate - units_to_tokens(_SEPARATOR_UNITS)
    section = continuity.fit(context, built.language, left)
    if section is None:
        return built
    text = built.text + SECTION_SEPARATOR + section
    start = len(built.text) + len(SECTION_SEPARATOR)
    return replace(
        built,
        text=text,
        version=hashlib.sha256(text.encode("utf-8")).hexdigest()[:VERSION_HEX_CHARS],
        spans=(*built.spans, (continuity.SECTION, start, len(text))),
        tokens_estimate=units_to_tokens(estimate_units(text)),
    )


def _build(context: CareContext, *, budget_tokens: int) -> Instructions:
    profile = context.profile
    pack = pack_for(profile.personal_info.language if profile else None)
    # Each memory's line is rendered and costed once, and only if some could be kept (a profile whose
    # other sections alone exceed the budget keeps none); the search only chooses how many to keep.
    every = len(context.memories)
    memories: list[tuple[tuple[str | None, ...], _MemoryCosts]] = []

    def memory_lines() -> tuple[tuple[str | None, ...], _MemoryCosts]:
        if not memories:
            ordered = sorted(context.memories, key=_drop_key)
            lines = tuple(memory_item(pack, memory) for memory in ordered)
            memories.append((lines, _MemoryCosts(pack, context, lines)))
        return memories[0]

    # every other section: rendered once, or for the capped ones costed per level and rendered once
    others = Sections(context, pack)

    def tokens(caps: Caps, dropped: int) -> int:
        """The estimate of the text that ``attempt`` would render, from the parts' costs alone."""
        units, count = others.cost(caps)
        if dropped < every:
            costs = memory_lines()[1]
            if costs.kept_lines(dropped):
                units += costs.section_units(dropped)
                count += 1
        return units_to_tokens(units + _SEPARATOR_UNITS * max(count - 1, 0))

    def attempt(caps: Caps, dropped: int) -> _Attempt:
        drop_order = memory_lines()[0] if dropped < every else ()
        kept = tuple(line for line in reversed(drop_order[dropped:]) if line)  # most important first
        sections = others.render(caps, kept)
        text = SECTION_SEPARATOR.join(section.text for section in sections)
        return _Attempt(sections, text, tokens(caps, dropped), dropped)  # the text's own estimate

    def result(chosen: _Attempt, trimmed: tuple[str, ...] = ()) -> Instructions:
        return Instructions(
            text=chosen.text,
            version=hashlib.sha256(chosen.text.encode("utf-8")).hexdigest()[:VERSION_HEX_CHARS],
            language=pack.code,
            spans=_spans(chosen.sections),
            tokens_estimate=chosen.tokens,
            dropped_memories=chosen.dropped,
            trimmed=trimmed,
            over_budget=chosen.tokens > budget_tokens,
            **companion_of(context),
        )

    full = Caps()
    if tokens(full, every) <= budget_tokens:  # without memories it fits: keep as many as fit
        if tokens(full, 0) <= budget_tokens:
            return result(attempt(full, 0))
        low, high = 1, every  # dropping ``high`` fits; dropping ``low - 1`` does not
        while low < high:
            middle = (low + high) // 2
            if tokens(full, middle) <= budget_tokens:
                high = middle
            else:
                low = middle + 1
        return result(attempt(full, high))
    # The first level that fits, by bisection: each level cuts at least what the one before it cut, so
    # the estimate never grows from one level to the next, and a profile full to its limits renders
    # three levels instead of all seven.
    low, high = 0, len(LEVELS) - 1  # the last level is taken even when nothing fits
    while low < high:
        middle = (low + high) // 2
        if tokens(LEVELS[middle][1], every) <= budget_tokens:
            high = middle
        else:
            low = middle + 1
    trimmed = tuple(dict.fromkeys(step for step, _ in LEVELS[: low + 1]))
    return result(attempt(LEVELS[low][1], every), trimmed)


def companion_of(context: CareContext) -> dict[str, Any]:
    """The ``companion_gender`` and ``voice`` of the instructions for ``context``."""
    if context.profile is None:
        return {"companion_gender": DEFAULT_COMPANION_GENDER, "voice": None}
    companion = context.profile.companion
    return {"companion_gender": companion.gender, "voice": companion.voice.value if companion.voice else None}


_NEWLINE_UNITS: Final = estimate_units("\n")
_SEPARATOR_UNITS: Final = estimate_units(SECTION_SEPARATOR)


class _MemoryCosts:
    """Costs of the memories section for any number of dropped memories, from per-line costs.

    The section is ``## title`` + intro, then one line per kept memory, joined by newlines, so its
    cost is the head's plus, for the kept lines, their own and one newline each.
    """

    def __init__(self, pack: LanguagePack, context: CareContext, lines: tuple[str | None, ...]) -> None:
        draft = Draft(context=context, pack=pack, caps=Caps(), memories=())
        self._head = estimate_units(section_head(draft, "memories") + memories_intro(draft))
        # suffix sums over the drop order: what is kept when the first ``i`` lines are dropped
        self._units = [0] * (len(lines) + 1)
        self._count = [0] * (len(lines) + 1)
        for i in range(len(lines) - 1, -1, -1):
            line = lines[i]
            self._units[i] = self._units[i + 1] + (estimate_units(line) + _NEWLINE_UNITS if line else 0)
            self._count[i] = self._count[i + 1] + (1 if line else 0)

    def kept_lines(self, dropped: int) -> int:
        return self._count[dropped]

    def section_units(self, dropped: int) -> int:
        return self._head + self._units[dropped]
