"""The offline engine's test controls: ending a live connection abruptly, or expiring it now."""

from __future__ import annotations

import asyncio

import pytest
from lm_helpers import recv, send, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from companion.localmodel import LocalModelServer

MODEL = "?model=gpt-realtime"
TIMEOUT_S = 5.0


async def _closed(ws: ClientConnection) -> ConnectionClosed:
    """What ends the client's next read (the connection must end, not send another event)."""
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), TIMEOUT_S)
    return info.value


async def test_drop_without_a_code_aborts_with_no_close_frame(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        assert (await recv(ws))["type"] == "session.created"
        await server.drop()
        closed = await _closed(ws)
        assert closed.rcvd is None  # no close frame came
        assert ws.close_code == 1006
    assert server.sessions == []
    assert len(server.all_sessions) == 1


async def test_drop_with_a_code_closes_with_it_and_nothing_else(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        await recv(ws)
        await send(ws, update("u1", instructions="A"))
        assert (await recv(ws))["type"] == "session.updated"
        await server.drop(code=1011, reason="internal failure")
        closed = await _closed(ws)
        assert closed.rcvd is not None
        assert (closed.rcvd.code, closed.rcvd.reason) == (1011, "internal failure")
    assert server.sessions == []


async def test_drop_picks_the_session_by_index(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as first, connect(server.url + MODEL) as second:
        await recv(first)
        await recv(second)
        assert len(server.sessions) == 2
        kept = server.sessions[1]
        await server.drop(0, code=1011)
        assert (await _closed(first)).rcvd is not None
        assert server.sessions == [kept]
        await send(second, update("u2", instructions="still here"))
        assert (await recv(second))["session"]["instructions"] == "still here"


async def test_expire_sends_session_expired_then_closes_1001(server: LocalModelServer) -> None:
    async with connect(server.url + MODEL) as ws:
        await recv(ws)
        await server.expire()
        error = await asyncio.wait_for(recv(ws), TIMEOUT_S)
        assert error["type"] == "error"
        assert error["error"]["code"] == "session_expired"
        closed = await _closed(ws)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1001
        assert closed.rcvd.reason == "Your session hit the maximum duration of 60 minutes."
    assert server.sessions == []
    [engine] = server.all_sessions
    assert engine.closed == (1001, "Your session hit the maximum duration of 60 minutes.")


async def test_no_live_session_to_drop_or_expire(server: LocalModelServer) -> None:
    with pytest.raises(IndexError):
        await server.drop()
    with pytest.raises(IndexError):
        await server.expire()
