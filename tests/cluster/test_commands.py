"""Commands between two instances over a real Redis: results, errors as the same statuses, an owner
that is gone or slow."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from companion.cluster.commands import CommandBus
from companion.cluster.identity import REDIS_SOCKET_TIMEOUT_S, redis_client
from companion.errors import ClusterUnavailable, InstanceTimeout, NotFound, SessionNotActive, UpstreamTimeout


async def handler(op: str, args: dict[str, Any]) -> Any:
    if op == "echo":
        return {"got": args}
    if op == "missing":
        raise NotFound("Session s-1 not found")
    if op == "closed":
        raise SessionNotActive("Session s-1 has no active WebSocket connection")
    if op == "model-timeout":
        raise UpstreamTimeout("the model did not confirm in time")
    if op == "slow":
        await asyncio.sleep(5)
    if op == "bug":
        raise RuntimeError("boom")
    return None


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[CommandBus, CommandBus, Redis]]:
    redis = redis_client(redis_url)
    a, b = CommandBus(redis, "a", handler), CommandBus(redis, "b", handler)
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    await asyncio.wait_for(asyncio.gather(a.listening.wait(), b.listening.wait()), 5)
    try:
        yield a, b, redis
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await a.close()
        await b.close()
        await redis.aclose()


async def test_the_owner_runs_the_command_and_answers(pair: tuple[CommandBus, CommandBus, Redis]) -> None:
    a, _, _ = pair
    assert await a.call("b", "echo", {"sessionId": "s-1"}, timeout_s=2) == {"got": {"sessionId": "s-1"}}


async def test_the_channel_survives_silence_longer_than_the_socket_timeout(
    pair: tuple[CommandBus, CommandBus, Redis], caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing on the command channel for longer than the client's ``socket_timeout``: the subscription
    must still be there and route a command at once. A client whose pub/sub read times out after that
    long of silence would drop and subscribe again every 2 s, and a command sent in such a gap finds
    nobody listening."""
    a, b, _ = pair
    caplog.set_level(logging.WARNING, logger="companion.cluster.commands")
    await asyncio.sleep(REDIS_SOCKET_TIMEOUT_S + 1)  # the silence itself is what is tested
    assert a.listening.is_set() and b.listening.is_set()
    assert await a.call("b", "echo", {"after": "silence"}, timeout_s=2) == {"got": {"after": "silence"}}
    assert await b.call("a", "echo", {"back": 1}, timeout_s=2) == {"got": {"back": 1}}
    lost = [r.getMessage() for r in caplog.records if "command channel lost" in r.getMessage()]
    assert lost == [], lost


@pytest.mark.parametrize(
    ("op", "error", "status"),
    [("missing", NotFound, 404), ("closed", SessionNotActive, 409), ("model-timeout", UpstreamTimeout, 504)],
)
async def test_the_owners_error_is_raised_here_with_its_status(
    pair: tuple[CommandBus, CommandBus, Redis], op: str, error: type[Exception], status: int
) -> None:
    a, _, _ = pair
    with pytest.raises(error) as caught:
        await a.call("b", op, {}, timeout_s=2)
    assert caught.value.status == status  # type: ignore[attr-defined]


async def test_a_bug_on_the_owner_still_answers(pair: tuple[CommandBus, CommandBus, Redis]) -> None:
    a, _, _ = pair
    with pytest.raises(Exception, match="the other instance failed") as caught:
        await a.call("b", "bug", {}, timeout_s=2)
    assert caught.value.status == 500  # type: ignore[attr-defined]


async def test_an_instance_nobody_runs_is_known_at_once(pair: tuple[CommandBus, CommandBus, Redis]) -> None:
    a, _, _ = pair
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(InstanceTimeout, match="not answering"):
        await a.call("gone", "echo", {}, timeout_s=30)
    assert loop.time() - started < 5  # not the 30 s timeout


async def test_a_slow_owner_is_not_waited_for_past_the_timeout(
    pair: tuple[CommandBus, CommandBus, Redis],
) -> None:
    a, _, _ = pair
    with pytest.raises(InstanceTimeout, match=r"did not answer within 0\.3 s") as caught:
        await a.call("b", "slow", {}, timeout_s=0.3)
    assert caught.value.status == 504


async def test_a_call_waits_until_its_own_channel_is_subscribed_to_hear_the_answer(
    pair: tuple[CommandBus, CommandBus, Redis],
) -> None:
    """As after Redis comes back: the channel the answer comes on is not subscribed yet."""
    _, _, redis = pair
    c = CommandBus(redis, "c", handler)
    call = asyncio.create_task(c.call("b", "echo", {"n": 1}, timeout_s=5))
    await asyncio.sleep(0)  # the call is waiting, nothing published yet
    assert not call.done()
    runner = asyncio.create_task(c.run())
    try:
        assert await call == {"got": {"n": 1}}
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await c.close()


async def test_without_redis_a_call_is_a_clear_503() -> None:
    redis = redis_client("redis://127.0.0.1:1/0")
    bus = CommandBus(redis, "a", handler)
    try:
        with pytest.raises(ClusterUnavailable) as caught:
            await bus.call("b", "echo", {}, timeout_s=1)
        assert caught.value.status == 503
    finally:
        await redis.aclose()


async def test_services_on_other_databases_of_the_same_server_never_hear_each_other(
    pair: tuple[CommandBus, CommandBus, Redis], redis_url: str
) -> None:
    """Pub/sub is server-wide: another service's "b" on another database must not take A's command."""
    a, _, _ = pair
    database = int(redis_url.rsplit("/", 1)[1])
    elsewhere_url = redis_url.rsplit("/", 1)[0] + f"/{0 if database != 0 else 15}"
    other_redis = redis_client(elsewhere_url)
    heard: list[str] = []

    async def stranger(op: str, args: dict[str, Any]) -> Any:
        heard.append(op)
        return "the wrong service"

    other_b = CommandBus(other_redis, "b", stranger)
    task = asyncio.create_task(other_b.run())
    try:
        await asyncio.wait_for(other_b.listening.wait(), 5)
        for _ in range(5):
            assert await a.call("b", "echo", {"n": 1}, timeout_s=2) == {"got": {"n": 1}}
        assert heard == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await other_b.close()
        await other_redis.aclose()
