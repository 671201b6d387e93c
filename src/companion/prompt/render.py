"""Each section of the instructions as a pure function of (care context, language pack, limits).

Renderers never see raw caregiver text: every value goes through ``sanitize_value`` and ``quote``
(``draft.py``), so no section can forget it. A renderer returns ``None`` when its data is empty, and
the section is left out.

Only what the budget policy may cut is ever capped (``Caps``): the life story, background and family
notes, and the optional lists, all in the person, family and music sections (``capped.py``).
Everything else, and above all every safety and medication value, is rendered whole
(``sanitize_value`` with no cap beyond its absolute ``MAX_VALUE_CHARS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from companion.profiles.models import LONG_TEXT, CareContext, Memory, Severity

from .capped import CAPPED, CappedSection
from .draft import ITEM_PREFIX, Caps, Draft, Section, inflect, item, join_lines, quoted
from .lang import SECTION_NAMES, LanguagePack
from .sanitize import quote, sanitize_value
from .tokens import estimate_units

__all__ = [
    "SECTION_SEPARATOR",
    "Caps",
    "Draft",
    "Section",
    "Sections",
    "inflect",
    "memories_intro",
    "memory_item",
    "section_head",
]


def identity(d: Draft) -> str:
    """Who the companion is, in its own gender (with that gender as a data line the offline engine
    reads), the language rule, how to address the person, and what «» means."""
    gender, companion = d.gender, d.companion_gender
    addressing = d.pack.addressing[gender] if gender else d.pack.addressing_unknown
    return join_lines(
        d.say(d.pack.persona),
        d.say(d.pack.language_rule),
        d.say(d.pack.self_reference[companion]),
        d.line("companion_gender", [companion.value]),
        addressing,
        d.say(d.pack.data_note),
    )


def cognitive(d: Draft) -> str:
    if d.profile is None:
        return d.say(d.pack.cognitive_unknown)
    return d.say(d.pack.cognitive[d.profile.cognitive_mode])


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
    return join_lines(d.say(d.pack.routine_intro), *lines) if lines else None


def medications(d: Draft) -> str | None:
    meds = d.context.safety.medications
    if not meds:
        return None
    items = [
        item(
            quoted(med.name),
            d.part("dosage", med.dosage),
            f"{d.pack.labels['times']}: " + ", ".join(quote(time) for time in d.clean_all(med.times)),
            d.part("instructions", med.instructions),
        )
        for med in meds
    ]
    return join_lines(d.say(d.pack.medications_intro), *items, d.say(d.pack.medications_rules))


def safety(d: Draft) -> str:
    rules = d.context.safety
    never = [
        item(
            quoted(rule.rule),
            d.part("reason", rule.reason),
            d.part("severity", rule.severity.value),
        )
        for rule in rules.never_allow
    ]
    crisis_line = d.line("crisis_phrases", [trigger.phrase for trigger in rules.crisis_triggers])
    crisis_details = [
        item(
            quoted(trigger.phrase),
            d.part("severity", trigger.severity.value),
            d.part("action", trigger.action),
        )
        for trigger in rules.crisis_triggers
        if trigger.severity is not Severity.CRITICAL or sanitize_value(trigger.action)
    ]
    forbidden_line = d.line("forbidden_topics", rules.forbidden_topics)
    return join_lines(
        d.say(d.pack.safety_baseline),
        *((d.say(d.pack.never_allow_intro), *never) if any(never) else ()),
        *((crisis_line, d.say(d.pack.crisis_rules), *crisis_details) if crisis_line else ()),
        *((forbidden_line, d.say(d.pack.forbidden_rules)) if forbidden_line else ()),
    )


def memory_item(pack: LanguagePack, memory: Memory) -> str | None:
    """One memory as a list item; the builder renders each once and reuses it while fitting the budget."""
    text = quoted(memory.text, LONG_TEXT)
    return f"{ITEM_PREFIX}{text} ({pack.memory_types[memory.type]})" if text else None


def memories_intro(d: Draft) -> str:
    return d.say(d.pack.memories_intro)


def memories(d: Draft) -> str | None:
    if not d.memories:
        return None
    return join_lines(memories_intro(d), *d.memories)


def style(d: Draft) -> str:
    return d.say(d.pack.style)


def tools(d: Draft) -> str:
    return d.say(d.pack.tools)


# The sections no limit changes; the capped ones are in ``CAPPED``, and the memories are the builder's.
RENDERERS: Final[dict[str, Callable[[Draft], str | None]]] = {
    "identity": identity,
    "cognitive": cognitive,
    "routine": routine,
    "medications": medications,
    "safety": safety,
    "memories": memories,
    "style": style,
    "tools": tools,
}
if sorted([*RENDERERS, *CAPPED]) != sorted(SECTION_NAMES):  # pragma: no cover - caught at import
    raise RuntimeError("RENDERERS and CAPPED must together list every section of SECTION_NAMES once")


SECTION_SEPARATOR = "\n\n"


def section_head(draft: Draft, name: str) -> str:
    return f"## {draft.pack.titles[name]}\n"


class Sections:
    """The sections of one build, for any limits and memories.

    Those no limit changes are rendered once; the capped ones are costed for every level the budget
    search asks about and rendered only for the one chosen (``capped.py``). The memories section is
    the builder's to cost (it chooses which memories fit) and is rendered from the lines it keeps.
    """

    def __init__(self, context: CareContext, pack: LanguagePack) -> None:
        self._draft = Draft(context=context, pack=pack, caps=Caps(), memories=())
        # per section, in order: its text when no limit changes it, else its model; its head and units
        self._parts: list[tuple[str, Section | None, CappedSection | None, str, int]] = []
        self._fixed_units = self._fixed_count = 0
        for name in SECTION_NAMES:
            head = section_head(self._draft, name)
            if name in CAPPED:
                self._parts.append((name, None, CAPPED[name](self._draft), head, estimate_units(head)))
                continue
            body = None if name == "memories" else RENDERERS[name](self._draft)
            section = Section(name, head + body) if body else None
            self._parts.append((name, section, None, head, 0))
            if section is not None:
                self._fixed_units += estimate_units(section.text)
                self._fixed_count += 1
        self._costs: dict[Caps, tuple[int, int]] = {}

    def cost(self, caps: Caps) -> tuple[int, int]:
        """Estimate units of every section but the memories, for ``caps``, and how many there are.

        A section is its head, which ends with a newline, then its body, so its units are the two's;
        the sections joined by :data:`SECTION_SEPARATOR` cost their sum plus one separator between
        each two (``tokens.estimate_units``).
        """
        if caps not in self._costs:
            units, count = self._fixed_units, self._fixed_count
            for _, _, model, _, head_units in self._parts:
                body_units = model.units(caps) if model is not None else None
                if body_units is not None:
                    units += head_units + body_units
                    count += 1
            self._costs[caps] = (units, count)
        return self._costs[caps]

    def render(self, caps: Caps, memory_lines: tuple[str, ...] = ()) -> tuple[Section, ...]:
        """All non-empty sections, in order, each starting with its ``## title`` line."""
        sections = []
        for name, section, model, head, _ in self._parts:
            if model is not None:
                body = model.body(caps)
                section = Section(name, head + body) if body else None
            elif name == "memories":
                body = memories(Draft(self._draft.context, self._draft.pack, caps, memory_lines))
                section = Section(name, head + body) if body else None
            if section is not None:
                sections.append(section)
        return tuple(sections)
