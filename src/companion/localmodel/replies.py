"""Deterministic replies grounded in the current instructions. This is not an AI.

The point is to prove that instructions reach the model and take effect: a reply names the person
and the music that the *current* instructions name, so a test can change the care profile mid-call
and hear the difference on the next response.

Contract with the instruction builder: a data line is tagged with a key in square brackets followed
by values in guillemets, e.g. ``שם מועדף [preferred_name]: «משה»`` or
``Favourite artists [preferred_artists]: «Naomi Shemer», «Arik Einstein»``. The label before the
bracket varies by language; lines are found by their ``[key]:`` tag.

Hebrew words the engine says about itself ("מנגן/מנגנת עכשיו", "אני מקשיב/מקשיבה") follow the
``[companion_gender]`` line (see :mod:`companion.localmodel.persona`); masculine when there is none.

Before the person has said anything, the reply is a greeting: for the time of day when a system
message carries ``[part_of_day]: «morning»`` (the relay's greeting request), else a plain hello.

A system note asking to say something (``[say]: «...»``, see :mod:`companion.localmodel.notes`) is
said by the next reply, before every rule below: after the greeting when none was said yet, else alone
(the companion never greets twice).

Rules, first match wins, on the last user text (typed, or the transcript of spoken audio):

1. it contains one of the ``[crisis_phrases]`` values (the tag the instruction builder uses for crisis
   phrases): call ``alert_family`` with the severity the instructions list next to that phrase
   (``critical`` when none is, see :mod:`companion.localmodel.crisis`), the text and the phrase;
2. it starts with "תזכור ש", "תזכרי ש", "זכור ש" or "remember that": call ``remember`` with the rest;
3. it asks to stop the music ("stop the music", "תעצור את המוזיקה"): call ``stop_music``;
4. it asks for photos ("תראי לי תמונות של נועם", "next photo"): call ``show_photos`` (see
   :mod:`companion.localmodel.photos`);
5. it mentions music: call ``play_music`` with the first ``[preferred_artists]`` value;
6. it is one of the phrases the engine can hear (see :mod:`companion.localmodel.smalltalk`): a fixed answer;
7. otherwise the text is echoed back with a question.

A rule that calls a tool applies only when the session may call it (see :func:`may_call`); otherwise the
next rule is tried. After a tool's output the reply acknowledges it, or says it failed when the output
is ``{"ok": false, ...}``: a refused call is never spoken of as done.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from companion.localmodel.crisis import CRISIS_KEY, crisis_severity
from companion.localmodel.digest import digest
from companion.localmodel.items import item_text
from companion.localmodel.notes import has_spoken, pending_say
from companion.localmodel.persona import Sex, as_companion, companion_gender
from companion.localmodel.photos import PHOTO_TOOL, asks_for_photos, photo_ack, photo_arguments
from companion.localmodel.smalltalk import greeting, part_of_day, small_talk
from companion.localmodel.tags import tagged_values

_HEBREW: Final = re.compile(r"[\u05d0-\u05ea]")
MUSIC_WORDS: Final = ("מוזיקה", "שיר", "תנגן", "נגן", "music", "song", "play")
MUSIC_TOOL: Final = "play_music"
STOP_MUSIC_TOOL: Final = "stop_music"
STOP_WORDS: Final = frozenset(
    {"stop", "off", "enough", "עצור", "תעצור", "תעצרי", "תפסיק", "תפסיקי", "הפסק", "תכבה", "תכבי", "די"}
)  # whole words that, with a music word, ask for silence
MUSIC_UNAVAILABLE: Final = "music_unavailable"  # the page's play_music answer when it has no library
REMEMBER_TOOL: Final = "remember"
ALERT_TOOL: Final = "alert_family"
REMEMBER_TRIGGERS: Final = ("תזכור ש", "תזכרי ש", "זכור ש", "remember that")
SUMMARY_CHARS: Final = 200  # an alert's summary is the user's text cut here
SNIPPET_CHARS: Final = 60  # echoed user text is cut here so replies stay short


@dataclass(frozen=True, slots=True)
class Reply:
    """What the next response says: text, or a call of ``name`` with JSON ``arguments``."""

    kind: Literal["text", "function_call"]
    text: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """Everything a reply may depend on, frozen at the moment the response was created."""

    instructions: str
    items: Sequence[Mapping[str, Any]]
    tools: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    tool_choice: Any = "auto"
    out_of_band_text: bool = False  # conversation "none", text only: a summary is asked for


def is_hebrew(text: str) -> bool:
    return bool(_HEBREW.search(text))


def mentions_music(text: str) -> bool:
    lowered = text.casefold()
    return any(word in lowered for word in MUSIC_WORDS)


def asks_to_stop_music(text: str) -> bool:
    """A music word and a stop word ("stop the music", "music off", "תעצור את המוזיקה")."""
    words = set(re.findall(r"[^\W_]+", text.casefold()))
    return mentions_music(text) and bool(words & STOP_WORDS)


def may_call(ctx: ReplyContext, tool: str) -> bool:
    """A model can only call declared tools; a session with no tools at all is let through so the
    engine can be tried bare. ``tool_choice: "none"`` forbids calls."""
    if ctx.tool_choice == "none":
        return False
    names = {t.get("name") for t in ctx.tools if t.get("type") == "function"}
    return not ctx.tools or tool in names


def _may_call_music(ctx: ReplyContext) -> bool:
    return may_call(ctx, MUSIC_TOOL)


def _fold(text: str) -> str:
    """Compare the way the builder writes values: NFKC, case-folded, whitespace runs as one space, and
    a typographic apostrophe as a plain one (a phone types "I’m scared", the recogniser hears "i'm")."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'").split())


