"""The offline engine's ``show_photos``: asked for pictures, it calls the tool; given the relay's answer,
it says what is on the screen. Deterministic, like every rule of the engine (``replies``).

A request is a photo word ("תמונה", "תמונות", "photo", "picture", ...) in the person's last words. A
name from the instructions' photo index (``[photo_people]``, ``[photo_people_asked]``) in those words
becomes ``mentioned_names``; a next word ("הבאה", "עוד", "next", "another", "more") makes it
``next_photo``. The answer's family text arrives in «» quotes (data, not instructions): the engine
speaks it without them.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final

PHOTO_TOOL: Final = "show_photos"
PHOTO_WORDS: Final = ("תמונה", "תמונות", "photo", "picture", "pic")
NEXT_WORDS: Final = frozenset({"הבאה", "עוד", "next", "another", "more"})
NAME_KEYS: Final = ("photo_people", "photo_people_asked")
_WORD: Final = re.compile(r"[^\W_]+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def asks_for_photos(said: str) -> bool:
    folded = _fold(said)
    return any(word in folded for word in PHOTO_WORDS)


def photo_arguments(said: str, values: Mapping[str, list[str]]) -> str:
    """The call's JSON arguments for what the person said."""
    folded = _fold(said)
    words = set(_WORD.findall(folded))
    names = [name for key in NAME_KEYS for name in values.get(key, []) if _fold(name) in folded]
    args: dict[str, Any] = {"trigger_reason": "user_requested_photos"}
    if names:
        args["mentioned_names"] = names
    if words & NEXT_WORDS and not names:
        args["next_photo"] = True
    return json.dumps(args, ensure_ascii=False)


def _plain(value: object) -> str:
    return str(value).replace("«", "").replace("»", "").strip() if value else ""


def photo_ack(output: Mapping[str, Any] | None, hebrew: bool) -> str:
    """What the engine says after the relay answered ``show_photos``."""
    showing = output.get("showing") if output else None
    if not isinstance(showing, dict):
        reason = output.get("reason") if output else None
        if reason == "no_more" or reason == "limit_reached":
            return (
                "אין עוד תמונות כרגע. על מה נדבר?"
                if hebrew
                else "No more photos for now. What shall we talk about?"
            )
        return (
            "אין לי תמונה כזאת. על מה נדבר?"
            if hebrew
            else "I don't have a photo of that. What shall we talk about?"
        )
    people = ", ".join(_plain(p) for p in showing.get("people") or [])
    facts = [
        part
        for part in (
            _plain(showing.get("caption")),
            people,
            _plain(showing.get("when")),
            _plain(showing.get("where")),
        )
        if part
    ]
    number, total = showing.get("number"), showing.get("of")
    if hebrew:
        return f"הנה תמונה {number} מתוך {total}: {'. '.join(facts)}. מה התמונה הזאת מזכירה לך?"
    return f"Here is photo {number} of {total}: {'. '.join(facts)}. What do you remember about it?"
