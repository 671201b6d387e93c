"""The client endpoint's door: credentials, browser subprotocol, Origin, and who may open what."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.client import connect

from tests.live.conftest import USER, Live, RealtimeClient, run_live


async def _refused(live: Live, **kwargs: object) -> websockets.InvalidStatus:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(live.ws_url, **kwargs):  # type: ignore[arg-type]
            pass
    return info.value


async def test_bad_or_missing_token_is_refused(live: Live) -> None:
    assert (await _refused(live)).response.status_code == 403
    assert (
        await _refused(live, additional_headers={"Authorization": "Bearer nope"})
    ).response.status_code == 403
    assert live.engine.connections_total == 0, "no paid upstream session for a refused client"


async def test_browser_subprotocol_carries_the_token(live: Live) -> None:
    ws = await connect(
        live.ws_url,
        subprotocols=["realtime", f"openai-insecure-api-key.{live.creds.device_token}"],  # type: ignore[list-item]
        origin=f"http://127.0.0.1:{live.port}",  # type: ignore[arg-type]
    )
    client = RealtimeClient(ws)
    created = await client.until("session.created")
    assert ws.subprotocol == "realtime"
    assert created["session"]["instructions"] == "(managed by the server)"
    await ws.close()


async def test_foreign_origin_is_refused(live: Live) -> None:
    error = await _refused(
        live,
        additional_headers=live.auth(live.creds.device_token),
        origin="https://evil.example",
    )
    assert error.response.status_code == 403


async def test_caregiver_opens_a_session_for_a_person_it_sees_only(live: Live) -> None:
    ws = await connect(f"{live.ws_url}?user={USER}", additional_headers=live.auth())
    assert (await RealtimeClient(ws).until("session.created"))["type"] == "session.created"
    await ws.close()
    with pytest.raises(websockets.InvalidStatus):
        async with connect(f"{live.ws_url}?user=user-other", additional_headers=live.auth()):
            pass


async def test_delete_closes_the_session(live: Live) -> None:
    client = await live.connect()
    session_id = live.services.sessions.live()[0].id
    r = await live.http.delete(f"/realtime/session/{session_id}", headers=live.auth())
    assert r.status_code == 200
    assert r.json()["status"] == "closed"
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(client.ws.recv(), 2)
    assert client.ws.close_code == 1000


@pytest.fixture
async def allowed_origin(tmp_path: Path) -> AsyncIterator[Live]:
    async for live in run_live(tmp_path, allowed_origins=["https://care.example"]):
        yield live


async def test_allow_listed_origin_is_accepted(allowed_origin: Live) -> None:
    live = allowed_origin
    ws = await connect(
        live.ws_url,
        additional_headers=live.auth(live.creds.device_token),
        origin="https://care.example",  # type: ignore[arg-type]
    )
    assert (await RealtimeClient(ws).until("session.created"))["type"] == "session.created"
    await ws.close()
