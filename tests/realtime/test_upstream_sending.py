"""The model's WebSocket (websockets' sans-I/O protocol under our asyncio protocol): sending at once
when nothing stands in the way, in order, the awaited path whenever something does; keepalive pings,
closes from either side and failed handshakes reported as ours."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from companion.errors import UpstreamError
from companion.realtime.links import ModelPipe
from companion.realtime.modelsocket import open_model_socket
from companion.realtime.upstream import Target, WebSocketConnector, WebSocketUpstream


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


async def _connect(url: str) -> WebSocketUpstream:
    conn = await WebSocketConnector(Target(url=url)).connect()
    assert isinstance(conn, WebSocketUpstream)
    return conn


async def test_an_open_connection_takes_a_message_at_once_and_in_order(
    echo_url: tuple[str, list[str]],
) -> None:
    url, received = echo_url
    upstream = await _connect(url)
    try:
        assert upstream.send_now({"type": "a"}) is True
        await upstream.send({"type": "b"})
        assert upstream.send_now({"type": "ignored"}, frame='{"type":"c"}') is True
        await upstream.send({"type": "d", "audio": "x" * 200_000})
        await _until(received, 4)
    finally:
        await upstream.close()
    assert [json.loads(m)["type"] for m in received] == ["a", "b", "c", "d"]


async def test_a_paused_write_buffer_sends_nothing_and_leaves_it_to_the_awaited_path(
    echo_url: tuple[str, list[str]],
) -> None:
    url, received = echo_url
    upstream = await _connect(url)
    ws = upstream._ws
    try:
        ws.pause_writing()  # as the transport does above its high-water mark
        assert ws.write_now('{"type":"held"}') is False
        waiting = asyncio.create_task(ws.send('{"type":"sent"}'))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # written, and waiting for the buffer to drain
        ws.resume_writing()
        await asyncio.wait_for(waiting, 1)
        assert ws.write_now('{"type":"now"}') is True
        await _until(received, 2)
    finally:
        await upstream.close()
    assert received == ['{"type":"sent"}', '{"type":"now"}']


async def test_a_closed_connection_is_left_to_send_which_reports_it(echo_url: tuple[str, list[str]]) -> None:
    url, _ = echo_url
    upstream = await _connect(url)
    await upstream.close()
    assert upstream.send_now({"type": "a"}) is False
    with pytest.raises(UpstreamError, match="closed"):
        await upstream.send({"type": "a"})
    with pytest.raises(UpstreamError, match="closed"):
        await upstream.recv()
    assert upstream.close_info == (1000, "")  # the model answered our close


async def test_the_model_closing_is_reported_with_its_code_and_reason() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send('{"type":"last"}')
        await ws.close(4000, "session_expired")

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        upstream = await _connect(f"ws://127.0.0.1:{port}")
        assert await upstream.recv() == [{"type": "last"}]  # what came before the close is delivered
        with pytest.raises(UpstreamError, match="closed"):
            await upstream.recv()
        assert upstream.close_info == (4000, "session_expired")
        await upstream.close()


async def test_keepalive_pings_are_answered_and_a_silent_model_is_cut_off() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}"
        ws = await open_model_socket(
            url, {}, open_timeout=5, ping_interval=0.02, ping_timeout=1, max_size=None
        )
        await asyncio.sleep(0.2)  # several rounds of pings, each answered
        assert ws.protocol.state.name == "OPEN"
        ws.data_received = lambda data: None  # type: ignore[method-assign]  # deaf: no pong arrives any more
        ws._ping_timeout = 0.05
        with pytest.raises(Exception, match=r"1011|keepalive|1006"):
            async with asyncio.timeout(2):
                await ws.recv()


async def test_a_refused_handshake_and_a_refused_connection_are_upstream_errors() -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(403, "no\n")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=refuse) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        with pytest.raises(UpstreamError, match=r"Could not connect.*403"):
            await WebSocketConnector(Target(url=f"ws://127.0.0.1:{port}")).connect()
    with pytest.raises(UpstreamError, match="Could not connect"):
        await WebSocketConnector(Target(url=f"ws://127.0.0.1:{port}")).connect()
    with pytest.raises(UpstreamError, match="Could not connect"):
        await WebSocketConnector(Target(url="http://not-a-websocket")).connect()


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
    lost: list[tuple[int, dict[str, Any], str | None]] = []
    tasks: list[asyncio.Task[Any]] = []

    def spawn(coro: Any, name: str) -> asyncio.Task[Any]:
        tasks.append(asyncio.create_task(coro, name=name))
        return tasks[-1]

    pipe = ModelPipe(conn, 1, spawn=spawn, on_lost=lambda *a: lost.append(a))  # type: ignore[arg-type]
    pipe.send({"type": "first"})  # the connection cannot take it now: queued behind a flusher
    pipe.send({"type": "second"})  # something waits: queued too, never at once
    assert pipe.backlogged and conn.sent == []
    conn.release.set()
    await pipe.drained()
    assert conn.sent == ["first", "second"] and not pipe.backlogged
    pipe.send({"type": "third"})  # nothing waiting any more: at once
    assert conn.sent == ["first", "second", "third"]
    conn.fail_now = True
    pipe.send({"type": "fourth"})
    assert pipe.closed
    assert lost == [(1, {"type": "fourth"}, None)]  # the session learns it, with the event to keep
    await asyncio.gather(*tasks)
