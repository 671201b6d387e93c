"""The greeting that makes the companion speak first: local time and part of the day, as plain data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from companion.profiles.models import CareContext, Profile
from companion.realtime.greeting import greeting_message, part_of_day


def _context(timezone: str | None) -> CareContext:
    if timezone is None:
        return CareContext(user_id="u1")
    profile = Profile.model_validate(
        {"personalInfo": {"fullName": "Ruth Cohen", "gender": "female", "timezone": timezone}}
    )
    return CareContext(user_id="u1", profile=profile)


def _text(item: dict[str, object]) -> str:
    content = item["content"]
    assert isinstance(content, list)
    return str(content[0]["text"])


@pytest.mark.parametrize(
    ("hour", "expected"),
    [(4, "night"), (5, "morning"), (11, "morning"), (12, "afternoon"), (16, "afternoon"),
     (17, "evening"), (20, "evening"), (21, "night"), (0, "night")],
)  # fmt: skip
def test_part_of_day_boundaries(hour: int, expected: str) -> None:
    assert part_of_day(hour) == expected


def test_the_message_carries_the_local_time_of_the_persons_zone() -> None:
    now = datetime(2026, 1, 15, 6, 30, tzinfo=UTC)  # 08:30 in Jerusalem (UTC+2 in winter), 01:30 in New York
    item = greeting_message(_context("Asia/Jerusalem"), now)
    assert item["role"] == "system"
    assert "[local_time]: «08:30»" in _text(item)
    assert "[part_of_day]: «morning»" in _text(item)
    evening_in_ny = greeting_message(_context("America/New_York"), now)
    assert "[local_time]: «01:30»" in _text(evening_in_ny)
    assert "[part_of_day]: «night»" in _text(evening_in_ny)


def test_an_unknown_zone_or_no_profile_falls_back_to_the_default_zone() -> None:
    now = datetime(2026, 7, 1, 15, 0, tzinfo=UTC)  # 18:00 in Jerusalem (UTC+3 in summer)
    for context in (_context("Mars/Olympus_Mons"), _context(None)):
        assert "[local_time]: «18:00»" in _text(greeting_message(context, now))


def test_a_greeting_for_a_reminder_says_it_in_the_same_answer_without_greeting_twice() -> None:
    note = "Medication reminder rem-1 (18:00).\nNow, say to the person in Hebrew [say]: «הגיע הזמן»"
    plain = _text(greeting_message(_context("Asia/Jerusalem"), datetime(2026, 3, 26, 16, 0, tzinfo=UTC)))
    text = _text(
        greeting_message(_context("Asia/Jerusalem"), datetime(2026, 3, 26, 16, 0, tzinfo=UTC), note=note)
    )
    assert "[part_of_day]: «evening»" in text and text.endswith(note)
    assert "in the same answer and without greeting again" in text
    assert "ask one short, gentle question" in plain and "ask one short" not in text
    assert "[say]" not in plain
