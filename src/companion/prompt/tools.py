"""The functions the model may call, in the GA Realtime ``session.tools`` shape.

Descriptions are English whatever the conversation's language: they are read by the model, never
spoken, and one set keeps the relay's argument validation simple. When each tool may be used is the
instructions' job (the ``tools`` section and the rules it points to); these schemas only say what a
call must contain. ``additionalProperties: false`` everywhere so the relay can reject invented fields.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from companion.profiles.models import LONG_TEXT, MEDIUM_TEXT, MemoryType, Severity

_MEMORY_TYPES: Final = [member.value for member in MemoryType]
_SEVERITIES: Final = [member.value for member in Severity]
PLAY_REASONS: Final = ("requested", "sadness", "proactive")

REMEMBER: Final[dict[str, Any]] = {
    "type": "function",
    "name": "remember",
    "description": (
        "Save one new, important fact the person told you, so that future conversations can use it. "
        "One short factual sentence; never a guess, never something already in your instructions."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": _MEMORY_TYPES, "description": "What kind of fact this is."},
            "text": {
                "type": "string",
                "minLength": 1,
                "maxLength": LONG_TEXT,
                "description": "The fact, in the conversation's language, e.g. 'Her grandson Noam is 7'.",
            },
            "importance": {
                "type": "integer",
                "minimum": 1,
                "maximum": 5,
                "description": "1 = trivia, 3 = useful, 5 = essential (family, health, strong feelings).",
            },
        },
        "required": ["type", "text", "importance"],
        "additionalProperties": False,
    },
}

ALERT_FAMILY: Final[dict[str, Any]] = {
    "type": "function",
    "name": "alert_family",
    "description": (
        "Notify the family when a safety rule applies: a never-allow rule, a crisis phrase, or an "
        "emergency. Keep talking warmly with the person after calling it."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "severity": {
                "type": "string",
                "enum": _SEVERITIES,
                "description": "critical = possible danger now; high = needs attention today; medium = FYI.",
            },
            "what_was_asked": {
                "type": "string",
                "minLength": 1,
                "maxLength": MEDIUM_TEXT,
                "description": "What the person said or asked, as close to their words as possible.",
            },
            "rule": {
                "type": "string",
                "maxLength": MEDIUM_TEXT,
                "description": "The rule or crisis phrase from your instructions that applies, if any.",
            },
        },
        "required": ["severity", "what_was_asked"],
        "additionalProperties": False,
    },
}

PLAY_MUSIC: Final[dict[str, Any]] = {
    "type": "function",
    "name": "play_music",
    "description": (
        "Play one song. Give at least one of artist, song or genre, taken only from the music lists "
        "in your instructions; never a disliked or unlisted artist."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "artist": {"type": "string", "description": "An artist from the preferred artists list."},
            "song": {"type": "string", "description": "A song title, if a specific song is wanted."},
            "genre": {"type": "string", "description": "A genre from the preferred genres list."},
            "reason": {
                "type": "string",
                "enum": list(PLAY_REASONS),
                "description": "requested = the person asked; sadness = to comfort; proactive = your idea.",
            },
        },
        "required": ["reason"],
        "additionalProperties": False,
    },
}

STOP_MUSIC: Final[dict[str, Any]] = {
    "type": "function",
    "name": "stop_music",
    "description": "Stop the music now: the person asked to stop, or seems bothered by it.",
    "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
}

MEDICATION_TAKEN: Final[dict[str, Any]] = {
    "type": "function",
    "name": "medication_taken",
    "description": (
        "Record that the person has taken a medication you reminded them of (or that they say they took "
        "one that is due). Call it only when they clearly say so; never assume. The answer says what was "
        "recorded; if it says nothing was, do not tell them it was."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "reminder_id": {
                "type": "string",
                "maxLength": 64,
                "description": "The reminder id from the reminder note, when there was one.",
            },
            "medication": {
                "type": "string",
                "maxLength": 80,
                "description": "The medication's name as in your instructions, when no reminder id is known.",
            },
        },
        "additionalProperties": False,
    },
}

SNOOZE_REMINDER: Final[dict[str, Any]] = {
    "type": "function",
    "name": "snooze_reminder",
    "description": (
        "The person asks to be reminded later about the reminder you just gave them. Without minutes, the "
        "usual delay is used."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "minutes": {
                "type": "integer",
                "minimum": 1,
                "maximum": 240,
                "description": "In how many minutes to remind them again.",
            },
        },
        "additionalProperties": False,
    },
}

PHOTO_REASONS: Final = (
    "user_mentioned_family",
    "user_expressed_sadness",
    "long_conversation_engagement",
    "user_requested_photos",
)

SHOW_PHOTOS: Final[dict[str, Any]] = {
    "type": "function",
    "name": "show_photos",
    "description": (
        "Show one of the family's photos on the person's screen. The answer says what is on it (who, "
        "when, where, the caption, 'photo 2 of 4') as family data, and whether there are more. Describe "
        "it from those facts only and ask what they remember; call again with next_photo true for the "
        "next one. If the person says enough, stop offering photos."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "trigger_reason": {
                "type": "string",
                "enum": list(PHOTO_REASONS),
                "description": "Why now: they mentioned family, are sad, you talked long, or they asked.",
            },
            "mentioned_names": {
                "type": "array",
                "items": {"type": "string", "maxLength": 80},
                "maxItems": 10,
                "description": "Names the person mentioned, as they said them (e.g. a grandchild's name).",
            },
            "keywords": {
                "type": "array",
                "items": {"type": "string", "maxLength": 80},
                "maxItems": 10,
                "description": "Other words to look for: a place, an event, a year.",
            },
            "next_photo": {
                "type": "boolean",
                "description": "true: the next photo of the last choice, instead of a new choice.",
            },
        },
        "required": ["trigger_reason"],
        "additionalProperties": False,
    },
}

# Answered by the relay (care/reminder_tools.py); the language packs say when to call them.
REMINDER_TOOLS: Final[tuple[dict[str, Any], ...]] = (MEDICATION_TAKEN, SNOOZE_REMINDER)

TOOLS: Final[tuple[dict[str, Any], ...]] = (
    REMEMBER,
    ALERT_FAMILY,
    PLAY_MUSIC,
    STOP_MUSIC,
    *REMINDER_TOOLS,
    SHOW_PHOTOS,  # offered only to a person with photos (``realtime.tools.tools_for``)
)


def tool_definitions() -> list[dict[str, Any]]:
    """Fresh deep copies, so a caller that edits its session config cannot change ours."""
    return copy.deepcopy(list(TOOLS))
