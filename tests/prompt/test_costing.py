"""The builder costs the sections the budget may shorten from their parts instead of rendering every
candidate; what it builds must be what rendering everything at every level, estimating each candidate
text whole and trying memories and levels one by one gives (``tests/prompt/reference.py``)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion.profiles.models import CareContext
from companion.prompt import build
from companion.prompt.builder import LEVELS
from companion.prompt.draft import Caps, Draft
from companion.prompt.lang import pack_for
from companion.prompt.render import SECTION_SEPARATOR, Sections
from companion.prompt.tokens import estimate_tokens, estimate_units
from tests.prompt import reference
from tests.prompt.factories import max_context
from tests.prompt.test_properties import _context, contexts

SEPARATOR_UNITS = estimate_units(SECTION_SEPARATOR)
CAPS = [
    Caps(),
    *(caps for _, caps in LEVELS),
    Caps(life_story=1, note=1, items=1),
    Caps(life_story=50, note=5, items=2),
    Caps(life_story=2000, note=0, items=30),
    Caps(life_story=0, note=300, items=0),
    Caps(life_story=600, note=120, items=19),
]


def _cut(rng: random.Random, values: list[Any]) -> list[Any]:
    return values[: rng.choice([0, 1, 2, 3, 4, len(values) // 2, len(values)])]


def variant(seed: int) -> CareContext:
    """A profile at its limits with parts of it cut, emptied, repeated or switched, by ``seed``."""
    rng = random.Random(seed)
    data = max_context().model_dump(mode="json", by_alias=True)
    profile, safety, music = data["profile"], data["safety"], data["music"]
    profile["personalInfo"]["language"] = rng.choice(["he", "en"])
    profile["personalInfo"]["gender"] = rng.choice(["male", "female"])
    profile["companion"] = {"gender": rng.choice(["male", "female"]), "voice": None}
    background = profile["background"]
    for key in ("condition", "personality", "lifeStory"):
        background[key] = rng.choice(["", background[key][: rng.randint(1, 400)].strip(), background[key]])
    background["hobbies"] = _cut(rng, background["hobbies"])
    profile["familyMembers"] = _cut(rng, profile["familyMembers"])
    for member in profile["familyMembers"]:
        member["notes"] = rng.choice(["", member["notes"][:100], member["notes"]])
        member["isEmergencyContact"] = rng.random() < 0.4
        member["phone"] = rng.choice([None, member["phone"]])
    safety["emergencyContacts"] = _cut(rng, safety["emergencyContacts"])
    music["enabled"] = rng.random() < 0.85
    for key in ("preferredArtists", "preferredSongs", "preferredGenres", "dislikedArtists"):
        music[key] = _cut(rng, music[key])
        if len(music[key]) > 1 and rng.random() < 0.3:
            music[key][0] = "x" + music[key][0][1:]
            music[key][-1] = "X" + music[key][0][1:]  # a repeat, case-insensitively
    if music["preferredArtists"] and rng.random() < 0.5:  # disliked wins over preferred
        music["dislikedArtists"] = (music["dislikedArtists"] + music["preferredArtists"][:3])[:30]
    data["memories"] = data["memories"][: rng.choice([0, 1, 5, 12])]
    names = [m["name"] for m in profile["familyMembers"]] or ["נועם", "Dana"]
    data["photos"] = [
        {
            "id": f"photo-{i:016x}",
            "people": rng.sample(names, rng.randint(0, min(3, len(names)))) + (["noam"] if i % 3 else []),
            "onlyWhenAsked": rng.random() < 0.2,
            "createdAt": "2026-01-01T00:00:00Z",
        }
        for i in range(rng.choice([0, 1, 4, 30]))
    ]
    if rng.random() < 0.1:
        data["profile"] = None
    return CareContext.model_validate(data)


def _check_sections(context: CareContext, caps: Caps) -> None:
    pack = pack_for(context.profile.personal_info.language if context.profile else None)
    expected = reference.render(Draft(context=context, pack=pack, caps=caps, memories=()))
    sections = Sections(context, pack)
    units, count = sections.cost(caps)
    assert sections.render(caps) == expected
    assert count == len(expected)
    text = SECTION_SEPARATOR.join(section.text for section in expected)
    assert units + SEPARATOR_UNITS * (count - 1) == estimate_units(text)


def _budgets(context: CareContext) -> list[int]:
    """Exactly what the full text, the text without memories and each level need, and one less."""
    pack = pack_for(context.profile.personal_info.language if context.profile else None)
    with_memories = reference.build(context, budget_tokens=10**9).tokens_estimate
    needs = {with_memories}
    for caps in (Caps(), *(caps for _, caps in LEVELS)):
        sections = reference.render(Draft(context=context, pack=pack, caps=caps, memories=()))
        needs.add(estimate_tokens(SECTION_SEPARATOR.join(section.text for section in sections)))
    return sorted({need + delta for need in needs for delta in (-1, 0)})


@pytest.mark.parametrize("seed", range(12))
def test_sections_cost_what_the_reference_text_costs(seed: int) -> None:
    context = variant(seed)
    for caps in CAPS:
        _check_sections(context, caps)


@pytest.mark.parametrize("seed", range(12))
def test_build_is_the_reference_build_at_every_boundary(seed: int) -> None:
    context = variant(seed)
    for budget in _budgets(context):
        assert build(context, budget_tokens=budget) == reference.build(context, budget_tokens=budget), budget


def test_a_profile_at_every_limit_is_the_reference_build() -> None:
    context = max_context()
    assert build(context) == reference.build(context)
    context = context.model_copy(update={"memories": context.memories[:12]})
    for budget in _budgets(context):
        assert build(context, budget_tokens=budget) == reference.build(context, budget_tokens=budget), budget


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(contexts, st.sampled_from(CAPS), st.integers(300, 3000))
def test_hostile_text_costs_what_the_reference_text_costs(
    data: dict[str, Any], caps: Caps, budget: int
) -> None:
    context = _context(data)
    _check_sections(context, caps)
    assert build(context, budget_tokens=budget) == reference.build(context, budget_tokens=budget)
