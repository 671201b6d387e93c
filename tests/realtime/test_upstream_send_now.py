"""Sending to the model without waiting when nothing stands in the way, in order, and the awaited
path whenever something does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from companion.errors import UpstreamError, UpstreamLost
from companion.realtime.links import UpstreamLink
from companion.realtime.upstream import LeanClientConnection, WebSocketUpstream


@pytest.fixture
async def echo_url() -> AsyncIterator[tuple[str, list[str]]]:
    received: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            received.append(str(message))

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}", received


async def _until(received: list[str], count: int) -> None:
    async with asyncio.timeout(5):
        while len(received) < count:
            await asyncio.sleep(0.005)


async def test_an_open_connection_takes_a_message_at_once_and_in_order(
    echo_url: tuple[str, list[str]],
) -> None:
    url, received = echo_url
    async with connect(url, create_connection=LeanClientConnection) as ws:
        assert isinstance(ws, LeanClientConnection)
        upstream = WebSocketUpstream(ws, "ga")
        assert upstream.send_now({"type": "a"}) is True
        await upstream.send({"type": "b"})
        assert upstream.send_now({"type": "ignored"}, frame='{"type":"c"}') is True
        await _until(received, 3)
    assert [json.loads(m)["type"] for m in received] == ["a", "b", "c"]


async def test_a_paused_write_buffer_sends_nothing_and_leaves_it_to_the_awaited_path(
    echo_url: tuple[str, list[str]],
) -> None:
    url, received = echo_url
    async with connect(url, create_connection=LeanClientConnection) as ws:
        assert isinstance(ws, LeanClientConnection)
        ws.paused = True  # as websockets sets it when the transport's buffer is above its high-water mark
        assert ws.write_now('{"type":"held"}') is False
        ws.paused = False
        assert ws.write_now('{"type":"sent"}') is True
        await _until(received, 1)
    assert received == ['{"type":"sent"}']


async def test_a_closed_connection_is_left_to_send_which_reports_it(echo_url: tuple[str, list[str]]) -> None:
    url, _ = echo_url
    async with connect(url, create_connection=LeanClientConnection) as ws:
        upstream = WebSocketUpstream(ws, "ga")
        await ws.close()
        assert upstream.send_now({"type": "a"}) is False
        with pytest.raises(UpstreamError, match="closed"):
            await upstream.send({"type": "a"})


class _SlowFirst:
    """A connection whose first send must wait (as a full write buffer does) and that could take any
    later one at once (the buffer drained meanwhile)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()
        self.fail_now = False
        self._asked = 0

    def send_now(self, event: dict[str, Any], *, frame: str | None = None) -> bool:
        if self.fail_now:
            raise UpstreamError("The realtime model connection is closed (no close frame)")
        self._asked += 1
        if self._asked == 1:
            return False
        self.sent.append(event["type"])
        return True

    async def send(self, event: dict[str, Any], *, frame: str | None = None) -> None:
        await self.release.wait()
        self.sent.append(event["type"])


async def test_a_send_never_overtakes_one_still_waiting() -> None:
    conn = _SlowFirst()
    link = UpstreamLink(conn, number=1, reason="start")  # type: ignore[arg-type]
    first = asyncio.create_task(link.send({"type": "first"}))
    await asyncio.sleep(0)
    second = asyncio.create_task(link.send({"type": "second"}))
    await asyncio.sleep(0.01)
    assert conn.sent == []  # the second waits behind the first instead of going at once
    conn.release.set()
    await asyncio.gather(first, second)
    assert conn.sent == ["first", "second"]
    await link.send({"type": "third"})  # nothing waiting any more: at once
    assert conn.sent == ["first", "second", "third"]
    conn.fail_now = True
    with pytest.raises(UpstreamLost):
        await link.send({"type": "fourth"})