def crisis_phrase(said: str, phrases: Sequence[str]) -> str | None:
    """The first listed crisis phrase that the user's text contains, as the instructions spell it."""
    folded = _fold(said)
    return next((p for p in phrases if _fold(p) and _fold(p) in folded), None)


def remembered_text(said: str) -> str | None:
    """What follows a "remember that" opening, or ``None`` when the text does not open with one."""
    for trigger in REMEMBER_TRIGGERS:
        if said[: len(trigger)].casefold() == trigger:
            return said[len(trigger) :].strip()
    return None


def _last_turn(items: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    turns = [
        item
        for item in items
        if item.get("type") in ("function_call", "function_call_output")
        or (item.get("type") == "message" and item.get("role") in ("user", "assistant"))
    ]
    return turns[-1] if turns else None


def _output(output_item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A ``function_call_output``'s answer as an object, or None when it is not a JSON object."""
    try:
        output = json.loads(str(output_item.get("output") or "{}"))
    except json.JSONDecodeError:
        return None
    return output if isinstance(output, dict) else None


def _refusal(output_item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The tool's answer when it says no (``{"ok": false, ...}``): the reply must not claim success."""
    output = _output(output_item)
    return output if output is not None and output.get("ok") is False else None


def _music_refusal(refusal: Mapping[str, Any], hebrew: bool) -> str:
    if refusal.get("error") == MUSIC_UNAVAILABLE:
        return (
            "סליחה, מוזיקה לא זמינה כרגע. בינתיים, על מה נדבר?"
            if hebrew
            else "I'm sorry, music is not available right now. Shall we talk for a while instead?"
        )
    may_play = refusal.get("mayPlay")
    options = may_play.get("artists", []) if isinstance(may_play, dict) else []
    if options:
        other = options[0]
        return (
            f"את זה אי אפשר לנגן עכשיו. אולי {other}?" if hebrew else f"I can't play that. How about {other}?"
        )
    return (
        "את זה אי אפשר לנגן עכשיו. על מה נדבר?"
        if hebrew
        else "I can't play that now. What shall we talk about?"
    )


def _playing(output_item: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(title, artist)`` from a play_music answer ``{"ok": true, "playing": {...}}``, if it has them."""
    output = _output(output_item)
    playing = output.get("playing") if output is not None else None
    if isinstance(playing, dict) and playing.get("title") and playing.get("artist"):
        return str(playing["title"]), str(playing["artist"])
    return None


def _ack(ctx: ReplyContext, output_item: Mapping[str, Any], hebrew: bool, me: Sex | None = None) -> str:
    call = next(
        (
            i
            for i in ctx.items
            if i.get("type") == "function_call" and i.get("call_id") == output_item.get("call_id")
        ),
        None,
    )
    tool = call.get("name") if call is not None else None
    refusal = _refusal(output_item)
    if tool == PHOTO_TOOL:
        return photo_ack(_output(output_item), hebrew)
    if tool == REMEMBER_TOOL:
        if refusal is not None:
            return "לא הצלחתי לשמור את זה כרגע." if hebrew else "I couldn't save that right now."
        return "אזכור את זה." if hebrew else "I'll remember that."
    if tool == ALERT_TOOL:
        if refusal is not None:
            return (
                "לא הצלחתי להודיע למשפחה כרגע. אני כאן איתך."
                if hebrew
                else "I couldn't reach your family just now. I'm here with you."
            )
        if not (_output(output_item) or {}).get("notified"):  # recorded, but nobody was sent a message
            return (
                "רשמתי את זה בשביל המשפחה. אני כאן איתך."
                if hebrew
                else "I've noted it for your family. I'm here with you."
            )
        return (
            "שלחתי הודעה למשפחה. אני כאן איתך."
            if hebrew
            else "I've sent your family a message. I'm here with you."
        )
    if tool == STOP_MUSIC_TOOL:
        if refusal is not None:
            return "לא הצלחתי לעצור את המוזיקה." if hebrew else "I couldn't stop the music."
        return (
            "עצרתי את המוזיקה. על מה נדבר?" if hebrew else "I've stopped the music. What shall we talk about?"
        )
    if refusal is not None:
        return _music_refusal(refusal, hebrew)
    playing = _playing(output_item)
    if tool == MUSIC_TOOL and playing is not None:
        title, artist = playing
        if hebrew:
            return f"{as_companion('{מנגן|מנגנת}', me)} עכשיו את {title} של {artist}. האזנה נעימה!"
        return f"Now playing {title} by {artist}. Enjoy!"
    artist = ""
    if call is not None and tool == MUSIC_TOOL:
        try:
            artist = str(json.loads(call.get("arguments") or "{}").get("artist", ""))
        except (json.JSONDecodeError, AttributeError):
            artist = ""
    if artist:
        if hebrew:
            return f"{as_companion('{מנגן|מנגנת}', me)} עכשיו את {artist}. האזנה נעימה!"
        return f"Now playing {artist}. Enjoy!"
    return "סיימתי. במה עוד אפשר לעזור?" if hebrew else "Done. What else can I help with?"


def _crisis_rule(ctx: ReplyContext, said: str, values: Mapping[str, list[str]]) -> Reply | None:
    """``alert_family`` when ``said`` holds one of the instructions' crisis phrases (and it may be called)."""
    phrase = crisis_phrase(said, values.get(CRISIS_KEY, []))
    if phrase is None or not may_call(ctx, ALERT_TOOL):
        return None
    severity = crisis_severity(ctx.instructions, phrase)
    alert = {"severity": severity, "what_was_asked": said[:SUMMARY_CHARS], "rule": phrase}
    return Reply("function_call", name=ALERT_TOOL, arguments=json.dumps(alert, ensure_ascii=False))


def _tool_rule(ctx: ReplyContext, said: str, values: Mapping[str, list[str]]) -> Reply | None:
    """The crisis rule, then the remember rule; ``None`` when neither applies or may call its tool."""
    urgent = _crisis_rule(ctx, said, values)
    if urgent is not None:
        return urgent
    fact = remembered_text(said)
    if fact and may_call(ctx, REMEMBER_TOOL):
        memory = {"type": "preference", "text": fact, "importance": 3}
        return Reply("function_call", name=REMEMBER_TOOL, arguments=json.dumps(memory, ensure_ascii=False))
    return None


def _music(ctx: ReplyContext, values: Mapping[str, list[str]], hebrew: bool) -> Reply:
    artists = values.get("preferred_artists", [])
    if not _may_call_music(ctx):
        return Reply(
            "text",
            "אין לי אפשרות לנגן מוזיקה כרגע. על מה נדבר?"
            if hebrew
            else "I can't play music right now. What shall we talk about?",
        )
    if not artists:
        return Reply(
            "text",
            "עדיין לא הוגדרה עבורך מוזיקה. איזו מוזיקה היית רוצה לשמוע?"
            if hebrew
            else "No music is configured for you yet. What kind of music would you like to hear?",
        )
    reason = "המשתמש ביקש מוזיקה" if hebrew else "The user asked for music"
    arguments = json.dumps({"artist": artists[0], "reason": reason}, ensure_ascii=False)
    return Reply("function_call", name=MUSIC_TOOL, arguments=arguments)


def _stop_music(ctx: ReplyContext, hebrew: bool) -> Reply:
    if may_call(ctx, STOP_MUSIC_TOOL):
        return Reply("function_call", name=STOP_MUSIC_TOOL, arguments="{}")
    return Reply(
        "text",
        "אין לי אפשרות לעצור את המוזיקה מכאן. אפשר ללחוץ על הכפתור הגדול."
        if hebrew
        else "I can't stop the music from here. You can press the big button.",
    )


def _hello(ctx: ReplyContext, values: Mapping[str, list[str]], name: str, hebrew: bool) -> str:
    when = part_of_day(ctx.items, values)
    if when is not None:
        return greeting(when, name, hebrew)
    if hebrew:
        return f"שלום {name}! מה שלומך היום?" if name else "שלום! מה שלומך היום?"
    return f"Hello {name}! How are you feeling today?" if name else "Hello! How are you today?"


def plan_reply(ctx: ReplyContext) -> Reply:
    """The next reply, by fixed rules (see the module docstring for why)."""
    if ctx.out_of_band_text:  # a summary asked beside the conversation: what was said, digested
        return Reply("text", digest(ctx.items, hebrew=is_hebrew(ctx.instructions)))
    values = tagged_values(ctx.instructions)
    hebrew = is_hebrew(ctx.instructions)
    names = values.get("preferred_name", [])
    name = names[0] if names else ""
    note = pending_say(ctx.items)
    last = _last_turn(ctx.items)
    if note is not None and last is not None and last.get("role") == "user":
        # The person spoke after the note was sent: a crisis in their words comes before any note
        # (the note's asking then fails, and the relay asks again later).
        urgent = _crisis_rule(ctx, item_text(last).strip(), values)
        if urgent is not None:
            return urgent
    if note is not None and has_spoken(ctx.items):
        return Reply("text", note)
    if not any(i.get("type") == "message" and i.get("role") == "user" for i in ctx.items):
        hello = _hello(ctx, values, name, hebrew)
        return Reply("text", hello if note is None else f"{hello} {note}")
    if note is not None:
        return Reply("text", note)
    if last is not None and last.get("type") == "function_call_output":
        return Reply("text", _ack(ctx, last, hebrew, companion_gender(values)))
    if last is None or last.get("role") != "user":
        return Reply("text", "על מה עוד נדבר?" if hebrew else "What else would you like to talk about?")
    said = item_text(last).strip()
    tool_reply = _tool_rule(ctx, said, values)
    if tool_reply is not None:
        return tool_reply
    if asks_to_stop_music(said):
        return _stop_music(ctx, hebrew)
    if asks_for_photos(said) and may_call(ctx, PHOTO_TOOL):
        return Reply("function_call", name=PHOTO_TOOL, arguments=photo_arguments(said, values))
    if mentions_music(said):
        return _music(ctx, values, hebrew)
    answer = small_talk(said, hebrew)
    if answer is not None:
        return Reply("text", as_companion(answer, companion_gender(values)))
    if not said:
        return Reply("text", "שמעתי אותך. אפשר לשמוע עוד?" if hebrew else "I heard you. Tell me more?")
    snippet = said if len(said) <= SNIPPET_CHARS else said[:SNIPPET_CHARS].rstrip() + "…"
    if hebrew:
        return Reply("text", f"שמעתי{' ' + name if name else ''}: «{snippet}». אפשר לשמוע עוד?")
    who = f", {name}" if name else ""
    return Reply("text", f'I hear you{who}: "{snippet}". Would you like to tell me more?')
