"""Reminder occurrences in the store, on SQLite and PostgreSQL: syncing a schedule, one winner per
transition, due and overdue lists, and adherence."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from companion.errors import InvalidInput, NotFound
from companion.store import SqlStore
from companion.store._reminders import AdherenceRecord, SqlReminders
from companion.store.base import ReminderKind, ReminderRecord


class _Store(SqlStore, SqlReminders):
    """SqlStore with the reminder half, as the service composes it."""


T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def reminders(store_url: str) -> AsyncIterator[_Store]:
    s = _Store(store_url)
    try:
        await s.create_user("u1")
        await s.create_user("u2")
        yield s
    finally:
        await s.close()


def occurrence(
    rid: str,
    due_at: datetime,
    *,
    user: str = "u1",
    label: str = "Aricept 5 mg",
    kind: ReminderKind = "medication",
) -> ReminderRecord:
    return ReminderRecord(
        id=rid,
        user_id=user,
        kind=kind,
        label=label,
        local_time=due_at.strftime("%H:%M"),
        due_at=due_at,
        state="due",
        updated_at=due_at,
    )


async def test_sync_adds_keeps_cancels_and_restores(reminders: _Store) -> None:
    now = T0
    a, b, c = (occurrence(n, T0 + timedelta(hours=h)) for n, h in (("a", 1), ("b", 2), ("c", 3)))
    assert await reminders.sync_reminders("u1", [a, b, c], now=now) == (3, 0)
    assert await reminders.sync_reminders("u1", [a, b, c], now=now) == (0, 0), (
        "the same schedule adds nothing"
    )

    # b is no longer in the profile: cancelled; a new d comes in.
    d = occurrence("d", T0 + timedelta(hours=4), label="Vitamin D")
    assert await reminders.sync_reminders("u1", [a, c, d], now=now) == (1, 1)
    states = {r.id: r.state for r in await reminders.list_of_user("u1", T0, T0 + timedelta(days=1))}
    assert states == {"a": "due", "b": "cancelled", "c": "due", "d": "due"}

    # b is back: due again (the same id).
    assert await reminders.sync_reminders("u1", [a, b, c, d], now=now) == (0, 0)
    assert (await reminders.get_reminder("u1", "b")).state == "due"  # type: ignore[union-attr]

    # an empty schedule cancels every future due one of this user only.
    other = occurrence("x", T0 + timedelta(hours=1), user="u2")
    await reminders.sync_reminders("u2", [other], now=now)
    assert await reminders.sync_reminders("u1", [], now=now) == (0, 4)
    assert (await reminders.get_reminder("u2", "x")).state == "due"  # type: ignore[union-attr]


async def test_sync_never_rewrites_the_past_or_what_happened(reminders: _Store) -> None:
    past = occurrence("past", T0 - timedelta(hours=1))
    taken = occurrence("taken", T0 + timedelta(hours=1))
    snoozed = occurrence("snoozed", T0 + timedelta(hours=2))
    await reminders.sync_reminders("u1", [past, taken, snoozed], now=T0 - timedelta(hours=2))
    assert await reminders.transition(
        "u1", "taken", ("due",), "acknowledged", at=T0, acked_at=T0, acked_via="page"
    )
    assert await reminders.transition("u1", "snoozed", ("due",), "snoozed", at=T0, snoozed_until=T0)
    assert await reminders.sync_reminders("u1", [], now=T0) == (0, 0)
    states = {
        r.id: r.state
        for r in await reminders.list_of_user("u1", T0 - timedelta(days=1), T0 + timedelta(days=1))
    }
    assert states == {"past": "due", "taken": "acknowledged", "snoozed": "snoozed"}


async def test_sync_refuses_an_unknown_user_and_foreign_rows(reminders: _Store) -> None:
    with pytest.raises(NotFound):
        await reminders.sync_reminders("nobody", [occurrence("n", T0, user="nobody")], now=T0)
    with pytest.raises(InvalidInput) as info:
        await reminders.sync_reminders("u1", [occurrence("n", T0, user="u2")], now=T0)
    assert info.value.field == "user_id"
    with pytest.raises(InvalidInput):
        await reminders.sync_reminders("u1", [occurrence("n", T0.replace(tzinfo=None))], now=T0)


async def test_transition_is_guarded_and_has_one_winner(reminders: _Store) -> None:
    await reminders.sync_reminders("u1", [occurrence("a", T0)], now=T0 - timedelta(hours=1))
    results = await asyncio.gather(
        *(
            reminders.transition(
                "u1", "a", ("due", "delivered"), "acknowledged", at=T0, acked_at=T0, acked_via="tool"
            )
            for _ in range(8)
        )
    )
    assert sorted(results) == [False] * 7 + [True]
    record = await reminders.get_reminder("u1", "a")
    assert record is not None
    assert (record.state, record.acked_via, record.acked_at) == ("acknowledged", "tool", T0)
    assert not await reminders.transition("u2", "a", ("acknowledged",), "missed", at=T0), "another user's"
    assert not await reminders.transition("u1", "missing", ("due",), "missed", at=T0)
    with pytest.raises(InvalidInput):
        await reminders.transition("u1", "a", ("due",), "eaten", at=T0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await reminders.transition("u1", "a", ("due",), "missed", at=T0, label="changed")


async def test_list_due_uses_the_snooze_end_when_there_is_one(reminders: _Store) -> None:
    early, later = occurrence("early", T0), occurrence("later", T0 + timedelta(minutes=30))
    other = occurrence("other", T0, user="u2")
    await reminders.sync_reminders("u1", [early, later], now=T0 - timedelta(hours=1))
    await reminders.sync_reminders("u2", [other], now=T0 - timedelta(hours=1))
    assert [r.id for r in await reminders.list_due(T0)] == ["early", "other"]
    assert [r.id for r in await reminders.list_due(T0, user_id="u1")] == ["early"]

    until = T0 + timedelta(minutes=45)
    await reminders.transition("u1", "early", ("due",), "snoozed", at=T0, snoozed_until=until)
    assert [r.id for r in await reminders.list_due(T0 + timedelta(minutes=40), states=("snoozed",))] == []
    assert [r.id for r in await reminders.list_due(until, states=("snoozed",))] == ["early"]
    # back to due after its snooze: it is wanted at the snooze's end, after "later"
    await reminders.transition("u1", "early", ("snoozed",), "due", at=until)
    assert [r.id for r in await reminders.list_due(until, user_id="u1")] == ["later", "early"]
    assert [r.id for r in await reminders.list_due(T0 + timedelta(minutes=44), user_id="u1")] == ["later"]


async def test_adherence_per_label_over_a_period(reminders: _Store) -> None:
    day = timedelta(days=1)
    rows = [occurrence(f"a{i}", T0 - i * day) for i in range(5)]
    rows += [occurrence(f"v{i}", T0 - i * day, label="Vitamin D") for i in range(3)]
    rows += [occurrence(f"c{i}", T0 - i * day, label="", kind="checkin") for i in range(2)]
    rows.append(occurrence("old", T0 - 40 * day))
    await reminders.sync_reminders("u1", rows, now=T0 - 50 * day)
    for rid in ("a1", "a2", "a3", "v1", "c1"):
        await reminders.transition("u1", rid, ("due",), "acknowledged", at=T0, acked_at=T0, acked_via="page")
    for rid in ("a4", "v2"):
        await reminders.transition("u1", rid, ("due",), "missed", at=T0, missed_at=T0)
    await reminders.transition("u1", "v0", ("due",), "cancelled", at=T0)
    await reminders.transition("u1", "a0", ("due",), "void", at=T0)  # never due: not counted
    got = await reminders.adherence("u1", T0 - 30 * day, T0 + day)
    assert got == [
        AdherenceRecord("medication", "Aricept 5 mg", scheduled=4, acknowledged=3, missed=1, pending=0),
        AdherenceRecord("medication", "Vitamin D", scheduled=2, acknowledged=1, missed=1, pending=0),
        AdherenceRecord("checkin", "", scheduled=2, acknowledged=1, missed=0, pending=1),
    ]
    assert await reminders.adherence("u2", T0 - 30 * day, T0 + day) == []


async def test_series_since_keeps_the_first_moment_and_forgets_what_left_the_profile(
    reminders: _Store,
) -> None:
    first, later = T0, T0 + timedelta(hours=3)
    assert await reminders.series_since("u1", {"ser-a", "ser-b"}, now=first) == {
        "ser-a": first,
        "ser-b": first,
    }
    assert await reminders.series_since("u2", {"ser-a"}, now=later) == {"ser-a": later}, "per person"
    # ser-b leaves the profile, ser-c joins it: ser-a keeps its first moment
    assert await reminders.series_since("u1", {"ser-a", "ser-c"}, now=later) == {
        "ser-a": first,
        "ser-c": later,
    }
    # ser-b comes back: new from then
    again = later + timedelta(days=1)
    assert (await reminders.series_since("u1", {"ser-a", "ser-b"}, now=again))["ser-b"] == again
    assert await reminders.series_since("u1", set(), now=again) == {}, "no medication: nothing known"
    assert await reminders.series_since("u2", {"ser-a"}, now=again) == {"ser-a": later}


async def test_series_since_has_one_first_moment_when_instances_race(reminders: _Store) -> None:
    moments = [T0 + timedelta(seconds=i) for i in range(4)]
    seen = await asyncio.gather(*(reminders.series_since("u1", {"ser-a"}, now=m) for m in moments))
    assert len({answer["ser-a"] for answer in seen}) == 1
    assert seen[0]["ser-a"] in moments


async def test_series_since_refuses_an_unknown_user(reminders: _Store) -> None:
    with pytest.raises(NotFound):
        await reminders.series_since("nobody", {"ser-a"}, now=T0)
