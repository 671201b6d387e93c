"""What the offline engine says when no tool is involved: greetings and a little small talk.

Still not an AI: fixed sentences, in the instructions' language (Hebrew or English). They are two
short sentences on purpose: long enough, when spoken, for a person (or a browser test) to interrupt
them, short enough not to tire anyone. The small talk answers exactly the English phrases that
:mod:`companion.localmodel.hearing` can recognise, so a spoken "thank you" gets a sensible answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from companion.localmodel.items import item_text
from companion.localmodel.tags import tagged_values

PART_OF_DAY_KEY: Final = "part_of_day"  # the tag the relay's greeting message carries
_GREETINGS: Final[Mapping[str, tuple[str, str]]] = {
    # part of day: (Hebrew, English); "{to}" is " <name>" / ", <name>" or nothing
    "morning": (
        "בוקר טוב{to}! טוב לשמוע אותך. איך עבר עליך הלילה?",
        "Good morning{to}! It's good to hear you. How did you sleep?",
    ),
    "afternoon": (
        "צהריים טובים{to}! טוב לשמוע אותך. איך עובר עליך היום?",
        "Good afternoon{to}! It's good to hear you. How is your day going?",
    ),
    "evening": (
        "ערב טוב{to}! טוב לשמוע אותך. איך היה היום שלך?",
        "Good evening{to}! It's good to hear you. How was your day?",
    ),
    "night": (
        "לילה טוב{to}! כבר מאוחר, ואני כאן איתך. מה שלומך?",
        "Good evening{to}! It's late, and I'm here with you. How are you feeling?",
    ),
}
_SMALL_TALK: Final[Sequence[tuple[re.Pattern[str], str, str]]] = (
    (
        re.compile(r"^(?:hello )?how are you(?: today)?$"),
        "אני בסדר גמור, תודה ששאלת. ואיך ההרגשה שלך היום?",
        "I'm very well, thank you for asking. And how are you feeling today?",
    ),
    (
        re.compile(r"^hello(?: today)?$"),
        "שלום גם לך! טוב לשמוע אותך. על מה נדבר?",
        "Hello to you too! It's good to hear you. What shall we talk about?",
    ),
    (
        re.compile(r"^good morning$"),
        "בוקר טוב גם לך! מקווה שישנת טוב. מה התוכניות להיום?",
        "Good morning to you too! I hope you slept well. What are your plans for today?",
    ),
    (
        re.compile(r"^thank you$"),
        "בשמחה רבה. אני תמיד כאן בשבילך.",
        "You're very welcome. I'm always here for you.",
    ),
    (
        re.compile(r"^tell me a story$"),
        "פעם, בכפר קטן, גרה אישה שגידלה את העגבניות הכי מתוקות. כל השכנים באו לטעום, והיא תמיד נתנה להם"
        " גם סיפור קטן. רוצה לשמוע איך זה נגמר?",
        "Once, in a small village, a woman grew the sweetest tomatoes anyone had tasted. Every"
        " neighbour came by for one, and she gave each of them a little story too. Shall I tell you"
        " how it ends?",
    ),
    (re.compile(r"^yes$"), "יופי. ספרו לי עוד, אני {מקשיב|מקשיבה}.", "Good. Tell me more, I'm listening."),
    (
        re.compile(r"^no$"),
        "בסדר גמור. על מה תרצו לדבר?",
        "That's all right. What would you like to talk about?",
    ),
    (
        re.compile(r"^(?:i fell|help me|i'm scared|i am lost)$"),
        "אני {דואג|דואגת} לך. קרה משהו? אני {יכול|יכולה} להודיע למשפחה.",
        "I'm worried about you. Are you hurt? I can let your family know.",
    ),
)
_WORDS: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def part_of_day(items: Sequence[Mapping[str, Any]], values: Mapping[str, list[str]]) -> str | None:
    """The latest ``[part_of_day]: «...»`` a system message carries (else the instructions')."""
    for item in reversed(items):
        if item.get("type") == "message" and item.get("role") == "system":
            said = tagged_values(item_text(item)).get(PART_OF_DAY_KEY, [])
            if said and said[0] in _GREETINGS:
                return said[0]
    given = values.get(PART_OF_DAY_KEY, [])
    return given[0] if given and given[0] in _GREETINGS else None


def greeting(when: str, name: str, hebrew: bool) -> str:
    """A greeting for ``when`` (a key of the greeting table) addressing ``name`` when known."""
    hebrew_text, english_text = _GREETINGS[when]
    if hebrew:
        return hebrew_text.format(to=f" {name}" if name else "")
    return english_text.format(to=f", {name}" if name else "")


def small_talk(said: str, hebrew: bool) -> str | None:
    """The fixed answer to one of the recognisable phrases, or None for anything else; its Hebrew
    first-person forms are ``{masculine|feminine}`` for ``persona.as_companion`` to choose."""
    words = " ".join(_WORDS.findall(said.casefold()))
    for pattern, hebrew_text, english_text in _SMALL_TALK:
        if pattern.match(words):
            return hebrew_text if hebrew else english_text
    return None
