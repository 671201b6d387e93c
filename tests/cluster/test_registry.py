"""The shared registry on a real Redis: what each instance publishes, routing lookups, expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from companion.cluster.identity import redis_client
from companion.cluster.registry import ENTRY_TTL_S, Registry, Snapshot


def summary(session_id: str, user_id: str) -> dict[str, object]:
    return {"id": session_id, "userId": user_id, "status": "active", "startedAt": "2026-11-30T07:00:00+00:00"}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = redis_client(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_every_instance_sees_the_others_sessions(redis: Redis) -> None:
    a, b = Registry(redis, "a"), Registry(redis, "b")
    await a.publish(Snapshot(live=[summary("s-a", "user-1")], closed=[]))
    await b.publish(
        Snapshot(
            live=[summary("s-b1", "user-1"), summary("s-b2", "user-2")], closed=[summary("s-old", "user-2")]
        )
    )
    entries = {e.instance: e for e in await a.entries()}
    assert sorted(entries) == ["a", "b"]
    assert [s["id"] for s in entries["b"].live] == ["s-b1", "s-b2"]
    assert [s["id"] for s in entries["b"].closed] == ["s-old"]
    assert [e.instance for e in await a.entries(others_only=True)] == ["b"]
    assert await a.owner_of("s-b2") == ("b", "user-2")
    assert await a.owner_of("s-a") is None  # its own sessions are looked up locally
    assert await a.holders_of("user-1") == {"b": 1}
    assert await b.holders_of("user-1") == {"a": 1}
    assert await a.holders_of("user-3") == {}


async def test_a_new_snapshot_replaces_the_old_one(redis: Redis) -> None:
    a, b = Registry(redis, "a"), Registry(redis, "b")
    await b.publish(Snapshot(live=[summary("s-1", "user-1")], closed=[]))
    await b.publish(Snapshot(live=[], closed=[summary("s-1", "user-1")]))
    assert await a.owner_of("s-1") is None
    assert await a.holders_of("user-1") == {}


async def test_a_silent_instance_leaves_the_lists(redis: Redis) -> None:
    now = [1_000_000.0]
    a, b = Registry(redis, "a", clock=lambda: now[0]), Registry(redis, "b", clock=lambda: now[0])
    await b.publish(Snapshot(live=[summary("s-1", "user-1")], closed=[]))
    assert await a.live_instances() == ["b"]
    now[0] += ENTRY_TTL_S + 1  # no heartbeat from b since
    assert await a.live_instances() == []
    assert await a.entries() == []
    assert await a.holders_of("user-1") == {}
    assert await redis.ttl("companion:instance:b") <= ENTRY_TTL_S  # and Redis drops the entry itself


async def test_a_shorter_time_to_live_is_kept_by_every_instance_and_by_redis(redis: Redis) -> None:
    """``COMPANION_INSTANCE_TTL_S``: a silent instance leaves sooner, and renews its entry more often."""
    now = [1_000_000.0]
    a = Registry(redis, "a", ttl_s=4, clock=lambda: now[0])
    b = Registry(redis, "b", ttl_s=4, clock=lambda: now[0])
    assert b.heartbeat_s == pytest.approx(4 / 3)
    await b.publish(Snapshot(live=[summary("s-1", "user-1")], closed=[]))
    assert 0 < await redis.ttl("companion:instance:b") <= 4
    now[0] += 3
    assert await a.live_instances() == ["b"], "within its time to live"
    now[0] += 2
    assert await a.live_instances() == [] and await a.holders_of("user-1") == {}


async def test_a_clean_stop_withdraws_at_once(redis: Redis) -> None:
    a, b = Registry(redis, "a"), Registry(redis, "b")
    await b.publish(Snapshot(live=[summary("s-1", "user-1")], closed=[]))
    await b.withdraw()
    assert await a.entries() == []
