"""The in-memory model connection and client used by the relay's tests behave as documented."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from companion.errors import UpstreamError
from companion.realtime.session import ClientChannel
from companion.realtime.upstream import Connector, UpstreamConnection
from tests.realtime.fakes import MemoryClient, MemoryConnector, MemoryUpstream


def _update(event_id: str, instructions: str) -> dict[str, Any]:
    return {
        "type": "session.update",
        "event_id": event_id,
        "session": {"type": "realtime", "instructions": instructions, "tools": [{"name": "t"}]},
    }


async def _next(upstream: UpstreamConnection) -> dict[str, Any]:
    while not (events := await asyncio.wait_for(upstream.recv(), 1.0)):
        pass
    [event] = events
    return event


async def test_the_fakes_fit_the_protocols_and_session_created_comes_first() -> None:
    connector: Connector = MemoryConnector(expires_in_s=60)
    client: ClientChannel = MemoryClient()
    upstream = await connector.connect()
    created = await _next(upstream)
    assert created["type"] == "session.created"
    session = created["session"]
    assert isinstance(session, dict)
    assert session["id"] == "sess_mem_1"
    assert session["instructions"] == ""
    assert isinstance(session["expires_at"], int)
    assert connector.description == "memory"
    assert client is not None


async def test_update_is_echoed_exactly_and_the_frame_is_what_is_recorded() -> None:
    upstream = MemoryUpstream()
    await _next(upstream)
    event = _update("u1", "Be kind.\n«Ruth»")
    frame = json.dumps(event, ensure_ascii=False)
    await upstream.send({"type": "something else"}, frame=frame)
    assert upstream.sent == [event]
    updated = await _next(upstream)
    assert updated["type"] == "session.updated"
    assert updated["session"] == {**upstream.session, "instructions": "Be kind.\n«Ruth»"}
    assert updated["session"]["tools"] == [{"name": "t"}]


async def test_reject_ignore_and_delayed_updates() -> None:
    upstream = MemoryUpstream()
    await _next(upstream)
    upstream.reject_updates = True
    await upstream.send(_update("u1", "A"))
    error = await _next(upstream)
    assert error["type"] == "error"
    assert error["error"]["event_id"] == "u1"
    upstream.reject_updates, upstream.ignore_updates = False, True
    await upstream.send(_update("u2", "B"))
    upstream.ignore_updates, upstream.update_delay_s = False, 0.2
    await upstream.send(_update("u3", "C"))
    upstream.push({"type": "marker"})
    assert (await _next(upstream))["type"] == "marker"  # the delayed answer does not hold others back
    updated = await _next(upstream)
    assert updated["session"]["instructions"] == "C"


async def test_item_create_is_echoed_and_responses_stream() -> None:
    upstream = MemoryUpstream()
    await _next(upstream)
    await upstream.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user"}})
    added, done = await _next(upstream), await _next(upstream)
    assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
    assert str(added["item"]["id"]).startswith("item_mem_")
    response_id = await upstream.respond_audio("hi there", deltas=2)
    seen = [await _next(upstream) for _ in range(13)]
    assert [e["type"] for e in seen].count("response.output_audio.delta") == 2
    assert seen[-1]["type"] == "response.done"
    assert seen[-1]["response"]["id"] == response_id
    assert seen[-1]["response"]["usage"]["total_tokens"] > 0
    call_id = upstream.push_function_call("play_music", '{"artist": "Nina Simone"}')
    seen = [await _next(upstream) for _ in range(8)]
    [item_done] = [e for e in seen if e["type"] == "response.output_item.done"]
    assert item_done["item"]["call_id"] == call_id
    assert item_done["item"]["arguments"] == '{"artist": "Nina Simone"}'


@pytest.mark.parametrize(("code", "reason"), [(None, ""), (1011, "boom")])
async def test_drop_ends_a_waiting_recv_and_every_later_one(code: int | None, reason: str) -> None:
    upstream = MemoryUpstream()
    await _next(upstream)
    waiting = asyncio.create_task(upstream.recv())
    await asyncio.sleep(0)
    upstream.drop(code, reason)
    with pytest.raises(UpstreamError):
        await asyncio.wait_for(waiting, 1.0)
    with pytest.raises(UpstreamError):
        await upstream.recv()
    with pytest.raises(UpstreamError):
        await upstream.send({"type": "response.create"})
    assert upstream.close_info == (code, reason)


async def test_expire_sends_session_expired_then_drops_with_1001() -> None:
    upstream = MemoryUpstream()
    await _next(upstream)
    upstream.send_invalid_json()
    assert await upstream.recv() == []
    upstream.expire()
    error = await _next(upstream)
    assert error["error"]["code"] == "session_expired"
    with pytest.raises(UpstreamError):
        await upstream.recv()
    assert upstream.close_info[0] == 1001


async def test_fail_next_and_configure_and_wait_for_connection() -> None:
    connector = MemoryConnector(configure=lambda c: setattr(c, "reject_updates", True))
    connector.fail_next(2)
    for _ in range(2):
        with pytest.raises(UpstreamError):
            await connector.connect()
    waiter = asyncio.create_task(connector.wait_for_connection(1))
    upstream = await connector.connect()
    assert await waiter is upstream
    assert upstream.reject_updates
    assert connector.attempts == 3
    await upstream.close()
    assert upstream.closed
    with pytest.raises(UpstreamError):
        await upstream.send({"type": "response.create"})


async def test_a_paused_client_blocks_send_until_resumed() -> None:
    client = MemoryClient()
    client.pause()
    sending = asyncio.create_task(client.send('{"type": "response.done"}'))
    await asyncio.sleep(0.05)
    assert not sending.done()
    assert client.received == []
    client.resume()
    await asyncio.wait_for(sending, 1.0)
    assert (await client.until("response.done"))["type"] == "response.done"


async def test_client_frames_leave_and_close() -> None:
    client = MemoryClient()
    await client.say({"type": "response.create"})
    client.put_text("not json")
    client.leave()
    assert json.loads(await client.receive() or "")["type"] == "response.create"
    assert await client.receive() == "not json"
    assert await client.receive() is None
    assert await client.receive() is None
    await client.close(1000, "bye")
    assert await client.wait_closed() == (1000, "bye")
    with pytest.raises(RuntimeError):
        await client.send("{}")
