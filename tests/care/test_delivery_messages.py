"""The alert e-mail as plain data: what it says, in which language, at which local time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from receivers import PERSON_NAME, SUMMARY, alert_payload

from companion.care.messages import build_email, format_when, message_id, render_email

AT = datetime(2026, 1, 15, 8, 31, tzinfo=UTC)


def test_the_english_message_names_the_person_severity_words_time_and_link() -> None:
    text = render_email(alert_payload())
    assert text.subject == f"Critical alert: {PERSON_NAME}"
    assert text.body.splitlines()[:5] == [
        f"{PERSON_NAME} raised an alert through the companion.",
        "",
        "Severity: Critical",
        f"What was said: {SUMMARY}",
        "When: 15 January 2026, 10:30 (Asia/Jerusalem)",  # UTC+2 in winter
    ]
    assert "https://care.example.org/ack/tok-123" in text.body
    assert "(it works once)" in text.body


def test_the_hebrew_message_speaks_hebrew_in_the_persons_summer_time() -> None:
    payload = alert_payload(
        language="he",
        person={"id": "u1", "name": "שרה כהן"},
        summary="נפלתי במטבח",
        severity="high",
        createdAt="2026-07-01T08:30:00Z",
    )
    text = render_email(payload)
    assert text.subject == "התראה חשובה: שרה כהן"
    assert "מה נאמר: נפלתי במטבח" in text.body
    assert "מתי: 1 ביולי 2026, 11:30 (Asia/Jerusalem)" in text.body  # UTC+3 in summer
    assert "פתחו את הקישור" in text.body


@pytest.mark.parametrize(
    ("gender", "name", "opening"),
    [
        ("female", "שרה כהן", "שרה כהן הפעילה התראה דרך המלווה."),
        ("male", "משה לוי", "משה לוי הפעיל התראה דרך המלווה."),
        (None, "משה לוי", "התקבלה התראה מאת משה לוי דרך המלווה."),  # unknown: a form with no gender
        ("other", "משה לוי", "התקבלה התראה מאת משה לוי דרך המלווה."),
    ],
)
def test_the_hebrew_message_speaks_of_the_person_in_their_gender(
    gender: str | None, name: str, opening: str
) -> None:
    payload = alert_payload(language="he", person={"id": "u1", "name": name, "gender": gender})
    body = render_email(payload).body
    assert body.splitlines()[0] == opening
    assert "/ה" not in body


def test_the_english_message_is_the_same_for_every_gender() -> None:
    bodies = {
        render_email(alert_payload(person={"id": "u1", "name": "Ann", "gender": gender})).body
        for gender in ("female", "male", None)
    }
    assert len(bodies) == 1 and next(iter(bodies)).startswith("Ann raised an alert through the companion.")


def test_the_subject_never_carries_what_was_said() -> None:
    for language in ("en", "he"):
        text = render_email(alert_payload(language=language, summary="chest pain after the new pills"))
        assert "chest" not in text.subject
        assert "chest pain" in text.body


def test_only_the_named_fields_reach_the_message() -> None:
    leaked = alert_payload(
        medications=[{"name": "Warfarin", "dosage": "5 mg"}],
        memories=["Her late husband Moshe"],
        person={"id": "u1", "name": PERSON_NAME, "diagnosis": "dementia"},
    )
    email = build_email(leaked, job_id="job-1", sender="alerts@care.example.org", to="d@example.com", at=AT)
    whole = email.as_string()
    for secret in ("Warfarin", "Moshe", "dementia", "u1"):
        assert secret not in whole


def test_an_escalation_says_nobody_answered_yet() -> None:
    text = render_email(alert_payload(type="alert.escalated", stage=1))
    assert text.subject == f"Still unanswered: Critical alert: {PERSON_NAME}"
    assert "Nobody has acknowledged this alert yet" in text.body


def test_without_a_link_the_dashboard_is_named_instead() -> None:
    for ack in (None, "javascript:alert(1)"):
        text = render_email(alert_payload(ackUrl=ack))
        assert "dashboard" in text.body
        assert "javascript" not in text.body


def test_missing_or_odd_fields_still_make_a_readable_message() -> None:
    text = render_email({"severity": "medium", "summary": "  ", "timezone": "Mars/Olympus"})
    assert text.subject == "For your attention alert: The person you care for"
    assert "What was said" not in text.body
    assert "When:" not in text.body
    name = render_email(alert_payload(person={"name": "Sara\r\nBcc: x@evil.example"})).subject
    assert "\n" not in name and "\r" not in name


@pytest.mark.parametrize(
    ("created", "zone", "language", "expected"),
    [
        ("2026-03-29T00:30:00Z", "Europe/London", "en", "29 March 2026, 00:30 (Europe/London)"),
        ("2026-03-29T01:30:00Z", "Europe/London", "en", "29 March 2026, 02:30 (Europe/London)"),
        ("2026-03-29T01:30:00Z", "Not/AZone", "en", "29 March 2026, 01:30 (UTC)"),
        ("2026-03-29T01:30:00", None, "he", "29 במרץ 2026, 01:30 (UTC)"),
        ("yesterday", "Asia/Jerusalem", "en", "yesterday"),
        (None, "Asia/Jerusalem", "en", ""),
    ],
)
def test_when_is_local_time_across_daylight_saving(
    created: str | None, zone: str | None, language: str, expected: str
) -> None:
    assert format_when(created, zone, "he" if language == "he" else "en") == expected


def test_the_email_headers_identify_the_job_for_deduplication() -> None:
    email = build_email(
        alert_payload(), job_id="job-1", sender="Care <alerts@care.example.org>", to="d@x.org", at=AT
    )
    assert email["Message-ID"] == "<job-1.alert@care.example.org>"
    assert email["To"] == "d@x.org"
    assert email["Auto-Submitted"] == "auto-generated"
    assert email["Date"] == "Thu, 15 Jan 2026 08:31:00 +0000"
    assert email.get_content_type() == "text/plain"
    assert message_id("job 1/ä", "no-domain") == "<job-1--.alert@companion.invalid>"
    assert message_id("job-1", "a@b.org") == message_id("job-1", "a@b.org")
