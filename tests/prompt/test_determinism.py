"""Same context, same bytes, same version; any change the model would see, a new version."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from companion.profiles.models import CareContext
from companion.prompt import build
from tests.prompt.factories import context, memory

Body = dict[str, Any]


def body() -> Body:
    return context().model_dump(by_alias=True, mode="json")


def from_body(data: Body) -> CareContext:
    return CareContext.model_validate(data)


def test_building_twice_and_from_copies_gives_identical_text() -> None:
    ctx = context()
    first = build(ctx)
    assert build(ctx) == first
    assert build(copy.deepcopy(ctx)) == first
    assert build(from_body(body())) == first
    assert first.version == hashlib.sha256(first.text.encode()).hexdigest()[:16]


def test_key_order_of_equal_input_does_not_matter() -> None:
    data = body()

    def reverse_keys(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: reverse_keys(value[key]) for key in reversed(list(value))}
        if isinstance(value, list):
            return [reverse_keys(item) for item in value]
        return value

    assert build(from_body(reverse_keys(data))).text == build(from_body(data)).text


def test_memory_order_does_not_matter() -> None:
    memories = [memory(f"זיכרון {i}", importance=i % 5 + 1, day=i) for i in range(12)]
    base = context()
    forward = build(base.model_copy(update={"memories": tuple(memories)}))
    backward = build(base.model_copy(update={"memories": tuple(reversed(memories))}))
    shuffled = build(base.model_copy(update={"memories": tuple(memories[5:] + memories[:5])}))
    assert forward.text == backward.text == shuffled.text
    # and the order they are shown in is by importance, then newest first
    shown = [line for line in forward.text.splitlines() if line.startswith("- «זיכרון")]
    assert shown[0] == "- «זיכרון 9» (משפחה)"  # importance 5, day 9 beats importance 5, day 4
    assert shown[-1] == "- «זיכרון 0» (משפחה)"


def _set(path: str, value: Any) -> Callable[[Body], None]:
    def mutate(data: Body) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return mutate


MUTATIONS: dict[str, Callable[[Body], None]] = {
    "full name": _set("profile.personalInfo.fullName", "משה כהן"),
    "preferred name": _set("profile.personalInfo.preferredName", "מוישה"),
    "gender": _set("profile.personalInfo.gender", "female"),
    "age": _set("profile.personalInfo.age", 85),
    "date of birth": _set("profile.personalInfo.dateOfBirth", "1941-05-02"),
    "language": _set("profile.personalInfo.language", "en"),
    "timezone": _set("profile.personalInfo.timezone", "Europe/London"),
    "cognitive mode": _set("profile.cognitiveMode", "elderly"),
    "condition": _set("profile.background.condition", "פרקינסון"),
    "personality": _set("profile.background.personality", "שקט"),
    "hobbies": _set("profile.background.hobbies", ["שחמט"]),
    "life story": _set("profile.background.lifeStory", "נולד בתל אביב."),
    "family name": _set("profile.familyMembers.0.name", "תמר"),
    "family relationship": _set("profile.familyMembers.0.relationship", "כלה"),
    "family phone": _set("profile.familyMembers.0.phone", "+972-50-999-9999"),
    "family emergency flag": _set("profile.familyMembers.0.isEmergencyContact", False),
    "family notes": _set("profile.familyMembers.1.notes", "בן 8"),
    "routine": _set("profile.routine.wake", "07:15"),
    "emergency contact": _set("safety.emergencyContacts.0.phone", "+972-52-111-1111"),
    "medication name": _set("safety.medications.0.name", "ריספרדל"),
    "medication dosage": _set("safety.medications.0.dosage", "10 mg"),
    "medication time": _set("safety.medications.0.times", ["09:00", "20:00"]),
    "medication instructions": _set("safety.medications.0.instructions", "לפני האוכל"),
    "never-allow rule": _set("safety.neverAllow.0.rule", "לבשל לבד"),
    "never-allow reason": _set("safety.neverAllow.0.reason", "סכנת שריפה"),
    "never-allow severity": _set("safety.neverAllow.0.severity", "critical"),
    "forbidden topic": _set("safety.forbiddenTopics", ["פוליטיקה"]),
    "crisis phrase": _set("safety.crisisTriggers.0.phrase", "תעזרו לי"),
    "crisis severity": _set("safety.crisisTriggers.0.severity", "medium"),
    "crisis action": _set("safety.crisisTriggers.1.action", "להרגיע"),
    "music enabled": _set("music.enabled", False),
    "preferred artists": _set("music.preferredArtists", ["אריק איינשטיין"]),
    "preferred songs": _set("music.preferredSongs", ["ירושלים של זהב"]),
    "preferred genres": _set("music.preferredGenres", ["חזנות"]),
    "disliked artists": _set("music.dislikedArtists", ["עומר אדם"]),
    "auto-play": _set("music.allowAutoPlay", True),
    "play on sadness": _set("music.playOnSadness", False),
    "max songs": _set("music.maxSongsPerSession", 4),
    "memory text": _set("memories.0.text", "הנכד נועם בן 8"),
    "memory type": _set("memories.0.type", "health"),
    "memory importance (order)": _set("memories.1.importance", 5),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_any_change_the_model_sees_changes_the_version(name: str) -> None:
    data = body()
    MUTATIONS[name](data)
    assert data != body(), "the mutation must change the input"
    assert build(from_body(data)).version != build(context()).version


def test_every_mutation_gives_a_distinct_version() -> None:
    versions = {build(context()).version}
    for mutate in MUTATIONS.values():
        data = body()
        mutate(data)
        versions.add(build(from_body(data)).version)
    assert len(versions) == len(MUTATIONS) + 1


def test_fields_the_model_never_sees_keep_the_version() -> None:
    data = body()
    data["user_id"] = "someone-else"
    data["memories"][0]["id"] = "other-id"
    data["memories"][0]["source"] = "conversation"
    assert build(from_body(data)).version == build(context()).version
