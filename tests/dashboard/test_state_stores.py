"""One contract, two places: dashboard sessions and failure counters in memory and in a real Redis.

Each test runs against both implementations (the Redis one on a private database of the machine's
Redis, ``redis_url``; it skips locally and fails under CI=true without Redis). Then what only Redis has
to prove: atomic counting across clients, minimal writes, keys that expire and are prefixed, bounds,
and a clear error when Redis cannot be reached.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from companion.auth import Principal, Role
from companion.auth.throttle import (
    FAILURE_WINDOW_S,
    LOCKOUT_S,
    Budget,
    FailureBudget,
    LoginThrottle,
    Throttle,
)
from companion.auth.throttle_redis import RedisBudget, RedisThrottle
from companion.cluster.identity import redis_client
from companion.dashboard import session_store, websessions
from companion.dashboard.session_store import TOUCH_EVERY_S, RedisSessions
from companion.dashboard.websessions import (
    IDLE_TIMEOUT_S,
    MAX_AGE_S,
    MAX_DRAFTS,
    MemorySessions,
    SessionStore,
)
from companion.dashboard.wizard import Conflict, Draft
from companion.errors import ClusterUnavailable, InvalidInput

CAREGIVER = Principal(role=Role.CAREGIVER, token_id="dashboard-cg-1", caregiver_id="cg-1")
ADMIN = Principal(role=Role.ADMIN, token_id="bootstrap")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # a wall-clock time: Redis keys expire at real times derived from it

    def __call__(self) -> float:
        return self.now


@dataclass
class Place:
    kind: str
    clock: Clock
    redis: Redis | None

    def sessions(self) -> SessionStore:
        if self.redis is None:
            return MemorySessions(self.clock)
        return RedisSessions(self.redis, self.clock)

    def throttle(self) -> Throttle:
        return LoginThrottle(self.clock) if self.redis is None else RedisThrottle(self.redis, "t", self.clock)

    def budget(self, limit: int, window_s: float) -> Budget:
        if self.redis is None:
            return FailureBudget(limit, window_s, self.clock)
        return RedisBudget(self.redis, "b", limit, window_s, self.clock)


@pytest.fixture(params=["memory", "redis"])
async def place(request: pytest.FixtureRequest) -> AsyncIterator[Place]:
    if request.param == "memory":
        yield Place("memory", Clock(), None)
        return
    url = request.getfixturevalue("redis_url")
    redis = redis_client(url)
    try:
        yield Place("redis", Clock(), redis)
    finally:
        await redis.aclose()


def draft(user_id: str, name: str = "משה") -> Draft:
    profile = {"personalInfo": {"preferredName": name}}
    return Draft(
        user_id=user_id,
        base={"profile": profile, "safety": None, "music": {}},
        versions={"profile": 3, "safety": None, "music": 1},
        data={"profile": {"personalInfo": {"preferredName": name + "!"}}, "safety": {}, "music": {}},
        base_memories=[{"id": "m1", "text": "גן"}],
        memories=[{"id": "m1", "text": "גן"}, {"text": "חדש"}],
        conflicts={"music": Conflict(theirs={"liked": ["x"]}, version=2)},
    )


# ---- sessions ---------------------------------------------------------------------------------------


async def test_a_saved_session_comes_back_with_who_csrf_and_flash(place: Place) -> None:
    store = place.sessions()
    session = store.new(CAREGIVER, "תפארת")
    session.flash = {"message": "נשמר", "counts": [1, 2]}
    await store.save(session)
    again = await place.sessions().get(session.id) if place.redis else await store.get(session.id)
    assert again is not None
    assert (again.id, again.csrf, again.principal, again.display_name) == (
        session.id,
        session.csrf,
        CAREGIVER,
        "תפארת",
    )
    assert again.csrf_ok(session.csrf) and not again.csrf_ok("other")
    assert again.pop_flash() == {"message": "נשמר", "counts": [1, 2]}
    await store.save(again)
    third = await store.get(session.id)
    assert third is not None and third.flash is None, "a flash is shown once"
    assert await store.get("no-such-session") is None
    assert await store.get(None) is None


async def test_an_admin_and_an_anonymous_session_keep_their_kind(place: Place) -> None:
    store = place.sessions()
    admin, anonymous = store.new(ADMIN, "admin"), store.new()
    await store.save(admin)
    await store.save(anonymous)
    got_admin, got_anonymous = await store.get(admin.id), await store.get(anonymous.id)
    assert got_admin is not None and got_admin.principal == ADMIN and got_admin.principal.is_admin
    assert got_anonymous is not None and not got_anonymous.signed_in


async def test_sessions_end_when_idle_or_too_old_and_when_dropped(place: Place) -> None:
    store = place.sessions()
    idle, busy, dropped = store.new(CAREGIVER), store.new(CAREGIVER), store.new(CAREGIVER)
    for session in (idle, busy, dropped):
        await store.save(session)
    await store.drop(dropped.id)
    assert await store.get(dropped.id) is None
    for _ in range(int(MAX_AGE_S // (IDLE_TIMEOUT_S / 2))):
        place.clock.now += IDLE_TIMEOUT_S / 2 - 1
        touched = await store.get(busy.id)
        assert touched is not None, "activity keeps a session alive within its day"
        await store.save(touched)
    assert await store.get(idle.id) is None, "eight idle hours end it"
    place.clock.now += IDLE_TIMEOUT_S / 2
    assert await store.get(busy.id) is None, "a day ends even a busy session"


async def test_drafts_come_back_by_person_and_only_the_newest_are_kept(place: Place) -> None:
    store = place.sessions()
    session = store.new(CAREGIVER)
    await store.save(session)
    loaded = await store.get(session.id)
    assert loaded is not None
    for i in range(MAX_DRAFTS + 2):
        loaded.keep_draft(f"user-{i}", draft(f"user-{i}", f"n{i}"))
    await store.save(loaded)
    again = await place.sessions().get(session.id) if place.redis else await store.get(session.id)
    assert again is not None
    assert list(again.drafts) == [f"user-{i}" for i in range(2, MAX_DRAFTS + 2)]
    assert "user-0" not in again.drafts and "user-5" in again.drafts
    kept = await store.load_draft(again, "user-5")
    assert isinstance(kept, Draft)
    assert kept.to_json() == draft("user-5", "n5").to_json()
    assert kept.conflicts["music"] == Conflict(theirs={"liked": ["x"]}, version=2)
    assert await store.load_draft(again, "user-0") is None
    kept.data["profile"]["personalInfo"]["preferredName"] = "changed"
    again.drafts.pop("user-6")
    await store.save(again)
    third = await store.get(session.id)
    assert third is not None
    assert "user-6" not in third.drafts
    changed = await store.load_draft(third, "user-5")
    assert changed is not None and changed.data["profile"]["personalInfo"]["preferredName"] == "changed"


async def test_forgetting_a_person_removes_their_draft_from_every_session_and_only_theirs(
    place: Place,
) -> None:
    store = place.sessions()
    gone, kept = "user-gone-" + secrets.token_hex(4), "user-kept-" + secrets.token_hex(4)
    first, second = store.new(CAREGIVER), store.new(CAREGIVER)
    first.keep_draft(gone, draft(gone))
    first.keep_draft(kept, draft(kept))
    second.keep_draft(gone, draft(gone))
    for session in (first, second):
        await store.save(session)

    assert await store.forget_person(gone) == 2
    assert await store.forget_person(gone) == 0, "nothing left to forget"

    def reader() -> SessionStore:  # in Redis, as another instance (or a later request) reads it
        return place.sessions() if place.redis else store

    for session_id in (first.id, second.id):
        fresh = reader()
        again = await fresh.get(session_id)
        assert again is not None
        assert gone not in again.drafts
        assert await fresh.load_draft(again, gone) is None
    fresh = reader()
    again = await fresh.get(first.id)
    assert again is not None and list(again.drafts) == [kept]
    assert isinstance(await fresh.load_draft(again, kept), Draft)


# ---- failure counters -------------------------------------------------------------------------------


async def test_failures_lock_a_key_for_its_time_and_old_ones_are_forgotten(place: Place) -> None:
    throttle = place.throttle()
    for _ in range(4):
        assert not (await throttle.reserve({"user:a": 5, "ip:x": 20})).locked_now
    place.clock.now += FAILURE_WINDOW_S + 1
    for _ in range(4):
        assert not (await throttle.reserve({"user:a": 5, "ip:x": 20})).locked_now
    locking = await throttle.reserve({"user:a": 5, "ip:x": 20})
    assert locking.locked_now and locking.locked_for == 0
    assert await throttle.locked_for("user:a", "ip:y") == pytest.approx(LOCKOUT_S)
    assert await throttle.locked_for("ip:x") == 0, "each key has its own limit"
    refused = await throttle.reserve({"user:a": 5, "ip:x": 20})
    assert refused.locked_for == pytest.approx(LOCKOUT_S)
    place.clock.now += 60
    assert await throttle.locked_for("user:a") == pytest.approx(LOCKOUT_S - 60)
    place.clock.now += LOCKOUT_S
    assert await throttle.locked_for("user:a") == 0
    assert not (await throttle.reserve({"user:a": 5})).locked_now


async def test_a_locked_key_counts_nothing_on_its_other_keys(place: Place) -> None:
    throttle = place.throttle()
    for _ in range(2):
        await throttle.reserve({"ip:x": 2})
    for _ in range(10):
        assert (await throttle.reserve({"user:b": 3, "ip:x": 2})).locked_for > 0
    place.clock.now += LOCKOUT_S + 1
    assert not (await throttle.reserve({"user:b": 3})).locked_now, "user:b was never counted"


async def test_forgive_takes_back_one_attempt_and_the_lock_it_set(place: Place) -> None:
    throttle = place.throttle()
    for _ in range(2):
        await throttle.reserve({"k": 3})
    right = await throttle.reserve({"k": 3})
    assert right.locked_now
    await throttle.forgive(right)
    assert await throttle.locked_for("k") == 0, "the attempt that locked succeeded: no lock"
    assert (await throttle.reserve({"k": 3})).locked_now, "the two guesses before it still count"
    await throttle.succeed("k")
    assert await throttle.locked_for("k") > 0, "success does not lift a lock other attempts set"
    place.clock.now += LOCKOUT_S + 1
    assert not (await throttle.reserve({"k": 3})).locked_now
    assert not (await throttle.reserve({"k": 3})).locked_now, "succeed forgot the earlier failures"


async def test_the_budget_allows_its_limit_per_window_and_refunds(place: Place) -> None:
    budget = place.budget(3, 60.0)
    tickets = [await budget.spend() for _ in range(3)]
    assert all(ticket is not None and wait == 0 for ticket, wait in tickets)
    place.clock.now += 10
    assert await budget.spend() == (None, pytest.approx(50.0))
    first = tickets[0][0]
    assert first is not None
    await budget.refund(first)
    ticket, wait = await budget.spend()
    assert ticket is not None and wait == 0
    assert (await budget.spend())[0] is None
    place.clock.now += 60
    assert (await budget.spend())[0] is not None


# ---- what only Redis has to show --------------------------------------------------------------------


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = redis_client(redis_url)
    yield client
    await client.aclose()


async def test_parallel_reserves_from_two_instances_pass_the_limit_once(redis_url: str) -> None:
    a, b = redis_client(redis_url), redis_client(redis_url)
    try:
        throttles = [RedisThrottle(a, "pairing"), RedisThrottle(b, "pairing")]
        budgets = [RedisBudget(a, "pairing", 7, 60.0), RedisBudget(b, "pairing", 7, 60.0)]
        attempts = await asyncio.gather(*(throttles[i % 2].reserve({"pair:10.0.0.1": 5}) for i in range(40)))
        spent = await asyncio.gather(*(budgets[i % 2].spend() for i in range(40)))
    finally:
        await a.aclose()
        await b.aclose()
    assert sum(1 for r in attempts if r.locked_for == 0) == 5
    assert sum(1 for r in attempts if r.locked_now) == 1
    assert sum(1 for ticket, _ in spent if ticket is not None) == 7


async def test_every_key_is_prefixed_hashed_and_expires(redis: Redis) -> None:
    sessions = RedisSessions(redis)
    member, anonymous = sessions.new(CAREGIVER, "x"), sessions.new()
    member.flash = {"message": "hi"}
    member.keep_draft("user-1", draft("user-1"))
    await sessions.save(member)
    await sessions.save(anonymous)
    await RedisThrottle(redis, "dashboard").reserve({"user:tiferet": 5, "ip:10.0.0.1": 20})
    await RedisBudget(redis, "pairing", 60, 60.0).spend()
    keys = [key async for key in redis.scan_iter("*")]
    assert len(keys) >= 7
    for key in keys:
        assert key.startswith("companion:"), key
        assert 0 < await redis.pttl(key) <= MAX_AGE_S * 1000, key
        assert member.id not in key and "tiferet" not in key and "10.0.0.1" not in key, key


async def test_a_request_that_changes_nothing_writes_nothing_and_seen_moves_once_a_minute(
    redis: Redis,
) -> None:
    clock = Clock()
    sessions = RedisSessions(redis, clock)
    writes: list[Any] = []
    real_save = sessions._save

    async def counting(**kwargs: Any) -> Any:
        writes.append(kwargs)
        return await real_save(**kwargs)

    sessions._save = counting  # type: ignore[assignment]
    session = sessions.new(CAREGIVER)
    session.keep_draft("user-1", draft("user-1"))
    await sessions.save(session)
    key = session_store.state_key(session_store.SESSION_KIND, session.id)
    for _ in range(5):
        clock.now += 5
        loaded = await sessions.get(session.id)
        assert loaded is not None
        await sessions.load_draft(loaded, "user-1")
        await sessions.save(loaded)
    assert writes == [], "reading pages and a draft writes nothing"
    clock.now += TOUCH_EVERY_S
    loaded = await sessions.get(session.id)
    assert loaded is not None
    await sessions.save(loaded)
    assert len(writes) == 1
    assert float(await redis.hget(key, "seen") or 0) == clock.now
    loaded = await sessions.get(session.id)
    assert loaded is not None
    loaded_draft = await sessions.load_draft(loaded, "user-1")
    assert loaded_draft is not None
    loaded_draft.memories.append({"text": "עוד"})
    await sessions.save(loaded)
    assert len(writes) == 2
    written = writes[-1]["args"]
    assert "d:user-1" in written and "seen" not in written and "order" not in written, "only the draft"


async def test_a_session_ended_elsewhere_is_not_brought_back_by_a_late_save(redis: Redis) -> None:
    sessions = RedisSessions(redis)
    session = sessions.new(CAREGIVER)
    await sessions.save(session)
    late = await sessions.get(session.id)
    assert late is not None
    await sessions.drop(session.id)  # logout in another tab, on another instance
    late.flash = {"message": "x"}
    await sessions.save(late)
    assert await sessions.get(session.id) is None
    assert [key async for key in redis.scan_iter("*")] == []


async def test_anonymous_sessions_are_bounded_and_drafts_too_large_are_refused(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websessions, "MAX_SESSIONS", 5)
    clock = Clock()
    sessions = RedisSessions(redis, clock)
    member = sessions.new(CAREGIVER, "x")
    await sessions.save(member)
    anonymous = []
    for _ in range(20):
        clock.now += 1
        anonymous.append(sessions.new())
        await sessions.save(anonymous[-1])
    assert await sessions.get(member.id) is not None, "a flood of login forms signs nobody out"
    assert [await sessions.get(s.id) is not None for s in anonymous] == [False] * 15 + [True] * 5
    monkeypatch.setattr(session_store, "MAX_DRAFT_BYTES", 2000)
    loaded = await sessions.get(member.id)
    assert loaded is not None
    big = draft("user-1", "x" * 3000)
    loaded.keep_draft("user-1", big)
    with pytest.raises(InvalidInput):
        await sessions.save(loaded)
    assert "user-1" not in loaded.drafts
    again = await sessions.get(member.id)
    assert again is not None and "user-1" not in again.drafts, "the session itself is still saved"


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "call",
    [
        lambda r: RedisSessions(r).get("x" * 43),
        lambda r: RedisSessions(r).save(RedisSessions(r).new(CAREGIVER)),
        lambda r: RedisSessions(r).drop("x"),
        lambda r: RedisThrottle(r, "t").reserve({"k": 5}),
        lambda r: RedisThrottle(r, "t").locked_for("k"),
        lambda r: RedisBudget(r, "b", 5, 60.0).spend(),
    ],
)
async def test_an_unreachable_redis_is_a_clear_error_never_a_pass(call: Callable[[Redis], Any]) -> None:
    redis = redis_client(f"redis://127.0.0.1:{_dead_port()}/0")
    try:
        with pytest.raises(ClusterUnavailable) as caught:
            await call(redis)
    finally:
        await redis.aclose()
    assert caught.value.status == 503
    assert "try again in a minute" in caught.value.message
