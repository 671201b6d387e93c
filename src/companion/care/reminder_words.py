"""What a reminder says, to whom, as pure functions of plain data: the sentence the person hears, the
note that asks a live conversation to say it, the family's alert when it was missed, and the page card's
words.

The sentence names the medication and its dosage exactly as the caregiver wrote them, and nothing more:
no advice, no instructions the model might paraphrase wrongly. The model gets the sentence inside a
short system note (English, like its tool descriptions) that says which tool to call on the answer.
"""

from __future__ import annotations

from typing import Final

from companion.languages import DEFAULT_LANGUAGE
from companion.store.base import ReminderKind

LANGUAGE_NAMES: Final = {"he": "Hebrew", "en": "English"}
SAY_TAG: Final = "say"  # the tag of the line a note asks to be said (the offline engine's contract)

_SENTENCES: Final[dict[str, dict[ReminderKind, str]]] = {
    "he": {
        "medication": "הגיע הזמן לקחת {label}. לקחת כבר?",
        "checkin": "מה שלומך? רציתי לשמוע איך עובר עליך היום.",
    },
    "en": {
        "medication": "It's time to take {label}. Have you taken it yet?",
        "checkin": "How are you doing? I wanted to hear how your day is going.",
    },
}

_MISSED: Final[dict[str, dict[ReminderKind, str]]] = {
    "he": {
        "medication": "{label} בשעה {time} לא אושרה",
        "checkin": "שאלת השלום של השעה {time} לא נענתה",
    },
    "en": {
        "medication": "{label} at {time} was not confirmed",
        "checkin": "The {time} check-in was not answered",
    },
}

# The page's card: a title, three buttons and what the screen reader hears when it appears.
_CARD: Final[dict[str, dict[str, str]]] = {
    "he": {
        "title.medication": "הגיע הזמן לתרופה",
        "title.checkin": "מה שלומך?",
        "taken.medication": "לקחתי עכשיו",
        "taken.checkin": "אני בסדר",
        "snooze": "הזכר לי בעוד {minutes} דקות",
        "talk": "דבר איתי",
        "label": "תזכורת",
    },
    "en": {
        "title.medication": "Time for your medicine",
        "title.checkin": "How are you?",
        "taken.medication": "I'm taking it now",
        "taken.checkin": "I'm fine",
        "snooze": "Remind me in {minutes} minutes",
        "talk": "Talk to me",
        "label": "Reminder",
    },
}


def _lang(language: str | None) -> str:
    return language if language in _SENTENCES else DEFAULT_LANGUAGE


def sentence(kind: ReminderKind, label: str, language: str | None) -> str:
    """What the person hears or reads: "הגיע הזמן לקחת אקמול 500 מ"ג. לקחת כבר?"."""
    return _SENTENCES[_lang(language)][kind].format(label=label)


def say_note(reminder_id: str, kind: ReminderKind, label: str, local_time: str, language: str | None) -> str:
    """The hidden system note that has a live conversation say the reminder at its next quiet moment.

    The words to say are on their own line, tagged the way the instruction builder tags data
    (``... [say]: «<sentence>»``, guillemets taken out of the sentence): a model reads the line as
    the sentence to say, and the offline engine says exactly that value (its documented contract)."""
    lang = _lang(language)
    said = sentence(kind, label, lang).replace("«", '"').replace("»", '"')
    if kind == "checkin":
        return "\n".join(
            (
                f"Scheduled check-in ({local_time}).",
                f"Now, warmly and briefly, ask the person in {LANGUAGE_NAMES[lang]} [{SAY_TAG}]: «{said}»",
                "Then listen and talk with them as usual.",
            )
        )
    return "\n".join(
        (
            f"Medication reminder {reminder_id} ({local_time}).",
            f"Now, warmly and briefly, say to the person in {LANGUAGE_NAMES[lang]} [{SAY_TAG}]: «{said}»",
            f'When they say they have taken it, call medication_taken with reminder_id "{reminder_id}". '
            "If they ask to be reminded later, call snooze_reminder. "
            "Do not add any advice about the medication or its dose.",
        )
    )


def missed_summary(kind: ReminderKind, label: str, local_time: str, language: str | None) -> str:
    """The family's alert: which reminder, at what local time, was not confirmed."""
    return _MISSED[_lang(language)][kind].format(label=label, time=local_time)


def card_words(language: str | None, snooze_minutes: int) -> dict[str, str]:
    """The card's words in the person's language, the snooze button with its minutes filled in."""
    words = dict(_CARD[_lang(language)])
    words["snooze"] = words["snooze"].format(minutes=snooze_minutes)
    return words
