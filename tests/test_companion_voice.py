"""The companion's voice setting (``profile.companion``): its default, what it refuses, and the voice a
conversation starts with."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from companion.profiles.models import (
    DEFAULT_VOICES,
    VOICE_GENDERS,
    Companion,
    Gender,
    Profile,
    Voice,
    session_voice,
)
from companion.prompt import build
from companion.realtime.config import base_session_factory
from companion.settings import Settings
from tests.prompt.factories import context

PERSON = {"personalInfo": {"fullName": "רחל כהן", "gender": "female"}}


def test_a_profile_saved_before_the_setting_gets_a_female_companion_with_the_services_voice() -> None:
    profile = Profile.model_validate(PERSON)
    assert profile.companion == Companion(gender=Gender.FEMALE, voice=None)
    assert profile.model_dump(mode="json", by_alias=True)["companion"] == {"gender": "female", "voice": None}


def test_the_setting_round_trips_in_camel_case_json() -> None:
    profile = Profile.model_validate({**PERSON, "companion": {"gender": "male", "voice": "ash"}})
    assert profile.companion.gender is Gender.MALE and profile.companion.voice is Voice.ASH
    again = Profile.model_validate(profile.model_dump(mode="json", by_alias=True))
    assert again == profile


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"gender": "other"}, ("companion", "gender")),
        ({"voice": "nova"}, ("companion", "voice")),  # not a realtime voice
        ({"gender": "male", "voice": "shimmer"}, ("companion",)),  # a female voice for a male companion
        ({"gender": "female", "voice": "echo"}, ("companion",)),
        ({"gender": "female", "accent": "yes"}, ("companion", "accent")),
    ],
)
def test_what_the_setting_refuses(body: dict[str, str], where: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        Profile.model_validate({**PERSON, "companion": body})
    assert caught.value.errors()[0]["loc"] == where


def test_every_voice_has_a_sound_and_each_gender_a_default_of_its_own() -> None:
    assert set(VOICE_GENDERS) == set(Voice)
    for gender, voice in DEFAULT_VOICES.items():
        assert VOICE_GENDERS[voice] is gender
    for voice, sounds in VOICE_GENDERS.items():
        for gender in Gender:  # a neutral voice suits either gender; the others only their own
            valid = sounds in (None, gender)
            if valid:
                assert Companion(gender=gender, voice=voice).voice is voice
            else:
                with pytest.raises(ValidationError):
                    Companion(gender=gender, voice=voice)


@pytest.mark.parametrize(
    ("chosen", "gender", "service", "expected"),
    [
        ("coral", Gender.FEMALE, "alloy", "coral"),  # the family's choice wins
        (None, Gender.FEMALE, "alloy", "alloy"),  # the service's neutral voice suits either
        (None, Gender.MALE, "alloy", "alloy"),
        (None, Gender.FEMALE, "sage", "sage"),  # the service's female voice suits a female companion
        (None, Gender.MALE, "sage", "echo"),  # ...but not a male one
        (None, Gender.FEMALE, "verse", "shimmer"),
        (None, Gender.MALE, "my-custom-voice", "my-custom-voice"),  # unknown: taken as neutral
    ],
)
def test_the_voice_a_conversation_starts_with(
    chosen: str | None, gender: Gender, service: str, expected: str
) -> None:
    assert session_voice(chosen, gender, service) == expected


def test_the_session_configuration_carries_the_profiles_voice() -> None:
    base = base_session_factory(Settings(voice="sage"))
    male = build(context(companion={"gender": "male"}))
    chosen = build(context(companion={"gender": "male", "voice": "cedar"}))
    female = build(context(companion={"gender": "female"}))
    assert base(male)["audio"]["output"]["voice"] == "echo"
    assert base(chosen)["audio"]["output"]["voice"] == "cedar"
    assert base(female)["audio"]["output"]["voice"] == "sage"
