"""Live conversations per person and per device are limited: the one beyond the limit is told why in
an ``error`` event, closed with 1013 (try again later), and never opens a model connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from companion.realtime.endings import Ending
from tests.live.conftest import EVENT_TIMEOUT_S, USER, Live, RealtimeClient, eventually, run_live


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Live]:
    async for value in run_live(tmp_path, max_sessions_per_person=3, max_sessions_per_device=2):
        yield value


async def refused(live: Live, url: str, token: str) -> tuple[dict[str, Any], int]:
    """Connect one more and return its only event and its close code."""
    async with connect(url, additional_headers=live.auth(token)) as ws:
        event = json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT_S))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT_S)
        assert ws.close_code is not None
        return event, ws.close_code


async def test_a_device_beyond_its_limit_is_told_and_no_model_connection_is_opened(limited: Live) -> None:
    live = limited
    device = live.creds.device_token
    await live.connect(device)
    await live.connect(device)
    models = len(live.engine.all_sessions)
    event, code = await refused(live, live.ws_url, device)
    assert event["type"] == "error"
    assert event["error"]["code"] == Ending.TOO_MANY_SESSIONS.error_code == "too_many_sessions"
    assert "2" in event["error"]["message"] and "device" in event["error"]["message"]
    assert code == Ending.TOO_MANY_SESSIONS.code == 1013
    assert len(live.engine.all_sessions) == models  # no model connection for the refused one
    assert len(live.services.sessions.of_user(USER)) == 2


async def test_a_person_beyond_their_limit_is_refused_whoever_connects(limited: Live) -> None:
    live = limited
    await live.connect(live.creds.device_token)
    on_behalf = f"{live.ws_url}?user={USER}"
    for _ in range(2):
        ws = await connect(on_behalf, additional_headers=live.auth(live.creds.caregiver_token))
        live._clients.append(RealtimeClient(ws))
        await live._clients[-1].until("session.created")
    models = len(live.engine.all_sessions)
    event, code = await refused(live, on_behalf, live.creds.caregiver_token)
    assert event["error"]["code"] == "too_many_sessions" and "person" in event["error"]["message"]
    assert code == 1013
    # the device is under its own limit (1 of 2), but the person is at theirs (3 of 3)
    event, code = await refused(live, live.ws_url, live.creds.device_token)
    assert event["error"]["code"] == "too_many_sessions" and code == 1013
    assert len(live.engine.all_sessions) == models


async def test_a_slot_frees_when_a_conversation_ends(limited: Live) -> None:
    live = limited
    first = await live.connect()
    await live.connect()
    await first.ws.close()
    await eventually(lambda: len(live.services.sessions.of_user(USER)) == 1, "the first session retired")
    third = await live.connect()
    assert third.events[0]["type"] == "session.created"


async def test_simultaneous_connections_never_exceed_the_limit(limited: Live) -> None:
    live = limited

    async def one() -> str:
        ws = await connect(live.ws_url, additional_headers=live.auth(live.creds.device_token))
        first = json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT_S))
        if first["type"] == "error":
            await ws.close()
            return "refused"
        live._clients.append(RealtimeClient(ws))
        return "accepted"

    outcomes = await asyncio.gather(*(one() for _ in range(12)))
    assert sorted(outcomes) == ["accepted"] * 2 + ["refused"] * 10
    assert len(live.services.sessions.of_user(USER)) == 2
    await eventually(lambda: len(live.engine.sessions) == 2, "two model connections")
    assert len(live.engine.all_sessions) == 2
