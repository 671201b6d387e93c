"""The alert e-mail, rendered from a job's payload: pure functions, no I/O.

Only the payload's named fields are read (the person's name and gender, the severity, what was said, when, the
acknowledgement link), so nothing else from a profile can reach a message even if a payload carried
more. The subject names the person and the severity, never what was said: subjects show on lock
screens and in notification previews.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Language = Literal["he", "en"]
DIGEST_TYPE = "digest"  # a job whose payload is a person's day (``digest_messages.py``)

_SEVERITY: dict[Language, dict[str, str]] = {
    "en": {"critical": "Critical", "high": "Important", "medium": "For your attention"},
    "he": {"critical": "דחופה", "high": "חשובה", "medium": "לידיעתכם"},
}
_MONTHS_HE = (
    "ינואר",
    "פברואר",
    "מרץ",
    "אפריל",
    "מאי",
    "יוני",
    "יולי",
    "אוגוסט",
    "ספטמבר",
    "אוקטובר",
    "נובמבר",
    "דצמבר",
)
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_TEXT: dict[Language, dict[str, str]] = {
    "en": {
        "someone": "The person you care for",
        "subject": "{severity} alert: {name}",
        "subject_escalated": "Still unanswered: {severity} alert: {name}",
        "opening": "{name} raised an alert through the companion.",
        "opening.male": "{name} raised an alert through the companion.",
        "opening.female": "{name} raised an alert through the companion.",
        "severity": "Severity: {severity}",
        "said": "What was said: {summary}",
        "when": "When: {when}",
        "escalated": "Nobody has acknowledged this alert yet, so it is now sent to more people.",
        "ack": "To let everyone know you are handling it, open this link (it works once):",
        "no_ack": "You can acknowledge it on the family dashboard.",
        "signature": "— Companion",
    },
    "he": {
        "someone": "האדם שאתם מלווים",
        "subject": "התראה {severity}: {name}",
        "subject_escalated": "עדיין ללא מענה: התראה {severity}: {name}",
        "opening": "התקבלה התראה מאת {name} דרך המלווה.",  # gender unknown: no slash forms
        "opening.male": "{name} הפעיל התראה דרך המלווה.",
        "opening.female": "{name} הפעילה התראה דרך המלווה.",
        "severity": "דחיפות: {severity}",
        "said": "מה נאמר: {summary}",
        "when": "מתי: {when}",
        "escalated": "אף אחד עדיין לא אישר את ההתראה, ולכן היא נשלחת עכשיו לאנשים נוספים.",
        "ack": "כדי שכולם יידעו שאתם מטפלים בזה, פתחו את הקישור (הוא עובד פעם אחת):",
        "no_ack": "אפשר לאשר אותה בלוח הבקרה של המשפחה.",
        "signature": "— המלווה",
    },
}
NAME_MAX = 100  # a name longer than this is cut: it goes into a subject line
SUMMARY_MAX = 1000  # the alert's summary is bounded at the source too; this bounds the message


@dataclass(frozen=True, slots=True)
class EmailText:
    subject: str
    body: str


def language_of(payload: dict[str, Any]) -> Language:
    return "he" if payload.get("language") == "he" else "en"


def zone(name: object) -> tzinfo:
    """The payload's IANA time zone; UTC when it is missing or unknown (the time is then marked UTC)."""
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def format_when(created_at: object, timezone: object, language: Language) -> str:
    """``createdAt`` as a person reads it in the elder's own time zone, e.g. ``1 March 2026, 10:00
    (Asia/Jerusalem)``; the raw value when it is not an ISO time."""
    if not isinstance(created_at, str):
        return ""
    try:
        moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return created_at[:40]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    tz = zone(timezone)
    local = moment.astimezone(tz)
    months = _MONTHS_HE if language == "he" else _MONTHS_EN
    month = ("ב" if language == "he" else "") + months[local.month - 1]
    zone_name = timezone if tz is not UTC and isinstance(timezone, str) else "UTC"
    return f"{local.day} {month} {local.year}, {local:%H:%M} ({zone_name})"


def render_email(payload: dict[str, Any]) -> EmailText:
    """The subject and plain-text body of an alert e-mail, in the payload's language (he or en)."""
    language = language_of(payload)
    text = _TEXT[language]
    person = payload.get("person")
    name = person.get("name") if isinstance(person, dict) else None
    gender = person.get("gender") if isinstance(person, dict) else None
    opening = text[f"opening.{gender}"] if gender in ("male", "female") else text["opening"]
    name = _one_line(name, NAME_MAX) or text["someone"]
    raw_severity = str(payload.get("severity", ""))
    severity = _SEVERITY[language].get(raw_severity, raw_severity)
    escalated = payload.get("type") == "alert.escalated"
    subject = text["subject_escalated" if escalated else "subject"].format(severity=severity, name=name)
    lines = [opening.format(name=name), "", text["severity"].format(severity=severity)]
    summary = payload.get("summary")
    if isinstance(summary, str) and summary.strip():
        lines.append(text["said"].format(summary=summary.strip()[:SUMMARY_MAX]))
    when = format_when(payload.get("createdAt"), payload.get("timezone"), language)
    if when:
        lines.append(text["when"].format(when=when))
    if escalated:
        lines += ["", text["escalated"]]
    ack_url = payload.get("ackUrl")
    if isinstance(ack_url, str) and ack_url.startswith(("https://", "http://")):
        lines += ["", text["ack"], ack_url]
    else:
        lines += ["", text["no_ack"]]
    lines += ["", text["signature"]]
    return EmailText(subject=subject, body="\n".join(lines) + "\n")


def message_id(job_id: str, sender: str) -> str:
    """The same job always gets the same Message-ID, so a mail system can drop a resent copy."""
    address = parseaddr(sender)[1]
    domain = re.sub(r"[^A-Za-z0-9.-]", "", address.rpartition("@")[2]) if "@" in address else ""
    local = re.sub(r"[^A-Za-z0-9._-]", "-", job_id)[:120] or "alert"
    return f"<{local}.alert@{domain or 'companion.invalid'}>"


def build_email(payload: dict[str, Any], *, job_id: str, sender: str, to: str, at: datetime) -> EmailMessage:
    """The whole message for one job (one recipient), sent at ``at``: an alert's, or a digest's."""
    if payload.get("type") == DIGEST_TYPE:
        from companion.care.digest_messages import render_digest  # its module imports this one

        rendered = render_digest(payload)
    else:
        rendered = render_email(payload)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(at.astimezone(UTC))
    message["Message-ID"] = message_id(job_id, sender)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to an alert
    message["Content-Language"] = language_of(payload)
    message.set_content(rendered.body, charset="utf-8")
    return message


def _one_line(value: object, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return " ".join(value.split())[:limit]
