"""The token estimate and the budget policy, up to a profile at every schema limit."""

from __future__ import annotations

import math
import re

import pytest

from companion.profiles.models import MAX_MEMORIES, MAX_RULES, Gender
from companion.prompt import DEFAULT_BUDGET_TOKENS, LANGUAGES, build, estimate_tokens
from companion.prompt.render import inflect
from tests.prompt.factories import context, data_lines, hebrew, max_context, memory, profile

HE = LANGUAGES["he"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("abcd", 1),
        ("abcde", 2),
        ("שלום", 2),  # 4 Hebrew letters / 2.5 = 1.6
        ("ש" * 2000, 800),
        ("a" * 2000, 500),
        ("日本", 2),
        ("🙂", 2),
    ],
)
def test_estimate_tokens(text: str, expected: int) -> None:
    assert estimate_tokens(text) == expected


def test_estimate_is_conservative_for_hebrew() -> None:
    story = hebrew(2000, "סיפור")
    assert estimate_tokens(story) >= math.ceil(len(story) / 2.5)
    assert estimate_tokens(story + "abc") >= estimate_tokens(story)


def test_default_budget_is_6000() -> None:
    assert DEFAULT_BUDGET_TOKENS == 6000


def test_a_normal_profile_fits_untouched() -> None:
    result = build(context())
    assert result.tokens_estimate == estimate_tokens(result.text) <= DEFAULT_BUDGET_TOKENS
    assert result.dropped_memories == 0
    assert result.trimmed == ()


def _memory_context(count: int):  # type: ignore[no-untyped-def]
    memories = tuple(memory(hebrew(300, f"זיכרון{i:02d}"), importance=i % 5 + 1, day=i) for i in range(count))
    return context().model_copy(update={"memories": memories})


def test_memories_go_least_important_then_oldest_first() -> None:
    ctx = _memory_context(20)
    full = build(ctx, budget_tokens=10**6)
    expected_drop_order = [f"זיכרון{i:02d}" for i in sorted(range(20), key=lambda i: (i % 5 + 1, i))]
    none_kept = build(ctx.model_copy(update={"memories": ()})).tokens_estimate
    for budget in range(full.tokens_estimate, none_kept - 1, -97):
        result = build(ctx, budget_tokens=budget)
        assert result.tokens_estimate <= budget
        kept = re.findall(r"^- «(זיכרון\d\d)", result.text, flags=re.MULTILINE)
        assert set(kept) == set(expected_drop_order[result.dropped_memories :])
        assert len(kept) == 20 - result.dropped_memories
        assert result.trimmed == ()
    assert build(ctx, budget_tokens=full.tokens_estimate - 1).dropped_memories == 1


def test_dropping_is_minimal() -> None:
    ctx = _memory_context(20)
    budget = build(ctx, budget_tokens=10**6).tokens_estimate - 300
    result = build(ctx, budget_tokens=budget)
    assert result.dropped_memories >= 1
    # Keeping one more memory (the next in drop order) would have gone over the budget.
    drop_order = sorted(ctx.memories, key=lambda m: (m.importance, m.created_at))
    one_more = ctx.model_copy(update={"memories": tuple(drop_order[result.dropped_memories - 1 :])})
    assert build(one_more, budget_tokens=10**6).tokens_estimate > budget
    exact = ctx.model_copy(update={"memories": tuple(drop_order[result.dropped_memories :])})
    assert build(exact, budget_tokens=10**6).text == result.text


def test_life_story_is_cut_before_notes() -> None:
    long_story = {"lifeStory": hebrew(2000, "סיפור"), "condition": hebrew(300, "מצב")}
    ctx = context().model_copy(update={"profile": profile(background=long_story), "memories": ()})
    full = build(ctx, budget_tokens=10**6).tokens_estimate
    result = build(ctx, budget_tokens=full - 200)
    assert result.trimmed == ("life_story",)
    assert result.tokens_estimate <= full - 200
    assert data_lines(result.text)["condition"] == [long_story["condition"]]  # notes untouched
    story = data_lines(result.text)["life_story"][0]
    assert story.endswith("…")
    assert len(story) <= 600


def test_maximum_profile_fits_and_keeps_every_safety_rule_and_medication() -> None:
    ctx = max_context()
    assert len(ctx.memories) == MAX_MEMORIES
    assert estimate_tokens(build(ctx, budget_tokens=10**7).text) > 20 * DEFAULT_BUDGET_TOKENS / 6
    result = build(ctx)
    assert result.tokens_estimate == estimate_tokens(result.text) <= DEFAULT_BUDGET_TOKENS
    assert result.dropped_memories == MAX_MEMORIES
    for name in ("identity", "cognitive", "medications", "safety", "style", "tools"):
        assert name in result.section_names
    text = result.text
    assert "דבר אך ורק בעברית" in text
    assert inflect(HE.medications_rules, Gender.FEMALE) in text
    assert inflect(HE.safety_baseline, Gender.FEMALE) in text
    assert inflect(HE.crisis_rules, Gender.FEMALE) in text
    assert inflect(HE.forbidden_rules, Gender.FEMALE) in text
    assert inflect(HE.never_allow_intro, Gender.FEMALE) in text
    for i in range(MAX_RULES):
        assert f"«כלל{i:02d}" in text, f"never-allow rule {i} is missing"
        assert f"«מצוקה{i:02d}" in text, f"crisis phrase {i} is missing"
        assert f"«נושא{i:02d}" in text, f"forbidden topic {i} is missing"
    assert len(data_lines(text)["crisis_phrases"]) == MAX_RULES
    assert len(data_lines(text)["forbidden_topics"]) == MAX_RULES
    medication_lines = [line for line in text.splitlines() if line.startswith("- «תרופה")]
    assert len(medication_lines) == len(ctx.safety.medications)
    all_times = ", ".join(f"«{t}»" for t in ctx.safety.medications[0].times)
    assert all(all_times in line for line in medication_lines)
    assert data_lines(text)["preferred_name"]


def test_a_tiny_budget_never_drops_protected_sections() -> None:
    result = build(max_context(), budget_tokens=1)
    assert result.tokens_estimate > 1  # best effort, and it says so
    assert {"identity", "medications", "safety", "tools"} <= set(result.section_names)
    assert result.trimmed == ("life_story", "notes", "lists", "values")
