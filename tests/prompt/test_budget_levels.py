"""The budget levels are searched by bisection, which is right only while each level's text is no
longer than the one before it; and the level bisection finds is the first that fits."""

from __future__ import annotations

import pytest

from companion.prompt import LANGUAGES, build
from companion.prompt.builder import LEVELS
from companion.prompt.lang import pack_for
from companion.prompt.render import SECTION_SEPARATOR, Sections
from companion.prompt.tokens import estimate_tokens
from tests.prompt.factories import max_context


def _level_tokens(language: str) -> list[int]:
    context = max_context()
    context.profile.personal_info.language = language  # type: ignore[union-attr]
    sections_of = Sections(context, pack_for(language))
    counts = []
    for _, caps in LEVELS:
        sections = sections_of.render(caps)
        counts.append(estimate_tokens(SECTION_SEPARATOR.join(s.text for s in sections)))
    return counts


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_no_level_is_longer_than_the_one_before(language: str) -> None:
    counts = _level_tokens(language)
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > counts[-1]  # the levels do cut something from a profile at every limit


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_the_chosen_level_is_the_first_that_fits(language: str) -> None:
    counts = _level_tokens(language)
    context = max_context()
    context.profile.personal_info.language = language  # type: ignore[union-attr]
    for index in range(len(LEVELS)):
        budget = counts[index]  # exactly what this level needs (and the ones before it do not fit)
        if index and counts[index - 1] == budget:
            continue
        result = build(context, budget_tokens=budget)
        expected = tuple(dict.fromkeys(step for step, _ in LEVELS[: index + 1]))
        assert result.trimmed == expected
        assert result.dropped_memories == len(context.memories)
