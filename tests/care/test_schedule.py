"""The pure schedule: wall times in the person's zone, daylight-saving gaps and repeats, stable ids."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from companion.care.schedule import (
    day_bounds,
    local_date,
    occurrences,
    reminder_id,
    resolve_zone,
    since_known,
    to_utc,
    window,
)
from companion.profiles.models import Medication, Routine, Safety

JERUSALEM = ZoneInfo("Asia/Jerusalem")
LONDON = ZoneInfo("Europe/London")
# 2026: Israel skips 02:00-03:00 on 27 March and repeats 01:00-02:00 on 25 October;
# the UK skips 01:00-02:00 on 29 March and repeats 01:00-02:00 on 25 October.
IL_SPRING, IL_FALL = date(2026, 3, 27), date(2026, 10, 25)
UK_SPRING, UK_FALL = date(2026, 3, 29), date(2026, 10, 25)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def safety(*meds: tuple[str, str, list[str]]) -> Safety:
    return Safety(medications=[Medication(name=n, dosage=d, times=t) for n, d, t in meds])


def test_an_ordinary_day_in_jerusalem_winter_and_summer() -> None:
    plan = safety(("אקמול", '500 מ"ג', ["08:00", "20:00"]))
    winter = occurrences("u1", plan, None, JERUSALEM, date(2026, 1, 15))
    assert [(s.local_time, s.due_at) for s in winter] == [
        ("08:00", utc(2026, 1, 15, 6, 0)),
        ("20:00", utc(2026, 1, 15, 18, 0)),
    ]
    summer = occurrences("u1", plan, None, JERUSALEM, date(2026, 7, 15))
    assert [s.due_at for s in summer] == [utc(2026, 7, 15, 5, 0), utc(2026, 7, 15, 17, 0)]
    assert {s.label for s in summer} == {'אקמול 500 מ"ג'}
    assert {s.kind for s in summer} == {"medication"}


@pytest.mark.parametrize(
    ("zone", "day", "asked", "moved_to_local", "expected_utc"),
    [
        (JERUSALEM, IL_SPRING, "02:00", "03:00", utc(2026, 3, 27, 0, 0)),
        (JERUSALEM, IL_SPRING, "02:30", "03:00", utc(2026, 3, 27, 0, 0)),
        (JERUSALEM, IL_SPRING, "02:59", "03:00", utc(2026, 3, 27, 0, 0)),
        (LONDON, UK_SPRING, "01:15", "02:00", utc(2026, 3, 29, 1, 0)),
    ],
)
def test_a_time_skipped_by_spring_forward_moves_to_the_first_minute_after_the_gap(
    zone: ZoneInfo, day: date, asked: str, moved_to_local: str, expected_utc: datetime
) -> None:
    [spec] = occurrences("u1", safety(("Aricept", "5 mg", [asked])), None, zone, day)
    assert spec.due_at == expected_utc
    assert spec.due_at.astimezone(zone).strftime("%H:%M") == moved_to_local
    assert spec.local_time == asked, "the record keeps the time the profile asked for"


def test_times_around_the_gap_are_untouched() -> None:
    plan = safety(("Aricept", "5 mg", ["01:59", "03:00", "03:01"]))
    specs = occurrences("u1", plan, None, JERUSALEM, IL_SPRING)
    assert [s.due_at for s in specs] == [
        utc(2026, 3, 26, 23, 59),
        utc(2026, 3, 27, 0, 0),
        utc(2026, 3, 27, 0, 1),
    ]


@pytest.mark.parametrize(
    ("zone", "day", "asked", "first_utc"),
    [
        (JERUSALEM, IL_FALL, "01:30", utc(2026, 10, 24, 22, 30)),  # 01:30 IDT (+3), not 01:30 IST (+2)
        (LONDON, UK_FALL, "01:30", utc(2026, 10, 25, 0, 30)),  # 01:30 BST (+1), not 01:30 GMT
    ],
)
def test_a_time_repeated_by_fall_back_happens_once_at_its_first_occurrence(
    zone: ZoneInfo, day: date, asked: str, first_utc: datetime
) -> None:
    specs = occurrences("u1", safety(("Aricept", "5 mg", [asked])), None, zone, day)
    assert [s.due_at for s in specs] == [first_utc]
    second = first_utc + timedelta(hours=1)
    assert second.astimezone(zone).strftime("%H:%M") == asked, "the wall time does repeat an hour later"


def test_day_bounds_are_23_and_25_hours_on_dst_days() -> None:
    start, end = day_bounds(IL_SPRING, JERUSALEM)
    assert end - start == timedelta(hours=23)
    start, end = day_bounds(IL_FALL, JERUSALEM)
    assert end - start == timedelta(hours=25)
    start, end = day_bounds(date(2026, 1, 1), LONDON)
    assert (start, end) == (utc(2026, 1, 1), utc(2026, 1, 2))


def test_checkins_and_medications_together_in_due_order() -> None:
    plan = safety(("Aricept", "5 mg", ["09:00"]), ("Vitamin D", "1000 IU", ["08:00", "09:00"]))
    routine = Routine(checkins=["08:30", "18:00"])
    specs = occurrences("u1", plan, routine, LONDON, date(2026, 1, 10))
    assert [(s.local_time, s.kind, s.label) for s in specs] == [
        ("08:00", "medication", "Vitamin D 1000 IU"),
        ("08:30", "checkin", ""),
        ("09:00", "medication", "Aricept 5 mg"),
        ("09:00", "medication", "Vitamin D 1000 IU"),
        ("18:00", "checkin", ""),
    ]


def test_the_same_medication_listed_twice_is_one_occurrence() -> None:
    plan = safety(("Aricept", "5 mg", ["09:00"]), ("Aricept", "5 mg", ["09:00", "21:00"]))
    assert [s.local_time for s in occurrences("u1", plan, None, LONDON, date(2026, 1, 10))] == [
        "09:00",
        "21:00",
    ]


def test_ids_are_stable_and_differ_by_person_day_time_and_label() -> None:
    plan = safety(("Aricept", "5 mg", ["09:00"]))
    first = occurrences("u1", plan, None, LONDON, date(2026, 1, 10))
    again = occurrences("u1", plan, None, LONDON, date(2026, 1, 10))
    assert [s.id for s in first] == [s.id for s in again]
    [spec] = first
    assert spec.id == reminder_id(
        "u1", "medication", "Aricept 5 mg", date(2026, 1, 10), "09:00", "Europe/London"
    )
    assert spec.id.startswith("rem-") and len(spec.id) == 36
    others = {
        reminder_id("u2", "medication", "Aricept 5 mg", date(2026, 1, 10), "09:00"),
        reminder_id("u1", "medication", "Aricept 10 mg", date(2026, 1, 10), "09:00"),
        reminder_id("u1", "medication", "Aricept 5 mg", date(2026, 1, 11), "09:00"),
        reminder_id("u1", "medication", "Aricept 5 mg", date(2026, 1, 10), "09:01"),
        reminder_id("u1", "checkin", "", date(2026, 1, 10), "09:00"),
        reminder_id("u1", "medication", "Aricept 5 mg", date(2026, 1, 10), "09:00", "Asia/Jerusalem"),
    }
    assert spec.id not in others and len(others) == 6


def test_window_is_today_and_tomorrow_in_the_persons_zone() -> None:
    plan = safety(("Aricept", "5 mg", ["00:30"]))
    # 23:00 UTC on 9 January is already 10 January in Jerusalem (+2).
    now = utc(2026, 1, 9, 23, 0)
    assert local_date(now, JERUSALEM) == date(2026, 1, 10)
    specs = window("u1", plan, None, JERUSALEM, now)
    assert [s.local_date for s in specs] == [date(2026, 1, 10), date(2026, 1, 11)]
    assert [s.due_at for s in specs] == [utc(2026, 1, 9, 22, 30), utc(2026, 1, 10, 22, 30)]


def test_an_unknown_zone_falls_back_to_utc_and_says_so() -> None:
    for name in ("Mars/Olympus_Mons", "", None, "../../etc/passwd", "Asia/Jerusalem\x00"):
        choice = resolve_zone(name)
        assert (choice.valid, choice.name, choice.zone) == (False, "UTC", UTC), name
    good = resolve_zone("Asia/Jerusalem")
    assert good.valid and good.name == "Asia/Jerusalem"
    [spec] = occurrences(
        "u1", safety(("Aricept", "5 mg", ["09:00"])), None, resolve_zone("Nowhere").zone, date(2026, 1, 10)
    )
    assert spec.due_at == utc(2026, 1, 10, 9, 0)


def test_to_utc_leaves_ordinary_times_alone_in_every_zone_checked() -> None:
    for zone in (JERUSALEM, LONDON, ZoneInfo("America/New_York"), UTC):
        moment = to_utc(date(2026, 5, 5), "12:34", zone)
        assert moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") == "2026-05-05 12:34"


# ---- series: a dose is owed from when its series is known ------------------------------------------


def test_a_series_is_the_same_medication_time_and_zone_on_every_day() -> None:
    plan = safety(("אקמול", '500 מ"ג', ["08:00", "20:00"]))
    monday, tuesday = (occurrences("u1", plan, None, JERUSALEM, date(2026, 1, d)) for d in (12, 13))
    assert [s.series for s in monday] == [s.series for s in tuesday]
    assert [s.id for s in monday] != [s.id for s in tuesday]
    assert monday[0].series != monday[1].series, "another time is another series"
    [london] = occurrences("u1", safety(("אקמול", '500 מ"ג', ["08:00"])), None, LONDON, date(2026, 1, 12))
    assert london.series != monday[0].series, "after a move, 08:00 is another series"
    assert occurrences("u2", plan, None, JERUSALEM, date(2026, 1, 12))[0].series != monday[0].series


def test_since_known_drops_what_was_due_before_its_series_was_known() -> None:
    plan = safety(("אקמול", '500 מ"ג', ["08:00", "20:00"]))
    day = date(2026, 1, 12)  # winter: UTC+2
    morning, evening = occurrences("u1", plan, None, JERUSALEM, day)
    known_at = utc(2026, 1, 12, 16, 5)  # 18:05 in Jerusalem
    known = {morning.series: known_at, evening.series: known_at}
    assert since_known([morning, evening], known) == [evening]
    assert since_known([morning], {morning.series: morning.due_at}) == [morning], "known at its time"
    assert since_known([morning], {}) == [morning], "a series nobody knows of is not dropped"
