"""The offline engine says what a system note asks it to say (``[say]: «...»``): once, after one
greeting when the conversation has not been greeted yet, and again only when asked again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lm_helpers import HE_INSTRUCTIONS

from companion.care.reminder_words import say_note
from companion.localmodel.notes import pending_say
from companion.localmodel.replies import ReplyContext, plan_reply
from companion.profiles.models import CareContext
from companion.realtime.greeting import greeting_message

SENTENCE = 'הגיע הזמן לקחת אקמול 500 מ"ג. לקחת כבר?'
NOTE = say_note("rem-1", "medication", 'אקמול 500 מ"ג', "18:18", "he")


def message(role: str, text: str) -> dict[str, Any]:
    kind = "output_audio" if role == "assistant" else "input_text"
    key = "transcript" if role == "assistant" else "text"
    return {"type": "message", "role": role, "content": [{"type": kind, key: text}]}


def reply(*items: dict[str, Any]) -> str:
    return plan_reply(ReplyContext(HE_INSTRUCTIONS, list(items))).text


def test_the_reminder_note_carries_its_words_on_a_tagged_line() -> None:
    assert pending_say([message("system", NOTE)]) == SENTENCE
    checkin = say_note("rem-2", "checkin", "", "10:00", "he")
    assert pending_say([message("system", checkin)]) == "מה שלומך? רציתי לשמוע איך עובר עליך היום."
    odd = say_note("rem-3", "medication", "X «1» mg", "10:00", "en")
    assert pending_say([message("system", odd)]) == 'It\'s time to take X "1" mg. Have you taken it yet?'


def test_a_note_in_the_middle_of_a_conversation_is_said_not_answered_around() -> None:
    talk = [message("user", "שלום"), message("assistant", "שלום גם לך! על מה נדבר?")]
    assert reply(*talk, message("system", NOTE)) == SENTENCE
    after = [*talk, message("system", NOTE), message("assistant", SENTENCE)]
    assert reply(*after) == "על מה עוד נדבר?", "said once: the next answer does not repeat it"


def test_a_note_before_the_person_spoke_is_said_without_a_second_greeting() -> None:
    greeted = [message("system", "[part_of_day]: «evening»"), message("assistant", "ערב טוב משה!")]
    assert reply(*greeted, message("system", NOTE)) == SENTENCE


def test_the_greeting_that_carries_a_reminder_greets_once_and_says_it() -> None:
    context = CareContext(user_id="u1")  # no profile: greeted for Jerusalem, as the profile defaults
    item = greeting_message(context, datetime(2026, 3, 26, 16, 18, tzinfo=UTC), note=NOTE)
    text = reply(item)
    assert text.startswith("ערב טוב משה!") and text.endswith(SENTENCE)
    assert text.count("ערב טוב") == 1
    plain = greeting_message(context, datetime(2026, 3, 26, 16, 18, tzinfo=UTC))
    assert SENTENCE not in reply(plain)


def test_a_crisis_in_the_persons_words_comes_before_a_pending_note() -> None:
    crisis = HE_INSTRUCTIONS + "ביטויי מצוקה [crisis_phrases]: «אני מפחד»\n"
    alert = {"type": "function", "name": "alert_family", "description": "Alert", "parameters": {}}
    talk = [message("user", "שלום"), message("assistant", "שלום גם לך! על מה נדבר?"), message("system", NOTE)]

    def answer(said: str) -> Any:
        return plan_reply(ReplyContext(crisis, [*talk, message("user", said)], tools=[alert]))

    urgent = answer("אני מפחד מאוד")
    assert (urgent.kind, urgent.name) == ("function_call", "alert_family")
    assert answer("כן").text == SENTENCE, "words without a crisis do not push the note aside"
