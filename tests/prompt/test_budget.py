"""The token estimate and the budget policy, up to a profile at every schema limit."""

from __future__ import annotations

import math
import re

import pytest

from companion.profiles.models import (
    ACTION_TEXT,
    DOSAGE_TEXT,
    INSTRUCTIONS_TEXT,
    LONG_TEXT,
    MAX_CONTACTS,
    MAX_CRISIS_TRIGGERS,
    MAX_FAMILY,
    MAX_FORBIDDEN_TOPICS,
    MAX_HOBBIES,
    MAX_MEDICATIONS,
    MAX_MEMORIES,
    MAX_MUSIC_ITEMS,
    MAX_NEVER_ALLOW,
    MAX_TIMES_PER_MEDICATION,
    MEDICATION_NAME_TEXT,
    NAME_TEXT,
    PHRASE_TEXT,
    RELATIONSHIP_TEXT,
    RULE_TEXT,
    CareContext,
    Gender,
)
from companion.prompt import DEFAULT_BUDGET_TOKENS, LANGUAGES, Instructions, build, estimate_tokens
from companion.prompt.render import inflect
from companion.prompt.sanitize import ELLIPSIS, sanitize_value
from tests.prompt.factories import context, data_lines, hebrew, max_context, memory, profile


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


def _item(*parts: str) -> str:
    return "- " + "; ".join(parts)


def assert_safety_and_medications_whole(ctx: CareContext, result: Instructions) -> None:
    """Every safety and medication value is in the text exactly as sanitised: nothing shortened."""
    labels = LANGUAGES[result.language].labels
    safety = ctx.safety
    lines = set(result.text.splitlines())
    for med in safety.medications:
        times = ", ".join(f"«{sanitize_value(time)}»" for time in med.times)
        expected = _item(
            f"«{sanitize_value(med.name)}»",
            f"{labels['dosage']}: «{sanitize_value(med.dosage)}»",
            f"{labels['times']}: {times}",
            f"{labels['instructions']}: «{sanitize_value(med.instructions)}»",
        )
        assert expected in lines, f"medication {med.name[:8]} is not whole"
    for rule in safety.never_allow:
        expected = _item(
            f"«{sanitize_value(rule.rule)}»",
            f"{labels['reason']}: «{sanitize_value(rule.reason)}»",
            f"{labels['severity']}: «{rule.severity.value}»",
        )
        assert expected in lines, f"never-allow rule {rule.rule[:8]} is not whole"
    for trigger in safety.crisis_triggers:
        expected = _item(
            f"«{sanitize_value(trigger.phrase)}»",
            f"{labels['severity']}: «{trigger.severity.value}»",
            f"{labels['action']}: «{sanitize_value(trigger.action)}»",
        )
        assert expected in lines, f"crisis trigger {trigger.phrase[:8]} is not whole"
    for contact in safety.emergency_contacts:
        expected = _item(
            f"«{sanitize_value(contact.name)}» («{sanitize_value(contact.relationship)}»)",
            f"{labels['phone']}: «{contact.phone}»",
        )
        assert expected in lines, f"emergency contact {contact.name[:8]} is not whole"
    found = data_lines(result.text)
    assert found["crisis_phrases"] == [sanitize_value(t.phrase) for t in safety.crisis_triggers]
    assert found["forbidden_topics"] == [sanitize_value(topic) for topic in safety.forbidden_topics]
    for section in result.sections:
        if section.name in ("medications", "safety"):
            assert ELLIPSIS not in section.text, f"something in {section.name} was shortened"


def _variant(ctx: CareContext, language: str, music_enabled: bool) -> CareContext:
    assert ctx.profile is not None
    info = ctx.profile.personal_info.model_copy(update={"language": language})
    return ctx.model_copy(
        update={
            "profile": ctx.profile.model_copy(update={"personal_info": info}),
            "music": ctx.music.model_copy(update={"enabled": music_enabled}),
        }
    )


