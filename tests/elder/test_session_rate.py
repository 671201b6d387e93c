"""``POST /app/session`` is rate-limited per paired device: ``MAX_CLIENT_SECRETS_PER_MINUTE`` secrets a
minute, then 429 with ``Retry-After`` and the usual JSON error, counted across instances with Redis.
Tablets are paired the way a family pairs one (a code posted to ``/app/pair``). The window is moved by
the limiter's clock, never by sleeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Final

import httpx
from fastapi import FastAPI

from companion.app import create_app
from companion.auth.throttle import MAX_KEYS, RateLimit
from companion.demo import DEMO_USER, seed_demo
from companion.elder.device_auth import DEVICE_COOKIE
from companion.elder.devices import CLIENT_SECRET_RATE_WINDOW_S, MAX_CLIENT_SECRETS_PER_MINUTE
from companion.settings import Settings

ADMIN: Final = "rate-admin-token"
ORIGIN: Final = {"Origin": "http://tablet.test"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def tablet_on(*apps: FastAPI) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One paired tablet (one device cookie), with a client for each app (instance)."""
    code = (await apps[0].state.services.devices.create_pairing(DEMO_USER, created_by=None)).code
    async with AsyncExitStack() as stack:
        clients = []
        for app in apps:
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://tablet.test")
            clients.append(await stack.enter_async_context(client))
        paired = await clients[0].post("/app/pair", data={"code": code}, headers=ORIGIN)
        assert paired.status_code == 303, paired.text
        for client in clients[1:]:
            client.cookies.set(DEVICE_COOKIE, clients[0].cookies[DEVICE_COOKIE])
        yield clients


@asynccontextmanager
async def one_instance(tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = create_app(Settings(data_dir=tmp_path, admin_token=ADMIN))
    async with app.router.lifespan_context(app):
        await seed_demo(app.state.services)
        yield app


async def secret(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/app/session", headers=ORIGIN)


async def test_a_device_gets_its_limit_then_429_with_retry_after(tmp_path: Path) -> None:
    async with one_instance(tmp_path) as app:
        clock = Clock()
        app.state.services.devices.secret_rate = RateLimit(
            MAX_CLIENT_SECRETS_PER_MINUTE, CLIENT_SECRET_RATE_WINDOW_S, clock=clock
        )
        async with tablet_on(app) as [tablet], tablet_on(app) as [other]:
            for i in range(MAX_CLIENT_SECRETS_PER_MINUTE):
                clock.now += 1.0
                r = await secret(tablet)
                assert r.status_code == 200, (i, r.text)
            refused = await secret(tablet)
            assert refused.status_code == 429, refused.text
            # the first secret of the window was taken 20 s ago: a minute after it, one is free again
            retry = int(refused.headers["retry-after"])
            assert retry == CLIENT_SECRET_RATE_WINDOW_S - (MAX_CLIENT_SECRETS_PER_MINUTE - 1)
            body = refused.json()
            assert body["statusCode"] == 429 and body["error"] == "too_many_attempts"
            assert str(MAX_CLIENT_SECRETS_PER_MINUTE) in body["message"] and str(retry) in body["message"]
            assert "clientSecret" not in body
            # another tablet is not held back by this one
            assert (await secret(other)).status_code == 200
            clock.now += retry
            assert (await secret(tablet)).status_code == 200  # the window moved on


async def test_refused_requests_do_not_push_the_wait_further(tmp_path: Path) -> None:
    clock = Clock()
    rate = RateLimit(2, 60.0, clock=clock)
    assert await rate.take("d") == 0.0
    clock.now += 10
    assert await rate.take("d") == 0.0
    for _ in range(50):  # a looping page keeps asking
        assert await rate.take("d") == 50.0  # until the first ages out, however often it asks
    clock.now += 60
    assert await rate.take("d") == 0.0  # the first one aged out; the refusals never counted


async def test_the_limiter_forgets_the_stalest_device_beyond_its_bound() -> None:
    clock = Clock()
    rate = RateLimit(1, 60.0, clock=clock)
    assert await rate.take("first") == 0.0
    for i in range(MAX_KEYS):
        assert await rate.take(f"device-{i}") == 0.0
    assert await rate.take(f"device-{MAX_KEYS - 1}") > 0  # the newest is still counted
    assert await rate.take("first") == 0.0  # the stalest was forgotten to bound the memory


async def test_the_limit_holds_across_instances(tmp_path: Path, redis_url: str) -> None:
    async with AsyncExitStack() as stack:
        apps = []
        for name in ("a", "b"):
            app = create_app(Settings(data_dir=tmp_path, redis_url=redis_url, instance_id=name))
            await stack.enter_async_context(app.router.lifespan_context(app))
            apps.append(app)
        await seed_demo(apps[0].state.services)
        async with tablet_on(*apps) as clients:
            for i in range(MAX_CLIENT_SECRETS_PER_MINUTE):
                r = await secret(clients[i % 2])
                assert r.status_code == 200, (i, r.text)
            for client in clients:
                refused = await secret(client)
                assert refused.status_code == 429, "each instance alone saw only half the limit"
                assert 0 < int(refused.headers["retry-after"]) <= CLIENT_SECRET_RATE_WINDOW_S
