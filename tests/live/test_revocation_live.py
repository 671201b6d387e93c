"""Revoking a device token and erasing a person end their live conversations at once (real sockets)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import websockets

from companion.realtime.endings import Ending
from tests.live.conftest import ADMIN, USER, Live, RealtimeClient, eventually

CLOSE_WAIT_S = 5  # a conversation that is still open after this was not ended


async def until_closed(client: RealtimeClient) -> None:
    try:
        while True:
            await asyncio.wait_for(client.ws.recv(), CLOSE_WAIT_S)
    except websockets.ConnectionClosed:
        return


async def test_revoking_a_device_token_ends_its_conversations_only(live: Live) -> None:
    tokens = (await live.http.get("/api/tokens", headers=live.auth(ADMIN))).json()["tokens"]
    [device] = [t for t in tokens if t["role"] == "device"]
    other = await live.http.post(
        "/api/tokens", json={"role": "device", "userId": USER}, headers=live.auth(ADMIN)
    )
    revoked = await live.connect(live.creds.device_token)
    kept = await live.connect(other.json()["token"])

    r = await live.http.delete(f"/api/tokens/{device['id']}", headers=live.auth(ADMIN))
    assert r.status_code == 204
    await until_closed(revoked)
    assert (revoked.ws.close_code, revoked.ws.close_reason) == (
        Ending.TOKEN_REVOKED.code,
        Ending.TOKEN_REVOKED.reason,
    )
    # the revoked conversation leaves the service's list as it finishes closing, just after its socket
    await eventually(lambda: len(live.services.sessions.of_user(USER)) == 1, "the revoked one to leave")
    assert len(live.services.sessions.of_user(USER)) == 1, "the other token's conversation goes on"
    assert kept.ws.close_code is None
    with pytest.raises(websockets.InvalidStatus) as refused:
        await live.connect(live.creds.device_token)
    assert refused.value.response.status_code == 403  # the handshake is refused


async def test_erasing_the_person_ends_every_conversation_of_theirs(live: Live) -> None:
    client = await live.connect()
    r = await live.http.delete(f"/api/users/{USER}", headers=live.auth())  # their caregiver erases
    assert r.status_code == 204
    await until_closed(client)
    assert (client.ws.close_code, client.ws.close_reason) == (
        Ending.PERSON_ERASED.code,
        Ending.PERSON_ERASED.reason,
    )
    assert live.services.sessions.of_user(USER) == []


async def test_a_conversation_ends_when_its_token_expires(live: Live) -> None:
    made = await live.http.post(
        "/api/tokens", json={"role": "device", "userId": USER, "expiresIn": 60}, headers=live.auth(ADMIN)
    )
    assert made.status_code == 201, made.text
    auth = live.services.auth
    real_clock = auth.clock
    auth.clock = lambda: real_clock() + timedelta(seconds=58)  # the token has two seconds left
    try:
        client = await live.connect(made.json()["token"])
        await until_closed(client)
    finally:
        auth.clock = real_clock
    assert (client.ws.close_code, client.ws.close_reason) == (
        Ending.CREDENTIAL_EXPIRED.code,
        Ending.CREDENTIAL_EXPIRED.reason,
    )
    assert client.ws.close_code == 1008
    assert live.services.sessions.of_user(USER) == []
