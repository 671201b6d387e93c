"""A real service on a loopback port, relaying to the offline engine on another loopback port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection, connect

from companion.app import create_app
from companion.demo import DemoCredentials, seed_demo
from companion.localmodel.server import LocalModelServer
from companion.services import Services
from companion.settings import Settings

ADMIN = "live-admin-token"
USER = "user-tiferet-001"
EVENT_TIMEOUT_S = 5.0  # generous for a loaded CI machine; every wait in these tests is bounded by it
SHUTDOWN_GRACE_S = 5  # a connection still open when a test ends is cut, not waited on for ever
KEEP_ALIVE_S = 5  # uvicorn's default: an idle keep-alive connection is closed after this


@dataclass
class RealtimeClient:
    """A raw WebSocket realtime client that keeps every event it received."""

    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    _cursor: int = 0

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event, ensure_ascii=False))

    async def next_event(self) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), EVENT_TIMEOUT_S)
        event: dict[str, Any] = json.loads(raw)
        self.events.append(event)
        return event

    async def until(
        self, kind: str, pred: Callable[[dict[str, Any]], bool] = lambda e: True
    ) -> dict[str, Any]:
        """The first event of ``kind`` (matching ``pred``) not yet consumed by an earlier ``until``."""
        while True:
            while self._cursor < len(self.events):
                event = self.events[self._cursor]
                self._cursor += 1
                if event.get("type") == kind and pred(event):
                    return event
            await self.next_event()

    async def say(self, text: str) -> dict[str, Any]:
        """A user text message and a response; returns the response.done."""
        await self.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            }
        )
        await self.send({"type": "response.create"})
        return await self.until("response.done")

    def texts(self) -> str:
        return json.dumps(self.events, ensure_ascii=False)


@dataclass
class Live:
    engine: LocalModelServer
    services: Services
    http: httpx.AsyncClient
    port: int
    creds: DemoCredentials
    _clients: list[RealtimeClient] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.creds.caregiver_token}"}

    async def connect(self, token: str | None = None) -> RealtimeClient:
        ws = await connect(self.ws_url, additional_headers=self.auth(token or self.creds.device_token))
        client = RealtimeClient(ws)
        self._clients.append(client)
        await client.until("session.created")
        return client

    async def put_music(self, *artists: str, **extra: Any) -> httpx.Response:
        current = await self.http.get(f"/api/users/{USER}/music", headers=self.auth())
        body = current.json()["data"] | {"preferredArtists": list(artists)} | extra
        return await self.http.put(
            f"/api/users/{USER}/music",
            json=body,
            headers={**self.auth(), "If-Match": current.headers["etag"]},
        )

    def engine_session(self, index: int = -1) -> Any:
        return self.engine.sessions[index]

    async def close_clients(self) -> None:
        for client in self._clients:
            await client.ws.close()


async def run_live(tmp_path: Path, **settings: Any) -> AsyncIterator[Live]:
    engine_kwargs = settings.pop("engine_kwargs", {})
    engine = LocalModelServer(**engine_kwargs)
    await engine.start()
    # "local" talks to the engine's OpenAI path; "azure" is given the resource base URL, as in production
    settings.setdefault(
        "upstream_url", engine.base_url if settings.get("upstream") == "azure" else engine.url
    )
    settings.setdefault("refresh_timeout_s", 1.0)
    config = Settings(data_dir=tmp_path, admin_token=ADMIN, **settings)
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            ws="websockets-sansio",
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    assert server.started, "the service did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    services: Services = app.state.services
    creds = await seed_demo(services)
    # The client lets an idle connection go before the server does (uvicorn closes it after
    # KEEP_ALIVE_S): a request sent on a connection the server is closing at that moment fails.
    limits = httpx.Limits(keepalive_expiry=KEEP_ALIVE_S / 2)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, limits=limits) as http:
        live = Live(engine, services, http, port, creds)
        try:
            yield live
        finally:
            await live.close_clients()
            server.should_exit = True
            await task
            await engine.close()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async for value in run_live(tmp_path):
        yield value


async def eventually(check: Callable[[], bool], what: str, timeout: float = EVENT_TIMEOUT_S) -> None:
    """Wait until ``check()`` holds; fail naming ``what`` otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.01)


__all__ = ["USER", "Live", "RealtimeClient", "eventually", "run_live", "websockets"]
