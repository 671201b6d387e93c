"""The crisis (``alert_family``) and ``remember`` rules, their precedence and their acks: no sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lm_helpers import EN_INSTRUCTIONS, HE_INSTRUCTIONS, MUSIC_TOOL

from companion.localmodel.replies import CRISIS_KEY, Reply, ReplyContext, plan_reply, tagged_values
from companion.prompt import build, tool_definitions
from tests.prompt.factories import context

REMEMBER_TOOL = {"type": "function", "name": "remember", "description": "Remember", "parameters": {}}
SENT = {"ok": True, "notified": [{"name": "דנה", "channel": "email", "status": "queued"}]}
ALERT_TOOL = {"type": "function", "name": "alert_family", "description": "Alert", "parameters": {}}
HE_CRISIS = HE_INSTRUCTIONS + "ביטויי מצוקה [crisis_phrases]: «אני מפחד», «הלכתי לאיבוד»\n"
EN_CRISIS = EN_INSTRUCTIONS + "Crisis phrases [crisis_phrases]: «I am scared», «Help me»\n"


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def call(name: str, arguments: str = "{}", call_id: str = "call_1") -> dict[str, Any]:
    return {"type": "function_call", "name": name, "call_id": call_id, "arguments": arguments}


def output(result: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": json.dumps(result)}


def reply_to(text: str, instructions: str = HE_CRISIS, **ctx: Any) -> Reply:
    return plan_reply(ReplyContext(instructions=instructions, items=[user(text)], **ctx))


def arguments(reply: Reply, name: str) -> dict[str, Any]:
    assert (reply.kind, reply.name) == ("function_call", name)
    return dict(json.loads(reply.arguments))


def test_builder_writes_crisis_phrases_under_the_tag_the_engine_reads() -> None:
    instructions = build(context()).text
    assert tagged_values(instructions)[CRISIS_KEY] == ["אני מפחד", "הלכתי לאיבוד"]
    reply = plan_reply(
        ReplyContext(instructions=instructions, items=[user("אני מפחד מאוד")], tools=tool_definitions())
    )
    assert arguments(reply, "alert_family") == {
        "severity": "critical",
        "what_was_asked": "אני מפחד מאוד",
        "rule": "אני מפחד",
    }


@pytest.mark.parametrize(
    ("instructions", "text", "rule"),
    [
        (HE_CRISIS, "  הלכתי לאיבוד ואני לא יודע איפה אני ", "הלכתי לאיבוד"),
        (HE_CRISIS, "אני  מפחד", "אני מפחד"),  # whitespace runs count as one space
        (EN_CRISIS, "please HELP ME now", "Help me"),  # case-insensitive; rule as the instructions spell it
        (EN_CRISIS, "I am scared, help me", "I am scared"),  # the first listed phrase wins
    ],
)
def test_crisis_phrase_calls_alert_family(instructions: str, text: str, rule: str) -> None:
    reply = reply_to(text, instructions, tools=[ALERT_TOOL, REMEMBER_TOOL, MUSIC_TOOL])
    assert arguments(reply, "alert_family") == {
        "severity": "critical",
        "what_was_asked": text.strip(),
        "rule": rule,
    }


def test_alert_summary_is_cut_to_200_characters() -> None:
    text = "אני מפחד " + "א" * 300
    summary = arguments(reply_to(text), "alert_family")["what_was_asked"]
    assert summary == text[:200]


def test_only_phrases_from_the_current_instructions_are_crises() -> None:
    assert reply_to("אני מפחד", HE_INSTRUCTIONS).kind == "text"
    assert reply_to("help me", EN_INSTRUCTIONS).kind == "text"  # no built-in phrases: the builder lists them
    assert reply_to("I am scared", "Other [forbidden_topics]: «I am scared»").kind == "text"


def test_remember_calls_remember_with_the_rest_of_the_sentence() -> None:
    cases = {
        "תזכור שאני אוהב קפה שחור": "אני אוהב קפה שחור",
        "תזכרי ש הנכד שלי נועם בן 7 ": "הנכד שלי נועם בן 7",
        "זכור שאני לא אוכל בשר": "אני לא אוכל בשר",
        "Remember that I take my tea with milk": "I take my tea with milk",
        "REMEMBER THAT my dog is Rex.": "my dog is Rex.",
    }
    for text, fact in cases.items():
        reply = reply_to(text, tools=[REMEMBER_TOOL])
        assert arguments(reply, "remember") == {"type": "preference", "text": fact, "importance": 3}


@pytest.mark.parametrize(
    "text",
    ["אני רוצה שתזכור שאני אוהב קפה", "do you remember that day?", "remember that", "תזכור"],
)
def test_remember_only_when_the_text_opens_with_a_trigger_and_has_a_fact(text: str) -> None:
    assert reply_to(text, tools=[REMEMBER_TOOL]).kind == "text"


@pytest.mark.parametrize(
    ("text", "tool"),
    [("אני מפחד", "alert_family"), ("תזכור שאני אוהב קפה", "remember")],
)
def test_tools_gate_the_calls_like_music(text: str, tool: str) -> None:
    assert reply_to(text).name == tool  # no tools declared: the bare engine may call anything
    assert reply_to(text, tools=[ALERT_TOOL, REMEMBER_TOOL]).name == tool
    undeclared = reply_to(text, tools=[MUSIC_TOOL])
    assert undeclared.kind == "text"
    assert undeclared.text.startswith("שמעתי משה:")  # falls through to the echo
    assert reply_to(text, tools=[ALERT_TOOL, REMEMBER_TOOL], tool_choice="none").kind == "text"


def test_precedence_crisis_then_remember_then_music() -> None:
    everything = [ALERT_TOOL, REMEMBER_TOOL, MUSIC_TOOL]
    text = "תזכור שאני מפחד כשמנגנים שיר"
    assert reply_to(text, tools=everything).name == "alert_family"
    assert reply_to(text, tools=[REMEMBER_TOOL, MUSIC_TOOL]).name == "remember"
    assert reply_to(text, tools=[MUSIC_TOOL]).name == "play_music"
    assert reply_to("תזכור שאני אוהב את השיר הזה", tools=everything).name == "remember"


@pytest.mark.parametrize(
    ("instructions", "name", "result", "expected"),
    [
        (HE_CRISIS, "remember", {"ok": True, "memoryId": "m1"}, "אזכור את זה."),
        (EN_CRISIS, "remember", {"ok": True, "memoryId": "m1"}, "I'll remember that."),
        (HE_CRISIS, "remember", {"ok": False, "error": "x"}, "לא הצלחתי לשמור את זה כרגע."),
        (EN_CRISIS, "remember", {"ok": False, "error": "x"}, "I couldn't save that right now."),
        (HE_CRISIS, "alert_family", {"ok": True, "notified": []}, "רשמתי את זה בשביל המשפחה. אני כאן איתך."),
        (EN_CRISIS, "alert_family", {"ok": True}, "I've noted it for your family. I'm here with you."),
        (HE_CRISIS, "alert_family", SENT, "שלחתי הודעה למשפחה. אני כאן איתך."),
        (EN_CRISIS, "alert_family", SENT, "I've sent your family a message. I'm here with you."),
        (
            HE_CRISIS,
            "alert_family",
            {"ok": False, "error": "x"},
            "לא הצלחתי להודיע למשפחה כרגע. אני כאן איתך.",
        ),
        (
            EN_CRISIS,
            "alert_family",
            {"ok": False, "error": "x"},
            "I couldn't reach your family just now. I'm here with you.",
        ),
    ],
)
def test_tool_output_is_acknowledged_without_claiming_a_refused_call(
    instructions: str, name: str, result: dict[str, Any], expected: str
) -> None:
    items = [user("x"), call(name), output(result)]
    assert plan_reply(ReplyContext(instructions=instructions, items=items)) == Reply("text", expected)


def test_music_acks_are_unchanged() -> None:
    played = [user("שיר"), call("play_music", '{"artist": "נעמי שמר"}'), output({"ok": True})]
    assert plan_reply(ReplyContext(HE_CRISIS, played)).text == "מנגן עכשיו את נעמי שמר. האזנה נעימה!"
    refused = {"ok": False, "mayPlay": {"artists": ["Nina Simone"]}}
    items = [user("music"), call("play_music", '{"artist": "X"}'), output(refused)]
    assert plan_reply(ReplyContext(EN_CRISIS, items)).text == "I can't play that. How about Nina Simone?"
    unknown = [user("x"), output({"ok": False}, call_id="call_x")]
    assert plan_reply(ReplyContext(EN_CRISIS, unknown)).text == (
        "I can't play that now. What shall we talk about?"
    )
