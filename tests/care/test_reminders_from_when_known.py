"""A dose is owed only from when its medication (or its time) exists: a person created in the evening,
a medication added or moved during the day, a medication removed and added again ask for nothing
already past; a dose of a medication that already existed, due while the service was down, is still
missed and the family told. The clock is injected and moved; nothing sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.care.reminder_fixtures import Rig, make_rig, make_service, medications, person

# 10 March 2026 in Jerusalem is UTC+2 (no daylight saving change within a week of it).
DAY1 = datetime(2026, 3, 10, tzinfo=UTC)
U = "u-new"
ACAMOL = 'אקמול 500 מ"ג'


def local(day: int, hhmm: str) -> datetime:
    """``hhmm`` in Jerusalem on ``day`` (1: 10 March), as UTC."""
    hours, minutes = (int(p) for p in hhmm.split(":"))
    return DAY1 + timedelta(days=day - 1, hours=hours - 2, minutes=minutes)


def acamol(*times: str) -> dict[str, object]:
    return medications(("אקמול", '500 מ"ג', list(times)))


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = await make_rig(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", local(1, "00:00"))
    try:
        yield r
    finally:
        await r.service.close()
        await r.store.close()


async def create(rig: Rig, at: datetime, safety: dict[str, object]) -> None:
    """The person as a family creates them: registered, then their details, then their medications."""
    rig.clock.now = at
    await rig.store.create_user(U)
    await rig.save(U, "profile", person())
    await rig.save(U, "safety", safety)


async def run_until(rig: Rig, end: datetime, step: timedelta = timedelta(minutes=10)) -> None:
    """The care loop's ticks from now to ``end`` (every ``step``: far shorter than the 30 minute
    acknowledgement timeout, so every miss happens on the way)."""
    while rig.clock.now < end:
        rig.clock.now = min(end, rig.clock.now + step)
        await rig.tick()


async def rows(rig: Rig, since: datetime, until: datetime) -> dict[tuple[datetime, str], str]:
    return {(r.due_at, r.label): r.state for r in await rig.store.list_of_user(U, since, until)}


def alerted_ids(rig: Rig) -> list[str]:
    return [str(body["reminderId"]) for _, body in rig.family.alerts]


async def test_a_person_created_after_a_medications_time_has_no_missed_dose_and_no_alert_that_day(
    rig: Rig,
) -> None:
    await create(rig, local(1, "18:05"), acamol("08:00"))
    await run_until(rig, local(1, "23:55"))
    assert await rows(rig, local(1, "00:00"), local(2, "00:00")) == {}, "nothing owed before 18:05"
    assert rig.family.alerts == []
    view = await rig.service.day_view(U)
    assert view.reminders == [] and view.adherence == [], "no dose was due: nothing to count"
    # the next morning's dose is a real one: asked for, and missed when nobody confirms it
    await run_until(rig, local(2, "08:40"))
    assert await rows(rig, local(2, "00:00"), local(3, "00:00")) == {(local(2, "08:00"), ACAMOL): "missed"}
    [tomorrow] = await rig.store.list_of_user(U, local(2, "00:00"), local(3, "00:00"))
    assert alerted_ids(rig) == [tomorrow.id]
    [counted] = (await rig.service.day_view(U)).adherence
    assert (counted.label, counted.scheduled, counted.missed) == (ACAMOL, 1, 1)


async def test_a_dose_due_later_on_the_first_day_is_owed(rig: Rig) -> None:
    await create(rig, local(1, "18:05"), acamol("08:00", "20:00"))
    await run_until(rig, local(1, "20:40"))
    assert await rows(rig, local(1, "00:00"), local(2, "00:00")) == {(local(1, "20:00"), ACAMOL): "missed"}
    assert len(rig.family.alerts) == 1


async def test_a_medication_added_and_a_time_moved_during_the_day_count_from_the_save(rig: Rig) -> None:
    await create(rig, local(1, "07:00"), acamol("08:00"))
    await run_until(rig, local(1, "10:00"))  # 08:00 was due and nobody confirmed it: a real miss
    assert len(rig.family.alerts) == 1
    # at 10:00 the 08:00 dose moves to 09:00 and an 08:30 medication is added
    await rig.save(U, "safety", medications(("אקמול", '500 מ"ג', ["09:00"]), ("Aricept", "5 mg", ["08:30"])))
    await run_until(rig, local(2, "00:00"))
    assert await rows(rig, local(1, "00:00"), local(2, "00:00")) == {(local(1, "08:00"), ACAMOL): "missed"}
    assert len(rig.family.alerts) == 1, "no alert for the moved time or the new medication today"
    tomorrow = await rows(rig, local(2, "00:00"), local(3, "00:00"))
    assert tomorrow == {
        (local(2, "08:00"), ACAMOL): "cancelled",  # written the day before, at its old time
        (local(2, "08:30"), "Aricept 5 mg"): "due",
        (local(2, "09:00"), ACAMOL): "due",
    }


async def test_a_medication_removed_and_added_again_counts_from_its_return(rig: Rig) -> None:
    await create(rig, local(1, "07:00"), acamol("08:00"))
    await rig.save(U, "safety", medications())  # at 07:00, before its first dose: no dose was ever owed
    await run_until(rig, local(3, "10:00"), step=timedelta(hours=1))
    await rig.save(U, "safety", acamol("08:00"))  # back on the third day at 10:00
    await run_until(rig, local(4, "00:00"))
    assert await rows(rig, local(3, "00:00"), local(4, "00:00")) == {}
    assert rig.family.alerts == []


async def test_a_dose_due_while_the_service_was_down_is_still_missed(rig: Rig) -> None:
    await create(rig, local(1, "12:00"), acamol("08:00"))  # writes the second day's dose too
    await rig.service.close()
    # the service is down from 12:00 on the first day until noon on the third; a new one starts
    rig.clock.now = local(3, "12:00")
    rig.service = make_service(rig.store, rig.profiles, rig.clock, rig.conversation, rig.family)
    await rig.tick()
    owed = await rig.store.list_of_user(U, local(1, "00:00"), local(5, "00:00"))
    assert [(r.due_at, r.state) for r in owed] == [
        (local(2, "08:00"), "missed"),
        (local(3, "08:00"), "missed"),  # not written before the stop, but its medication existed
        (local(4, "08:00"), "due"),
    ]
    assert sorted(alerted_ids(rig)) == sorted(r.id for r in owed[:2])


async def test_the_familys_day_neither_shows_nor_counts_a_dose_that_was_never_due(rig: Rig) -> None:
    await create(rig, local(1, "07:00"), acamol("08:00", "09:00"))
    rig.clock.now = local(1, "10:00")
    eight, nine = await rig.store.list_of_user(U, local(1, "00:00"), local(2, "00:00"))
    # as migration 0006 leaves a dose an earlier schedule asked for before its medication existed
    assert await rig.store.transition(U, eight.id, ("due",), "void", at=rig.clock.now)
    view = await rig.service.day_view(U)
    assert [r.id for r in view.reminders] == [nine.id]
    assert [(a.label, a.scheduled) for a in view.adherence] == [(ACAMOL, 1)]
