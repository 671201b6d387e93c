"""Pairing lock-outs on two instances sharing one Redis: wrong codes tried on either count together,
per client address and across all addresses (the global budget). Real Redis (``redis_url``: skips
locally, fails under CI=true without it); one SQLite file for both instances.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from companion.api.device_auth import DEVICE_COOKIE
from companion.app import create_app
from companion.auth.devices import MAX_FAILED_PAIRINGS_PER_CLIENT, MAX_FAILED_PAIRINGS_PER_MINUTE
from companion.demo import DEMO_USER, seed_demo
from companion.settings import Settings

UA = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@asynccontextmanager
async def two_instances(data_dir: Path, redis_url: str) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    async with AsyncExitStack() as stack:
        apps = []
        for name in ("a", "b"):
            app = create_app(Settings(data_dir=data_dir, redis_url=redis_url, instance_id=name))
            await stack.enter_async_context(app.router.lifespan_context(app))
            apps.append(app)
        await seed_demo(apps[0].state.services)
        yield apps[0], apps[1]


async def pair(app: FastAPI, code: str, address: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(address, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/app/pair", data={"code": code}, headers={"User-Agent": UA})


async def new_code(app: FastAPI) -> str:
    made = await app.state.services.devices.create_pairing(DEMO_USER, created_by=None)
    code: str = made.code
    return code


def wrong_for(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def test_wrong_codes_on_two_instances_lock_the_address_on_both(tmp_path: Path, redis_url: str) -> None:
    async with two_instances(tmp_path, redis_url) as (a, b):
        code = await new_code(a)
        answers = [
            await pair(a if i % 2 else b, wrong_for(code), "10.0.0.7")
            for i in range(MAX_FAILED_PAIRINGS_PER_CLIENT)
        ]
        assert {r.status_code for r in answers} == {404}, "each instance alone saw only half the limit"
        for app in (a, b):
            locked = await pair(app, code, "10.0.0.7")
            assert locked.status_code == 429, "the right code waits on both instances"
            assert int(locked.headers["retry-after"]) > 60
            assert DEVICE_COOKIE not in locked.cookies
        paired = await pair(b, code, "10.0.0.8")
        assert paired.status_code == 303, "another address is not locked"


async def test_the_service_wide_budget_is_shared_by_the_instances(tmp_path: Path, redis_url: str) -> None:
    async with two_instances(tmp_path, redis_url) as (a, b):
        code = await new_code(a)
        for i in range(MAX_FAILED_PAIRINGS_PER_MINUTE):  # many addresses, each far below its own lock
            answer = await pair(a if i % 2 else b, wrong_for(code), f"10.1.{i // 250}.{i % 250}")
            assert answer.status_code == 404
        for app in (a, b):
            refused = await pair(app, code, "192.0.2.7")
            assert refused.status_code == 429, "every instance waits once the budget is spent"
            assert 0 < int(refused.headers["retry-after"]) <= 60