@pytest.mark.parametrize("language", sorted(LANGUAGES))
@pytest.mark.parametrize("music_enabled", [True, False])
def test_maximum_profile_fits_with_every_safety_and_medication_value_whole(
    language: str, music_enabled: bool
) -> None:
    ctx = _variant(max_context(), language, music_enabled)
    assert len(ctx.memories) == MAX_MEMORIES
    assert estimate_tokens(build(ctx, budget_tokens=10**7).text) > 20 * DEFAULT_BUDGET_TOKENS
    result = build(ctx)
    assert result.tokens_estimate == estimate_tokens(result.text) <= DEFAULT_BUDGET_TOKENS
    assert result.over_budget is False
    assert result.dropped_memories == MAX_MEMORIES
    assert set(result.trimmed) <= {"life_story", "notes", "lists"}
    assert_safety_and_medications_whole(ctx, result)
    # Even with every allowed cut made, the protected text alone fits: no valid profile needs more.
    everything_cut = build(ctx, budget_tokens=1)
    assert everything_cut.tokens_estimate <= DEFAULT_BUDGET_TOKENS
    pack = LANGUAGES[language]
    text = result.text
    for name in ("identity", "cognitive", "family", "medications", "safety", "style", "tools"):
        assert name in result.section_names
    for template in (
        pack.language_rule,
        pack.medications_rules,
        pack.safety_baseline,
        pack.crisis_rules,
        pack.forbidden_rules,
        pack.never_allow_intro,
    ):
        assert inflect(template, Gender.FEMALE) in text
    assert ctx.profile is not None
    info = ctx.profile.personal_info
    assert data_lines(text)["full_name"] == [info.full_name]
    assert data_lines(text)["preferred_name"] == [info.preferred_name]


def test_the_maximum_profile_is_at_every_limit() -> None:
    ctx = max_context()
    safety, music = ctx.safety, ctx.music
    assert ctx.profile is not None
    assert len(safety.never_allow) == MAX_NEVER_ALLOW
    assert len(safety.crisis_triggers) == MAX_CRISIS_TRIGGERS
    assert len(safety.forbidden_topics) == MAX_FORBIDDEN_TOPICS
    assert len(safety.medications) == MAX_MEDICATIONS
    assert len(safety.emergency_contacts) == MAX_CONTACTS
    assert all(len(med.times) == MAX_TIMES_PER_MEDICATION for med in safety.medications)
    assert all(len(rule.rule) == len(rule.reason) == RULE_TEXT for rule in safety.never_allow)
    assert all(len(t.phrase) == PHRASE_TEXT and len(t.action) == ACTION_TEXT for t in safety.crisis_triggers)
    assert all(len(topic) == PHRASE_TEXT for topic in safety.forbidden_topics)
    assert all(
        (len(m.name), len(m.dosage), len(m.instructions))
        == (MEDICATION_NAME_TEXT, DOSAGE_TEXT, INSTRUCTIONS_TEXT)
        for m in safety.medications
    )
    assert all(
        (len(c.name), len(c.relationship)) == (NAME_TEXT, RELATIONSHIP_TEXT)
        for c in safety.emergency_contacts
    )
    family = ctx.profile.family_members
    assert len(family) == MAX_FAMILY
    assert sum(member.is_emergency_contact for member in family) > MAX_CONTACTS
    assert len(ctx.profile.background.hobbies) == MAX_HOBBIES
    assert len(music.preferred_songs) == len(music.disliked_artists) == MAX_MUSIC_ITEMS
    assert len(ctx.memories) == MAX_MEMORIES
    assert all(len(memory.text) == LONG_TEXT for memory in ctx.memories)


def test_family_emergency_contacts_survive_every_cut() -> None:
    ctx = max_context()
    assert ctx.profile is not None
    family = ctx.profile.family_members
    result = build(ctx, budget_tokens=1)
    kept = [member for member in family if f"- «{member.name}»" in result.text]
    flagged = [member for member in family if member.is_emergency_contact]
    assert kept == flagged[:MAX_CONTACTS]
    assert "«הערה" not in result.text  # their notes are cut like every note


def test_a_tiny_budget_keeps_safety_whole_and_says_it_is_over() -> None:
    ctx = max_context()
    result = build(ctx, budget_tokens=1)
    assert result.over_budget is True
    assert result.tokens_estimate > 1  # best effort, and it says by how much
    assert {"identity", "medications", "safety", "tools"} <= set(result.section_names)
    assert result.trimmed == ("life_story", "notes", "lists")
    assert_safety_and_medications_whole(ctx, result)
    assert build(ctx).over_budget is False
