"""The change log: every document write records itself in its own transaction, and a follower reads
every change once, even one whose transaction commits after a later one (PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from companion.clock import utcnow
from companion.cluster.follower import ChangeFollower
from companion.events import RefreshCounts
from companion.store import SqlStore, open_store
from companion.store.schema import change_log


async def test_writes_and_deletions_are_logged_with_their_version(store: SqlStore) -> None:
    start = await store.last_change_id()
    await store.put("user-1", "profile", "main", {"a": 1}, expected_version=None)
    await store.put("user-1", "profile", "main", {"a": 2}, expected_version=1)
    await store.put("user-2", "memory", "m-1", {"t": "x"}, expected_version=None)
    await store.delete("user-2", "memory", "m-1")
    changes = await store.changes_after(start)
    assert [(c.user_id, c.kind, c.version) for c in changes] == [
        ("user-1", "profile", 1),
        ("user-1", "profile", 2),
        ("user-2", "memory", 1),
        ("user-2", "memory", 0),
    ]
    assert [c.id for c in changes] == sorted(c.id for c in changes)
    assert await store.last_change_id() == changes[-1].id


async def test_a_lost_race_logs_nothing(store: SqlStore) -> None:
    await store.put("user-1", "profile", "main", {"a": 1}, expected_version=None)
    mark = await store.last_change_id()
    with pytest.raises(Exception, match="version"):
        await store.put("user-1", "profile", "main", {"a": 3}, expected_version=7)
    assert await store.changes_after(mark) == []  # the failed save left no change behind


async def test_missing_ids_are_asked_for_again(store: SqlStore) -> None:
    await store.put("user-1", "profile", "main", {"a": 1}, expected_version=None)
    await store.put("user-2", "profile", "main", {"a": 1}, expected_version=None)
    first, second = await store.changes_after(0)
    again = await store.changes_after(second.id, also=[first.id])
    assert [c.id for c in again] == [first.id]


async def test_old_changes_are_pruned_but_the_newest_stays(store: SqlStore) -> None:
    await store.put("user-1", "profile", "main", {"a": 1}, expected_version=None)
    await store.put("user-1", "profile", "main", {"a": 2}, expected_version=1)
    newest = await store.last_change_id()
    assert await store.prune_changes(utcnow() - timedelta(hours=1)) == 0
    assert await store.prune_changes(utcnow() + timedelta(seconds=1)) == 1
    assert [c.id for c in await store.changes_after(0)] == [newest]  # the high mark survives


async def test_the_follower_refreshes_only_people_with_sessions_here(store: SqlStore) -> None:
    refreshed: list[str] = []

    async def refresh(user_id: str) -> RefreshCounts:
        refreshed.append(user_id)
        return RefreshCounts(refreshed=1)

    await store.put("user-0", "profile", "main", {"a": 0}, expected_version=None)  # before it started
    follower = ChangeFollower(
        store, has_sessions=lambda u: u in {"user-0", "user-1"}, refresh=refresh, wall_clock=utcnow
    )
    await follower.start_at_end()
    await store.put("user-1", "profile", "main", {"a": 1}, expected_version=None)
    await store.put("user-1", "music", "main", {"a": 1}, expected_version=None)
    await store.put("user-2", "profile", "main", {"a": 1}, expected_version=None)
    assert await follower.catch_up() == 1
    assert refreshed == ["user-1"]  # once for two changes; user-2 has no session here; user-0 was old
    assert await follower.catch_up() == 0
    assert refreshed == ["user-1"]


@pytest.fixture
async def postgres_store(postgres_url: str) -> AsyncIterator[SqlStore]:
    store = open_store(postgres_url)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


async def test_a_change_committed_after_a_later_one_is_not_skipped(postgres_store: SqlStore) -> None:
    """Two saves on PostgreSQL (SQLite serialises writers, so there ids always commit in order): the
    first takes its id, then waits; the second commits; the follower reads the second; then the first
    commits. The follower must still bring the first person up to date."""
    store = postgres_store
    refreshed: list[str] = []

    async def refresh(user_id: str) -> RefreshCounts:
        refreshed.append(user_id)
        return RefreshCounts(refreshed=1)

    follower = ChangeFollower(store, has_sessions=lambda u: True, refresh=refresh, wall_clock=utcnow)
    await follower.start_at_end()
    release = asyncio.Event()
    taken = asyncio.Event()
    slow_id: list[int] = []

    async def slow_save() -> None:
        async with store._tx() as conn:
            result = await conn.execute(
                change_log.insert().values(
                    user_id="user-slow", kind="profile", version=1, created_at=utcnow()
                )
            )
            slow_id.append(int(result.inserted_primary_key[0]))
            taken.set()
            await release.wait()

    slow = asyncio.create_task(slow_save())
    await taken.wait()
    await store.put("user-fast", "profile", "main", {"a": 1}, expected_version=None)
    await follower.catch_up()
    assert refreshed == ["user-fast"]
    assert slow_id[0] in follower.cursor.missing  # the slow one's id is awaited
    release.set()
    await slow
    await follower.catch_up()
    assert refreshed == ["user-fast", "user-slow"]
    assert slow_id[0] not in follower.cursor.missing
