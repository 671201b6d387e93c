"""The digest e-mail (a person's day, or week, in a few lines), rendered from its job's payload: pure.

Nothing more sensitive than the summaries reaches it: how many conversations and minutes, the
summaries the model (or the plain digest) wrote, how many doses were taken and missed (never which
medication), how many alerts are open. Every text is one line per summary, bounded. The subject names
the person and the day only. Each message carries a single-use link that stops these e-mails.
"""

from __future__ import annotations

from typing import Any, Final

from companion.care.messages import EmailText, language_of

SUMMARIES_MAX: Final = 10  # the day's (or week's) summaries in one message
SUMMARY_CHARS: Final = 600
NAME_CHARS: Final = 60

_TEXT: Final = {
    "en": {
        "subject.day": "{name}'s day, {date}",
        "subject.week": "{name}'s week, to {date}",
        "someone": "The person you care for",
        "talked": "Conversations: {count} ({minutes} minutes of talking).",
        "nothing": "There was no conversation with the companion.",
        "doses": "Medication reminders: {taken} taken, {missed} missed.",
        "alerts": "Open alerts: {alerts} (see the dashboard).",
        "summaries": "What the conversations were about (written by the AI; it may be wrong):",
        "unsubscribe": "To stop these e-mails, open this link (no sign-in needed):",
        "signature": "Companion",
    },
    "he": {
        "subject.day": "היום של {name}, {date}",
        "subject.week": "השבוע של {name}, עד {date}",
        "someone": "האדם שאתם מלווים",
        "talked": "שיחות: {count} ({minutes} דקות דיבור).",
        "nothing": "לא הייתה שיחה עם המלווה.",
        "doses": "תזכורות תרופות: {taken} נלקחו, {missed} הוחמצו.",
        "alerts": "התראות פתוחות: {alerts} (ראו בלוח הבקרה).",
        "summaries": "על מה דיברו (נכתב בידי הבינה המלאכותית; ייתכנו טעויות):",
        "unsubscribe": "להפסקת ההודעות האלה, פתחו את הקישור (אין צורך בכניסה):",
        "signature": "קומפניון",
    },
}


def _line(value: object, limit: int) -> str:
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def render_digest(payload: dict[str, Any]) -> EmailText:
    language = language_of(payload)
    text = _TEXT[language]
    name = _line(payload.get("name"), NAME_CHARS) or text["someone"]
    day = _line(payload.get("date"), 20)
    period = "week" if payload.get("period") == "week" else "day"
    lines: list[str] = []
    count = _count(payload.get("conversations"))
    if count:
        lines.append(text["talked"].format(count=count, minutes=_count(payload.get("minutes"))))
    else:
        lines.append(text["nothing"])
    lines.append(
        text["doses"].format(taken=_count(payload.get("taken")), missed=_count(payload.get("missed")))
    )
    if _count(payload.get("alerts")):
        lines.append(text["alerts"].format(alerts=_count(payload.get("alerts"))))
    summaries = [s for s in payload.get("summaries") or [] if isinstance(s, dict)][:SUMMARIES_MAX]
    said = [(_line(s.get("when"), 40), _line(s.get("summary"), SUMMARY_CHARS)) for s in summaries]
    said = [(when, summary) for when, summary in said if summary]
    if said:
        lines += ["", text["summaries"]]
        lines += [f"- {when}: {summary}" if when else f"- {summary}" for when, summary in said]
    link = payload.get("unsubscribeUrl")
    if isinstance(link, str) and link.startswith(("https://", "http://")):
        lines += ["", text["unsubscribe"], link]
    lines += ["", text["signature"]]
    subject = text[f"subject.{period}"].format(name=name, date=day)
    return EmailText(subject=subject, body="\n".join(lines) + "\n")
