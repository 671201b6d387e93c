"""What an idle live session holds: its tasks, its events, and no message the model sent it.

An idle conversation should keep only what it needs to wake up: a reader of each side and the client's
writer (the rotation is a timer, the end of ``run`` a future), events that allocate nothing until
someone waits on them, and no copy of the last (large) message the model sent, once the pong of the
ping that followed it has come.
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request

from companion.realtime.links import ClientLink, Flag
from companion.realtime.session import Status
from companion.realtime.upstream import Target, WebSocketConnector, WebSocketUpstream
from tests.realtime.fakes import MemoryClient
from tests.realtime.session_harness import SessionHarness, eventually

BIG_CHARS = 1_000_000  # a message far larger than anything else the connection holds

# ---- Flag -----------------------------------------------------------------------------------------


async def test_a_flag_wakes_every_waiter_and_keeps_no_list_when_nobody_waits() -> None:
    flag = Flag()
    assert flag._waiting is None  # nothing allocated until someone waits
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert flag.is_set()
    assert flag._waiting is None


async def test_a_set_flag_answers_at_once_and_a_cleared_one_waits_again() -> None:
    flag = Flag(True)
    assert await asyncio.wait_for(flag.wait(), 0.1) is True
    flag.clear()
    assert not flag.is_set()
    waiter = asyncio.create_task(flag.wait())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    flag.set()
    assert await asyncio.wait_for(waiter, 1) is True


async def test_a_waiter_that_gives_up_is_forgotten_and_the_others_still_wake() -> None:
    flag = Flag()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(flag.wait(), 0.01)
    assert flag._waiting is None
    staying = asyncio.create_task(flag.wait())
    leaving = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    assert flag._waiting is not None and len(flag._waiting) == 1
    flag.set()
    assert await asyncio.wait_for(staying, 1) is True


# ---- the client's outbox ----------------------------------------------------------------------------


async def test_the_outbox_keeps_order_across_batches_queued_while_sending() -> None:
    client = MemoryClient()
    link = ClientLink(client, lambda: None)
    writer = asyncio.create_task(link.write())
    for i in range(5):
        link.offer({"type": "x", "n": i})
    await asyncio.sleep(0)  # the writer takes the first batch; more arrive while it sends
    for i in range(5, 10):
        link.offer({"type": "x", "n": i})
    await eventually(lambda: len(client.received) == 10, what="ten events sent")
    await link.finish(1.0)
    await asyncio.wait_for(writer, 1)
    assert [e["n"] for e in client.received] == list(range(10))
    assert link._queue == []


# ---- the session's tasks -------------------------------------------------------------------------------


def _task_roles(h: SessionHarness) -> list[str]:
    return sorted(t.get_name().split(":", 1)[1] for t in h.session._tasks if not t.done())


def _rotation_at(h: SessionHarness) -> float | None:
    link = h.session._machine.link
    return None if link is None else link.rotate_at


async def test_an_idle_session_runs_three_tasks_and_one_timer_for_its_rotation() -> None:
    async with SessionHarness(max_session_s=3600.0) as h:
        first = await h.start()
        await eventually(
            lambda: _task_roles(h) == ["client-reader", "client-writer", "model-1"],
            what="only the two pumps and the model's reader left",
        )
        rotation_at = _rotation_at(h)
        assert rotation_at is not None  # due in an hour
        assert h.session._timer is not None and h.session._timer_at == rotation_at
        assert not first.closed


async def test_the_timer_still_rotates_and_then_waits_for_the_next_rotation() -> None:
    async with SessionHarness(max_session_s=0.3) as h:
        first = await h.start()
        timer = h.session._timer
        assert timer is not None and h.session._timer_at == _rotation_at(h)
        await h.connector.wait_for_connection(2)
        await eventually(lambda: h.reasons() == ["start", "rotation"], what="the rotation")
        await h.wait_status(Status.ACTIVE)
        await eventually(lambda: first.closed, what="the first model connection closed")
        assert timer.cancelled() or timer.when() <= asyncio.get_running_loop().time()
        await eventually(lambda: h.session._timer_at == _rotation_at(h), what="the next rotation timed")


async def test_a_closed_session_keeps_no_timer() -> None:
    async with SessionHarness(max_session_s=3600.0) as h:
        await h.start()
        timer = h.session._timer
        assert timer is not None
        await h.session.close()
        assert timer.cancelled()
        assert h.session._timer is None


async def test_a_replaced_connection_moves_the_timer_to_the_new_ones_rotation() -> None:
    async with SessionHarness(max_session_s=3600.0) as h:
        first = await h.start()
        old_rotation = _rotation_at(h)
        timer = h.session._timer
        assert timer is not None
        first.drop(None)
        await h.connector.wait_for_connection(2)
        await eventually(lambda: h.reasons() == ["start", "dropped"], what="the reconnection")
        await h.wait_status(Status.ACTIVE)
        assert timer.cancelled()
        assert _rotation_at(h) != old_rotation
        assert h.session._timer is not None and h.session._timer_at == _rotation_at(h)


async def test_run_ends_when_the_session_is_closed_from_outside() -> None:
    async with SessionHarness() as h:
        await h.start()
        await h.session.close()
        await h.wait_ended(timeout=2)
        assert h.session.status is Status.CLOSED


# ---- the model's connection ----------------------------------------------------------------------------


@asynccontextmanager
async def _model(messages: list[str | list[str]], *, step: bool = False) -> AsyncIterator[str]:
    """A WebSocket server that sends ``messages`` (a list: one message in fragments), then waits;
    with ``step``, each message after the first only once the client has sent something."""

    async def handler(ws: ServerConnection) -> None:
        for i, message in enumerate(messages):
            if step and i > 0:
                await ws.recv()
            await ws.send(message)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


def _held_by_websockets(snapshot: tracemalloc.Snapshot) -> int:
    return sum(
        stat.size
        for stat in snapshot.statistics("traceback")
        if any("websockets" in frame.filename for frame in stat.traceback)
    )


async def test_the_model_connection_keeps_no_long_message_it_handed_on() -> None:
    big = json.dumps({"type": "session.updated", "session": {"instructions": "א" * BIG_CHARS}})
    async with _model([big, json.dumps({"type": "x"})], step=True) as url:
        conn = await WebSocketConnector(Target(url=url)).connect()
        assert isinstance(conn, WebSocketUpstream)
        try:
            tracemalloc.start(25)
            try:
                events = await conn.recv()
                assert len(events[0]["session"]["instructions"]) == BIG_CHARS
                del events
                pong = conn._pong  # of the ping that makes the model's next frame come now
                assert pong is not None
                await asyncio.wait_for(pong, 5)
                held = _held_by_websockets(tracemalloc.take_snapshot())
            finally:
                tracemalloc.stop()
            assert held < BIG_CHARS // 10, f"websockets still holds {held} bytes after the message"
            await conn.send({"type": "next"})
            assert await conn.recv() == [{"type": "x"}]
            assert conn._pong is pong  # a short message asks for nothing
        finally:
            await conn.close()


async def test_fragmented_and_later_messages_arrive_whole_and_in_order() -> None:
    first = json.dumps({"type": "a", "text": "שלום " * 2000})
    pieces = [first[:1000], first[1000:5000], first[5000:]]
    async with _model([pieces, json.dumps({"type": "b"}), json.dumps({"type": "c"})]) as url:
        conn = await WebSocketConnector(Target(url=url)).connect()
        try:
            got = [(await conn.recv())[0] for _ in range(3)]
        finally:
            await conn.close()
    assert got == [json.loads(first), {"type": "b"}, {"type": "c"}]


async def test_the_handshake_request_is_not_kept() -> None:
    async with _model([]) as url:
        target = Target(url=url, headers={"Authorization": "Bearer secret"})
        conn = await WebSocketConnector(target).connect()
        try:
            assert isinstance(conn, WebSocketUpstream)
            assert not any(isinstance(v, Request) for v in vars(conn._ws).values())
            assert not any(isinstance(v, Request) for v in vars(conn._ws.protocol).values())
        finally:
            await conn.close()
