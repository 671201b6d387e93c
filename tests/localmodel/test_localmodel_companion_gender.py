"""The engine speaks of itself in the companion's gender that the instructions carry
(``[companion_gender]``), and its espeak-ng voice has the register of the session's voice, or of that
gender when the voice is neutral."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from lm_helpers import EN_INSTRUCTIONS, HE_INSTRUCTIONS, update

from companion.localmodel import EngineSession
from companion.localmodel.jobs import voice_for
from companion.localmodel.persona import as_companion
from companion.localmodel.replies import ReplyContext, plan_reply
from companion.prompt import build
from tests.prompt.factories import context

Make = Callable[..., EngineSession]


def instructions(companion: str, language: str = "he") -> str:
    """What the relay sends: the builder's instructions for a profile with this companion."""
    return build(context(language=language, companion={"gender": companion})).text


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def played(output: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        user("play me music"),
        {
            "type": "function_call",
            "name": "play_music",
            "call_id": "c1",
            "arguments": '{"artist": "נעמי שמר"}',
        },
        {"type": "function_call_output", "call_id": "c1", "output": json.dumps(output)},
    ]


@pytest.mark.parametrize(
    ("companion", "listening", "worried", "playing"),
    [
        ("female", "אני מקשיבה.", "אני דואגת לך. קרה משהו? אני יכולה להודיע למשפחה.", "מנגנת עכשיו"),
        ("male", "אני מקשיב.", "אני דואג לך. קרה משהו? אני יכול להודיע למשפחה.", "מנגן עכשיו"),
    ],
)
def test_hebrew_replies_speak_of_the_companion_in_its_gender(
    companion: str, listening: str, worried: str, playing: str
) -> None:
    text = instructions(companion)
    assert plan_reply(ReplyContext(text, [user("yes")])).text == f"יופי. ספרו לי עוד, {listening}"
    assert plan_reply(ReplyContext(text, [user("help me")])).text == worried
    with_title = played({"ok": True, "playing": {"artist": "נעמי שמר", "title": "ירושלים של זהב"}})
    assert plan_reply(ReplyContext(text, with_title)).text == (
        f"{playing} את ירושלים של זהב של נעמי שמר. האזנה נעימה!"
    )
    assert plan_reply(ReplyContext(text, played({"ok": True}))).text == (
        f"{playing} את נעמי שמר. האזנה נעימה!"
    )


def test_instructions_that_do_not_say_keep_the_masculine_forms() -> None:
    assert "[companion_gender]" not in HE_INSTRUCTIONS
    assert plan_reply(ReplyContext(HE_INSTRUCTIONS, [user("yes")])).text == "יופי. ספרו לי עוד, אני מקשיב."


def test_only_the_engines_own_words_are_inflected() -> None:
    assert as_companion("אני {מקשיב|מקשיבה}", "female") == "אני מקשיבה"
    assert as_companion("אני {מקשיב|מקשיבה}", None) == "אני מקשיב"
    said = "{a|b} this is what I said"  # a user's braces are echoed as they were said
    assert said in plan_reply(ReplyContext(instructions("female"), [user(said)])).text


@pytest.mark.parametrize(
    ("companion", "voice", "expected"),
    [
        ("female", "alloy", "he+f3"),  # a neutral voice: the companion's gender
        ("male", "alloy", "he+m3"),
        ("male", None, "he+m3"),
        ("female", "coral", "he+f3"),  # the realtime voice's own register
        ("male", "cedar", "he+m3"),
        ("female", {"id": "custom-voice"}, "he+f3"),
    ],
)
def test_the_espeak_voice_has_the_register_of_the_voice_or_the_gender(
    companion: str, voice: Any, expected: str
) -> None:
    assert voice_for(instructions(companion), "שלום", voice) == expected
    assert voice_for(instructions(companion), "Hello", voice) == "en-us" + expected[2:]


def test_without_a_gender_or_a_sounding_voice_the_plain_language_voice_is_used() -> None:
    assert voice_for(HE_INSTRUCTIONS, "שלום", "alloy") == "he"
    assert voice_for(EN_INSTRUCTIONS, "Hello", "echo") == "en-us+m3"


def test_the_engine_speaks_a_reply_in_the_sessions_register(make_engine: Make) -> None:
    engine = make_engine(speaks=True)
    engine.receive_event(
        update(instructions=instructions("female", "en"), audio={"output": {"voice": "ash"}})
    )
    engine.receive_event({"type": "response.create"})
    _, [job] = engine.take_jobs()
    assert (job.voice, job.text) == ("he+m3", "שלום משה! מה שלומך היום?")  # ash sounds male
    engine = make_engine(speaks=True)
    engine.receive_event(update(instructions=instructions("female")))
    engine.receive_event({"type": "response.create"})
    _, [job] = engine.take_jobs()
    assert job.voice == "he+f3"  # the default voice (alloy) is neutral: the companion's gender
