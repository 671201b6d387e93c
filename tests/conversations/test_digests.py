"""The digest e-mail's decisions and text, with plain data: when it is due, what it says (and never
says), and how it renders with its stop link."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from companion.care.messages import build_email
from companion.conversations.digests import digest_due, digest_payload, job_key
from companion.profiles.models import CareContext, EmergencyContact
from companion.store.base import ConversationRecord, ReminderRecord
from tests.prompt.factories import profile, safety

pytestmark = pytest.mark.unit
ZONE = ZoneInfo("Asia/Jerusalem")


def contact(**kw: object) -> EmergencyContact:
    body = {"name": "דנה", "relationship": "בת", "phone": "050-123-4567", "email": "dana@example.com"}
    return EmergencyContact.model_validate(body | kw)


@pytest.mark.parametrize(
    ("kw", "local", "due"),
    [
        ({"digest": "daily", "digestTime": "19:00"}, datetime(2026, 3, 2, 18, 59, tzinfo=ZONE), None),
        ({"digest": "daily", "digestTime": "19:00"}, datetime(2026, 3, 2, 19, 0, tzinfo=ZONE), "day"),
        (
            {"digest": "weekly", "digestTime": "08:00"},
            datetime(2026, 3, 1, 9, 0, tzinfo=ZONE),
            "week",
        ),  # Sunday
        ({"digest": "weekly", "digestTime": "08:00"}, datetime(2026, 3, 2, 9, 0, tzinfo=ZONE), None),
        ({"digest": "none"}, datetime(2026, 3, 2, 23, 0, tzinfo=ZONE), None),
    ],
)
def test_a_digest_is_due_at_the_contacts_local_time(
    kw: dict[str, str], local: datetime, due: str | None
) -> None:
    assert digest_due(contact(**kw), local) == due


def test_a_digest_needs_an_address() -> None:
    with pytest.raises(ValueError, match="e-mail address"):
        contact(digest="daily", email=None)


def test_one_outbox_row_per_period_and_day() -> None:
    assert job_key("day", date(2026, 3, 2)) == "digest-day-2026-03-02"


def test_the_message_holds_counts_and_summaries_only_and_its_stop_link() -> None:
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    talk = ConversationRecord(
        "c1",
        "u",
        None,
        "transcript",
        start,
        ended_at=start + timedelta(minutes=9),
        person_talk_ms=240_000,
        companion_talk_ms=120_000,
        summary="דיבר על הגינה",
    )
    dose = ReminderRecord("r1", "u", "medication", "אריספט 5 mg", "08:00", start, "acknowledged", start)
    context = CareContext(user_id="u", profile=profile(), safety=safety())
    payload = digest_payload(
        context=context,
        period="day",
        day=date(2026, 3, 2),
        conversations=[talk],
        reminders=[dose],
        open_alerts=1,
        unsubscribe_url="https://care.example/digest/unsubscribe/tok",
    )
    assert "אריספט" not in str(payload), "never a medication's name"
    message = build_email(payload, job_id="j1", sender="c@example.com", to="dana@example.com", at=start)
    body = message.get_content()
    assert message["Subject"] == "היום של משה, 2026-03-02"
    assert "שיחות: 1 (6 דקות דיבור)." in body and "1 נלקחו, 0 הוחמצו" in body
    assert "- 2026-03-02 10:00: דיבר על הגינה" in body
    assert body.rstrip().splitlines()[-3] == "https://care.example/digest/unsubscribe/tok"
