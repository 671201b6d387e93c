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
from dataclasses import dataclass
from datetime import UTC
from typing import Final, NamedTuple

from companion.profiles.models import CareContext, Memory

from .lang import pack_for
from .render import Caps, Draft, Section, memory_item, render
from .tokens import estimate_tokens

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
    sections: tuple[Section, ...]
    tokens_estimate: int
    dropped_memories: int
    trimmed: tuple[str, ...] = ()  # budget steps beyond memories that were applied, in order
    # True when even every allowed cut left the text over budget; the safety content is still whole
    over_budget: bool = False

    @property
    def section_names(self) -> tuple[str, ...]:
        return tuple(section.name for section in self.sections)


class _Attempt(NamedTuple):
    sections: tuple[Section, ...]
    text: str
    tokens: int
    dropped: int


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
    """Compile ``context`` into instructions within ``budget_tokens`` (see the module docstring)."""
    profile = context.profile
    pack = pack_for(profile.personal_info.language if profile else None)
    # Each memory's line is rendered once; the budget search only chooses how many to keep.
    drop_order = tuple(memory_item(pack, memory) for memory in sorted(context.memories, key=_drop_key))

    def attempt(caps: Caps, dropped: int) -> _Attempt:
        kept = tuple(line for line in reversed(drop_order[dropped:]) if line)  # most important first
        sections = render(Draft(context=context, pack=pack, caps=caps, memories=kept))
        text = "\n\n".join(section.text for section in sections)
        return _Attempt(sections, text, estimate_tokens(text), dropped)

    def result(chosen: _Attempt, trimmed: tuple[str, ...] = ()) -> Instructions:
        return Instructions(
            text=chosen.text,
            version=hashlib.sha256(chosen.text.encode("utf-8")).hexdigest()[:VERSION_HEX_CHARS],
            language=pack.code,
            sections=chosen.sections,
            tokens_estimate=chosen.tokens,
            dropped_memories=chosen.dropped,
            trimmed=trimmed,
            over_budget=chosen.tokens > budget_tokens,
        )

    full = Caps()
    first = attempt(full, 0)
    if first.tokens <= budget_tokens:
        return result(first)
    without_memories = attempt(full, len(drop_order))
    if without_memories.tokens <= budget_tokens:
        low, high = 1, len(drop_order)  # dropping ``high`` fits; dropping ``low - 1`` does not
        while low < high:
            middle = (low + high) // 2
            if attempt(full, middle).tokens <= budget_tokens:
                high = middle
            else:
                low = middle + 1
        return result(attempt(full, high))
    trimmed: list[str] = []
    last = without_memories
    for step, caps in LEVELS:
        if step not in trimmed:
            trimmed.append(step)
        last = attempt(caps, len(drop_order))
        if last.tokens <= budget_tokens:
            break
    return result(last, tuple(trimmed))
