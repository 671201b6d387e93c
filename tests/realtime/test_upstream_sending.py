"""Sending to the model: in order, through websockets' public API, and a closed connection reported
as ours (``UpstreamError`` / ``UpstreamLost``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from companion.errors import UpstreamError, UpstreamLost
from companion.realtime.links import UpstreamLink
from companion.realtime.upstream import Target, WebSocketConnector


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


async def test_messages_sent_at_once_arrive_whole_and_in_order(echo_url: tuple[str, list[str]]) -> None:
    url, received = echo_url
    conn = await WebSocketConnector(Target(url=url)).connect()
    link = UpstreamLink(conn, number=1, reason="start")
    try:
        sends = [link.send({"type": "a"}), link.send({"type": "ignored"}, frame='{"type":"b"}')]
        sends += [link.send({"type": "c", "audio": "x" * 100_000})]
        await asyncio.gather(*sends)
        await _until(received, 3)
    finally:
        await link.close()
    assert [json.loads(m)["type"] for m in received] == ["a", "b", "c"]


async def test_a_closed_connection_is_reported_as_ours(echo_url: tuple[str, list[str]]) -> None:
    url, _ = echo_url
    conn = await WebSocketConnector(Target(url=url)).connect()
    await conn.close()
    with pytest.raises(UpstreamError, match="closed"):
        await conn.send({"type": "a"})
    link = UpstreamLink(conn, number=1, reason="start")
    with pytest.raises(UpstreamLost, match="closed"):
        await link.send({"type": "a"})


class _SlowFirst:
    """A connection whose first send must wait (as a full write buffer does)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()
        self.fail = False

    async def send(self, event: dict[str, Any], *, frame: str | None = None) -> None:
        if self.fail:
            raise UpstreamError("The realtime model connection is closed (no close frame)")
        if not self.sent:
            await self.release.wait()
        self.sent.append(event["type"])


async def test_a_send_never_overtakes_one_still_waiting() -> None:
    conn = _SlowFirst()
    link = UpstreamLink(conn, number=1, reason="start")  # type: ignore[arg-type]
    first = asyncio.create_task(link.send({"type": "first"}))
    await asyncio.sleep(0)
    second = asyncio.create_task(link.send({"type": "second"}))
    await asyncio.sleep(0.01)
    assert conn.sent == []  # the second waits behind the first
    conn.release.set()
    await asyncio.gather(first, second)
    assert conn.sent == ["first", "second"]
    await link.send({"type": "third"})
    assert conn.sent == ["first", "second", "third"]
    conn.fail = True
    with pytest.raises(UpstreamLost):
        await link.send({"type": "fourth"})
