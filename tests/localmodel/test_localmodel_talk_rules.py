"""Reply rules for the spoken page: greetings by time of day, stopping music, the music answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lm_helpers import EN_INSTRUCTIONS, HE_INSTRUCTIONS, MUSIC_TOOL

from companion.localmodel.replies import Reply, ReplyContext, plan_reply

STOP_TOOL = {"type": "function", "name": "stop_music", "description": "Stop music", "parameters": {}}


def system(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "system", "content": [{"type": "input_text", "text": text}]}


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def spoken(transcript: str | None) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_audio", "transcript": transcript}]}


def greet(part: str) -> dict[str, Any]:
    return system(f"The conversation starts.\n[local_time]: «08:15»\n[part_of_day]: «{part}»")


def call_and_output(name: str, output: dict[str, Any], arguments: str = "{}") -> list[dict[str, Any]]:
    return [
        user("play me music"),
        {"type": "function_call", "name": name, "call_id": "c1", "arguments": arguments},
        {"type": "function_call_output", "call_id": "c1", "output": json.dumps(output)},
    ]


@pytest.mark.parametrize(
    ("part", "hebrew", "english"),
    [
        ("morning", "בוקר טוב משה! טוב לשמוע אותך. איך עבר עליך הלילה?", "Good morning, Ann!"),
        ("afternoon", "צהריים טובים משה!", "Good afternoon, Ann!"),
        ("evening", "ערב טוב משה!", "Good evening, Ann!"),
        ("night", "לילה טוב משה!", "Good evening, Ann! It's late"),
    ],
)
def test_greeting_by_part_of_day(part: str, hebrew: str, english: str) -> None:
    he = plan_reply(ReplyContext(HE_INSTRUCTIONS, [greet(part)])).text
    en = plan_reply(ReplyContext(EN_INSTRUCTIONS, [greet(part)])).text
    assert he.startswith(hebrew) and en.startswith(english)
    for text in (he, en):
        assert text.count("!") + text.count(".") + text.count("?") >= 3  # two sentences and a question
        assert text.endswith("?")


def test_greeting_without_a_name_and_the_latest_part_of_day_wins() -> None:
    items = [greet("morning"), greet("evening")]
    assert plan_reply(ReplyContext("You are kind.", items)).text.startswith("Good evening! It's good")
    assert plan_reply(ReplyContext("את/ה מלווה.", items)).text.startswith("ערב טוב! ")


def test_no_time_greeting_once_the_person_spoke_or_without_the_tag() -> None:
    assert not plan_reply(ReplyContext(EN_INSTRUCTIONS, [greet("morning"), user("hi")])).text.startswith(
        "Good"
    )
    assert plan_reply(ReplyContext(EN_INSTRUCTIONS, [system("[part_of_day]: «teatime»")])).text == (
        "Hello Ann! How are you feeling today?"
    )


def test_stop_the_music_calls_stop_music_when_declared() -> None:
    for said in ("stop the music", "please stop music please", "תעצור את המוזיקה", "Music off!"):
        reply = plan_reply(ReplyContext(EN_INSTRUCTIONS, [user(said)], tools=[MUSIC_TOOL, STOP_TOOL]))
        assert reply == Reply("function_call", name="stop_music", arguments="{}"), said
    bare = plan_reply(ReplyContext(EN_INSTRUCTIONS, [spoken("stop the music")]))
    assert bare.name == "stop_music"  # a session with no tools may call anything


def test_stop_the_music_never_starts_music() -> None:
    reply = plan_reply(ReplyContext(HE_INSTRUCTIONS, [user("stop the music")], tools=[MUSIC_TOOL]))
    assert reply.kind == "text"
    assert "לעצור את המוזיקה" in reply.text
    english = plan_reply(ReplyContext(EN_INSTRUCTIONS, [user("stop the music")], tools=[MUSIC_TOOL]))
    assert english.text == "I can't stop the music from here. You can press the big button."


def test_stopped_music_is_acknowledged() -> None:
    items = [*call_and_output("stop_music", {"ok": True})]
    assert plan_reply(ReplyContext(EN_INSTRUCTIONS, items)).text == (
        "I've stopped the music. What shall we talk about?"
    )


def test_music_unavailable_is_said_as_such() -> None:
    items = call_and_output(
        "play_music", {"ok": False, "error": "music_unavailable"}, '{"artist": "Nina Simone"}'
    )
    english = plan_reply(ReplyContext(EN_INSTRUCTIONS, items)).text
    hebrew = plan_reply(ReplyContext(HE_INSTRUCTIONS, items)).text
    assert english == "I'm sorry, music is not available right now. Shall we talk for a while instead?"
    assert hebrew == "סליחה, מוזיקה לא זמינה כרגע. בינתיים, על מה נדבר?"
    assert "How about" not in english and "Now playing" not in english


def test_now_playing_names_the_track() -> None:
    output = {"ok": True, "playing": {"artist": "Nina Simone", "title": "Feeling Good"}}
    items = call_and_output("play_music", output, '{"artist": "Nina Simone"}')
    assert (
        plan_reply(ReplyContext(EN_INSTRUCTIONS, items)).text
        == "Now playing Feeling Good by Nina Simone. Enjoy!"
    )
    assert plan_reply(ReplyContext(HE_INSTRUCTIONS, items)).text == (
        "מנגן עכשיו את Feeling Good של Nina Simone. האזנה נעימה!"
    )


@pytest.mark.parametrize(
    ("heard", "answer"),
    [
        ("hello how are you", "I'm very well, thank you for asking. And how are you feeling today?"),
        ("thank you", "You're very welcome. I'm always here for you."),
        ("Tell me a story.", "Once, in a small village"),
        ("i fell", "I'm worried about you."),
    ],
)
def test_phrases_the_engine_can_hear_get_answers(heard: str, answer: str) -> None:
    assert plan_reply(ReplyContext(EN_INSTRUCTIONS, [spoken(heard)])).text.startswith(answer)


def test_spoken_play_me_music_reads_the_transcript() -> None:
    reply = plan_reply(ReplyContext(HE_INSTRUCTIONS, [spoken("play me music")], tools=[MUSIC_TOOL]))
    assert (reply.name, json.loads(reply.arguments)["artist"]) == ("play_music", "נעמי שמר")
