"""The family's "today" for one person, from plain data: conversations today and minutes talked, the
last conversation, today's reminders, open alerts, memories to review, and 14 days of minutes talked
and doses taken. Days are the person's own (their time zone), so "today" is their today.

"Minutes talked" counts speech (the person's and the companion's), not how long a page was open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from companion.store.base import ConversationRecord, ReminderRecord

STRIP_DAYS: Final = 14
WAITING: Final = frozenset({"due", "delivered", "snoozed"})


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local day, in UTC (a DST day is 23 or 25 hours long)."""
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def talk_minutes(records: Iterable[ConversationRecord]) -> float:
    return sum(r.person_talk_ms + r.companion_talk_ms for r in records) / 60_000


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    minutes: float  # talked
    doses: int  # medication reminders confirmed taken
    conversations: int

    def as_json(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "minutes": round(self.minutes, 1),
            "doses": self.doses,
            "conversations": self.conversations,
        }


@dataclass(frozen=True, slots=True)
class Today:
    day: date
    conversations: int
    minutes: float
    last: ConversationRecord | None
    taken: int
    missed: int
    waiting: int
    open_alerts: int
    memories_to_review: int
    days: tuple[Day, ...]  # oldest first, today last


def strip(
    today: date,
    zone: ZoneInfo,
    conversations: Sequence[ConversationRecord],
    reminders: Sequence[ReminderRecord],
) -> tuple[Day, ...]:
    """Minutes talked and doses taken on each of the last :data:`STRIP_DAYS` days, oldest first."""
    days = [today - timedelta(days=n) for n in range(STRIP_DAYS - 1, -1, -1)]
    minutes = dict.fromkeys(days, 0.0)
    count = dict.fromkeys(days, 0)
    doses = dict.fromkeys(days, 0)
    for record in conversations:
        day = local_day(record.started_at, zone)
        if day in minutes:
            minutes[day] += talk_minutes((record,))
            count[day] += 1
    for reminder in reminders:
        day = local_day(reminder.due_at, zone)
        if day in doses and reminder.kind == "medication" and reminder.state == "acknowledged":
            doses[day] += 1
    return tuple(Day(d, minutes[d], doses[d], count[d]) for d in days)


def today_view(
    now: datetime,
    zone: ZoneInfo,
    conversations: Sequence[ConversationRecord],
    reminders: Sequence[ReminderRecord],
    *,
    open_alerts: int,
    memories_to_review: int,
) -> Today:
    """``conversations`` and ``reminders``: those of the last :data:`STRIP_DAYS` local days."""
    today = local_day(now, zone)
    todays = [c for c in conversations if local_day(c.started_at, zone) == today]
    due_today = [
        r for r in reminders if local_day(r.due_at, zone) == today and r.state not in ("cancelled", "void")
    ]
    last = max(conversations, key=lambda c: (c.started_at, c.id), default=None)
    return Today(
        day=today,
        conversations=len(todays),
        minutes=talk_minutes(todays),
        last=last,
        taken=sum(1 for r in due_today if r.state == "acknowledged"),
        missed=sum(1 for r in due_today if r.state == "missed"),
        waiting=sum(1 for r in due_today if r.state in WAITING),
        open_alerts=open_alerts,
        memories_to_review=memories_to_review,
        days=strip(today, zone, conversations, reminders),
    )
