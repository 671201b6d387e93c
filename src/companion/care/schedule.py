"""A person's reminders for one local day, as plain data: no clock, no store, no I/O.

Each medication time and each check-in of the routine becomes one occurrence on that day, at that wall
time in the person's time zone, converted to UTC. Daylight saving is decided here, once:

- a wall time that does not exist (the hour skipped when clocks go forward) moves to the first minute
  that does exist after it (02:30 on a spring-forward night in Jerusalem is 03:00);
- a wall time that happens twice (the hour repeated when clocks go back) happens once, at its first
  occurrence (``fold=0``), so a dose is never asked for twice in one night.

An occurrence's id is a digest of who, what, which local day, which wall time and which zone, so
scheduling the same day again (at start, every hour, after each profile save) finds the same rows
instead of adding new ones, on any number of instances.

A series is the same without the day: "this medication at this time in this zone" (or a check-in at a
time). A dose exists only from the moment its series does: ``since_known`` drops every occurrence due
before its series was first seen by the schedule (the store remembers that moment), so a person created
at 18:05, a medication added at 18:05 or an 08:00 moved to 09:00 at 10:00 asks for nothing earlier that
day, while a dose of a series that already existed stays owed even if the service was down when it was
due. A series that leaves the profile is forgotten: if it comes back, it is new from then.

A time zone name that ``zoneinfo`` does not know (the profile's validator accepted any text before it
checked zones) is not fatal: the day is scheduled in UTC, ``ZoneChoice.valid`` says so, and the
caller logs it and shows it on the dashboard, because a wrong hour is better seen than silently
skipped reminders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from companion.profiles.models import Routine, Safety
from companion.store.base import ReminderKind

ID_PREFIX: Final = "rem-"
SERIES_PREFIX: Final = "ser-"
ID_DIGEST_CHARS: Final = 32  # 128 bits of SHA-256: no two occurrences collide in practice
MAX_GAP_MINUTES: Final = 24 * 60  # the longest skip ever made (Samoa, 2011, skipped a whole day)
FALLBACK_ZONE: Final = "UTC"


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    """The zone the schedule uses: the person's, or UTC when their zone's name is unknown."""

    zone: tzinfo
    name: str
    valid: bool


@dataclass(frozen=True, slots=True)
class ReminderSpec:
    """One occurrence as the schedule wants it; the store keeps it with its state."""

    id: str
    user_id: str
    kind: ReminderKind
    label: str  # the medication and its dosage as the profile says them; "" for a check-in
    local_time: str  # HH:MM as written in the profile (the wall time asked for)
    local_date: date
    due_at: datetime  # aware UTC; later than the wall time only across a spring-forward gap
    series: str  # the same medication (or check-in) at the same time in the same zone, any day

    def __repr__(self) -> str:
        return f"ReminderSpec(id={self.id!r}, kind={self.kind!r}, due_at={self.due_at.isoformat()})"


def resolve_zone(name: str | None) -> ZoneChoice:
    """The IANA zone called ``name``; UTC (``valid=False``) when there is no such zone."""
    if name:
        try:
            return ZoneChoice(ZoneInfo(name), name, True)
        except (ZoneInfoNotFoundError, ValueError):  # ValueError: a path-like or malformed key
            pass
    return ZoneChoice(UTC, FALLBACK_ZONE, False)


def reminder_id(
    user_id: str, kind: ReminderKind, label: str, local_date: date, local_time: str, zone: str = ""
) -> str:
    """The zone is part of it: after a move, 08:00 is another instant, so another occurrence."""
    key = "\x1f".join((user_id, kind, label, local_date.isoformat(), local_time, zone))
    return ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:ID_DIGEST_CHARS]


def series_id(user_id: str, kind: ReminderKind, label: str, local_time: str, zone: str) -> str:
    """An occurrence's id without its day: what a dose belongs to from one day to the next."""
    key = "\x1f".join((user_id, kind, label, local_time, zone))
    return SERIES_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:ID_DIGEST_CHARS]


def since_known(specs: Iterable[ReminderSpec], known: Mapping[str, datetime]) -> list[ReminderSpec]:
    """The occurrences due at or after the moment their series was first known; one of a series
    ``known`` does not name is kept (nothing says it did not exist)."""
    return [s for s in specs if s.series not in known or s.due_at >= known[s.series]]


def medication_label(name: str, dosage: str) -> str:
    """How a medication is named to the person and the family: "Acamol 500 mg"."""
    return f"{name} {dosage}".strip()


def _exists(moment: datetime) -> bool:
    """Whether an aware local wall time happens: a time in a gap does not survive a UTC round trip."""
    back = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return back.replace(tzinfo=None) == moment.replace(tzinfo=None)


def to_utc(day: date, hhmm: str, zone: tzinfo) -> datetime:
    """The UTC instant of wall time ``hhmm`` on ``day`` in ``zone``, by the DST rules above."""
    hours, minutes = (int(part) for part in hhmm.split(":"))
    wall = datetime.combine(day, time(hours, minutes), tzinfo=zone)  # fold=0: the first of two
    if _exists(wall):
        return wall.astimezone(UTC)
    for step in range(1, MAX_GAP_MINUTES + 1):
        later = wall + timedelta(minutes=step)  # wall-clock arithmetic: the tzinfo is re-applied
        if _exists(later):
            return later.astimezone(UTC)
    return wall.astimezone(UTC)  # pragma: no cover - no zone skips more than a day


def local_date(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The UTC instants where a local day starts and the next one starts (23 or 25 hours on DST days)."""
    start = to_utc(day, "00:00", zone)
    end = to_utc(day + timedelta(days=1), "00:00", zone)
    return start, end


def occurrences(
    user_id: str, safety: Safety, routine: Routine | None, zone: tzinfo, day: date
) -> list[ReminderSpec]:
    """Every medication time and check-in on local ``day``, in due order (then by label).

    Two entries with the same label at the same time (a medication listed twice) are one occurrence.
    """
    found: dict[str, ReminderSpec] = {}

    def add(kind: ReminderKind, label: str, hhmm: str) -> None:
        spec_id = reminder_id(user_id, kind, label, day, hhmm, str(zone))
        series = series_id(user_id, kind, label, hhmm, str(zone))
        due_at = to_utc(day, hhmm, zone)
        found.setdefault(spec_id, ReminderSpec(spec_id, user_id, kind, label, hhmm, day, due_at, series))

    for medication in safety.medications:
        label = medication_label(medication.name, medication.dosage)
        for hhmm in medication.times:
            add("medication", label, hhmm)
    for hhmm in routine.checkins if routine is not None else ():
        add("checkin", "", hhmm)
    return sorted(found.values(), key=lambda s: (s.due_at, s.kind, s.label))


def window(
    user_id: str, safety: Safety, routine: Routine | None, zone: tzinfo, now: datetime, days: int = 2
) -> list[ReminderSpec]:
    """The occurrences of ``days`` local days from the one ``now`` falls on (today and tomorrow)."""
    today = local_date(now, zone)
    specs: list[ReminderSpec] = []
    for offset in range(days):
        specs.extend(occurrences(user_id, safety, routine, zone, today + timedelta(days=offset)))
    return specs
