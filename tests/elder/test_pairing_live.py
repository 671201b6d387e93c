"""Pairing and revocation against the real service on loopback, relaying to the offline engine.

The tablet's side is played by plain HTTP and WebSocket clients doing what the page does: open the
pairing link and press its button (post the code), ask ``/app/session`` for a client secret with the
cookie, open ``/v1/realtime`` with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from companion.api.device_auth import DEVICE_COOKIE
from companion.realtime.endings import Ending
from companion.realtime.session import Status
from tests.live.conftest import USER, Live, RealtimeClient, eventually, run_live


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async for value in run_live(tmp_path):
        yield value


def base(live: Live) -> str:
    return f"http://127.0.0.1:{live.port}"


@asynccontextmanager
async def paired_tablet(live: Live) -> AsyncIterator[httpx.AsyncClient]:
    """A new 'browser' (own cookie jar) paired to the demo person through the link's URL."""
    r = await live.http.post(f"/api/users/{USER}/pairings", headers=live.auth())
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith(base(live) + "/app/pair/")
    async with httpx.AsyncClient(timeout=10) as tablet:
        opened = await tablet.get(url)
        assert opened.status_code == 200 and DEVICE_COOKIE not in tablet.cookies, "opening only shows"
        code = url.rsplit("/", 1)[1]
        origin = {"Origin": base(live)}
        tapped = await tablet.post(base(live) + "/app/pair", data={"code": code}, headers=origin)
        assert tapped.status_code == 303
        assert DEVICE_COOKIE in tablet.cookies
        yield tablet


async def client_secret(live: Live, tablet: httpx.AsyncClient) -> dict[str, str]:
    r = await tablet.post(base(live) + "/app/session", headers={"Origin": base(live)})
    assert r.status_code == 200, r.text
    body: dict[str, str] = r.json()
    return body


def browser_protocols(secret: str) -> list[Subprotocol]:
    return [Subprotocol("realtime"), Subprotocol("openai-insecure-api-key." + secret)]


async def open_conversation(live: Live, secret: str) -> RealtimeClient:
    ws = await connect(live.ws_url + "?greet=1", subprotocols=browser_protocols(secret), origin=base(live))  # type: ignore[arg-type]
    assert ws.subprotocol == "realtime"
    client = RealtimeClient(ws)
    await client.until("session.created")
    return client


async def refused(live: Live, secret: str) -> int:
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(live.ws_url, subprotocols=browser_protocols(secret)):
            pass
    return info.value.response.status_code


async def until_closed(client: RealtimeClient) -> None:
    """Read (and drop) events until the server closes the socket; fail if it stays open."""
    try:
        while True:
            await asyncio.wait_for(client.ws.recv(), 2)
    except websockets.ConnectionClosed:
        return


async def test_a_client_secret_opens_one_conversation_for_its_device(live: Live) -> None:
    async with paired_tablet(live) as tablet:
        secret = await client_secret(live, tablet)
        client = await open_conversation(live, secret["clientSecret"])
        [session] = live.services.sessions.of_user(USER)
        assert session.device_id == secret["deviceId"]
        assert await refused(live, secret["clientSecret"]) == 403, "a used secret is refused"
        await client.ws.close()


async def test_revoking_the_device_ends_its_conversation_at_once(live: Live) -> None:
    async with paired_tablet(live) as tablet:
        secret = await client_secret(live, tablet)
        spare = await client_secret(live, tablet)  # asked for, never used
        client = await open_conversation(live, secret["clientSecret"])
        other = await live.connect()  # a device token's conversation with the same person
        [mine] = [s for s in live.services.sessions.of_user(USER) if s.device_id]
        await eventually(lambda: mine.status is Status.ACTIVE, "the tablet's session is active")

        r = await live.http.delete(f"/api/users/{USER}/devices/{secret['deviceId']}", headers=live.auth())
        assert r.status_code == 204
        await until_closed(client)
        assert client.ws.close_code == Ending.DEVICE_REVOKED.code
        assert client.ws.close_reason == Ending.DEVICE_REVOKED.reason
        assert mine.status is Status.CLOSED
        await eventually(lambda: len(live.engine.sessions) == 1, "the model side of it is closed too")

        assert (await tablet.post(base(live) + "/app/session")).status_code == 401, "the cookie is void"
        assert await refused(live, spare["clientSecret"]) == 403, "an unused secret is void"
        await other.say("שלום")  # the person's other conversation goes on
        assert len(live.services.sessions.of_user(USER)) == 1


async def test_a_client_secret_is_refused_by_the_rest_api_and_still_opens_its_conversation(
    live: Live,
) -> None:
    async with paired_tablet(live) as tablet:
        secret = await client_secret(live, tablet)
        bearer = {"Authorization": "Bearer " + secret["clientSecret"]}
        rest = await live.http.get(f"/api/users/{USER}", headers=bearer)
        assert rest.status_code == 401, "ek_ secrets are for /v1/realtime only"
        client = await open_conversation(live, secret["clientSecret"])  # not used up by the refusal
        assert await refused(live, secret["clientSecret"]) == 403, "and it works once"
        await client.ws.close()


async def test_a_device_revoked_before_its_session_is_listed_opens_no_model_connection(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with paired_tablet(live) as tablet:
        secret = await client_secret(live, tablet)
        before = live.engine.connections_total

        async def revoked_meanwhile(device_id: str) -> bool:
            return False  # as if the family disconnected it right after the secret was used

        monkeypatch.setattr(live.services.devices, "exists", revoked_meanwhile)
        protocols = browser_protocols(secret["clientSecret"])
        ws = await connect(live.ws_url, subprotocols=protocols, origin=base(live))  # type: ignore[arg-type]
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == Ending.DEVICE_REVOKED.code
        assert ws.close_reason == Ending.DEVICE_REVOKED.reason
        assert live.services.sessions.of_user(USER) == []
        assert live.engine.connections_total == before, "no model connection was opened for it"


class _NullChannel:
    async def receive(self) -> str | None:
        return None

    async def send(self, text: str) -> None:
        return None

    async def close(self, code: int, reason: str) -> None:
        return None


async def test_a_session_closed_before_it_runs_stays_closed(live: Live) -> None:
    before = live.engine.connections_total
    session = live.services.sessions.open(USER, _NullChannel(), device_id="dev-gone")
    assert len(live.services.sessions.of_device("dev-gone")) == 1
    await session.close(Ending.DEVICE_REVOKED)
    await live.services.sessions.run(session)
    assert session.status is Status.CLOSED, "never overwritten by ACTIVE"
    assert len(live.services.sessions.of_device("dev-gone")) == 0
    assert live.engine.connections_total == before
