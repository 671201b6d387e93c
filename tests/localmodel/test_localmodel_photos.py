"""The offline engine's photo rule, with plain data: asked for pictures (Hebrew or English, with a
name from the instructions' photo index, or for the next one) it calls ``show_photos``; given the
relay's answer, it speaks the photo's facts without the data quotes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from companion.localmodel.replies import ReplyContext, plan_reply

INSTRUCTIONS = (
    "## Family photos\nIn the photos [photo_people]: «נועם», «Dana»\n"
    "Only if the person asks [photo_people_asked]: «משה»"
)
PHOTOS_TOOL = {"type": "function", "name": "show_photos", "description": "Show", "parameters": {}}
OTHER_TOOL = {"type": "function", "name": "remember", "description": "Remember", "parameters": {}}


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("תראי לי תמונות של נועם", {"trigger_reason": "user_requested_photos", "mentioned_names": ["נועם"]}),
        ("יש לך תמונה של נוֹעַם?", {"trigger_reason": "user_requested_photos", "mentioned_names": ["נועם"]}),
        (
            "Show me pictures of DANA",
            {"trigger_reason": "user_requested_photos", "mentioned_names": ["Dana"]},
        ),
        ("תראי לי את משה בתמונה", {"trigger_reason": "user_requested_photos", "mentioned_names": ["משה"]}),
        ("עוד תמונה", {"trigger_reason": "user_requested_photos", "next_photo": True}),
        ("Next photo, please", {"trigger_reason": "user_requested_photos", "next_photo": True}),
        ("show me some photos", {"trigger_reason": "user_requested_photos"}),
    ],
)
def test_asking_for_photos_calls_show_photos(said: str, expected: dict[str, Any]) -> None:
    reply = plan_reply(ReplyContext(INSTRUCTIONS, [user(said)], tools=[PHOTOS_TOOL]))
    assert reply.kind == "function_call" and reply.name == "show_photos"
    assert json.loads(reply.arguments) == expected


def test_without_the_tool_there_is_no_call() -> None:
    reply = plan_reply(ReplyContext(INSTRUCTIONS, [user("תראי לי תמונות של נועם")], tools=[OTHER_TOOL]))
    assert reply.kind == "text"


def answer(output: dict[str, Any]) -> str:
    items = [
        user("תראי לי תמונות"),
        {"type": "function_call", "name": "show_photos", "call_id": "c1", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": json.dumps(output, ensure_ascii=False)},
    ]
    return plan_reply(ReplyContext(INSTRUCTIONS, items, tools=[PHOTOS_TOOL])).text


def test_the_answer_speaks_the_photos_facts() -> None:
    said = answer(
        {"ok": True, "showing": {"number": 1, "of": 2, "caption": "«נועם בים»", "people": ["«נועם»"]}}
    )
    assert said.startswith("הנה תמונה 1 מתוך 2: נועם בים. נועם.") and "«" not in said
    assert answer({"ok": True, "showing": None, "reason": "no_more"}).startswith("אין עוד תמונות")
    assert answer({"ok": True, "showing": None, "reason": "no_match"}).startswith("אין לי תמונה כזאת")
