"""An erasure reaches the wizard drafts of every dashboard session, not only the eraser's: a person
re-created with the same id starts with no draft, on the memory and on the Redis session store."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from companion.app import create_app
from companion.demo import seed_demo
from companion.settings import Settings
from tests.dashboard.conftest import ADMIN, DEMO_USER, Dash

WIZARD = f"/dashboard/people/{DEMO_USER}/wizard"
BEARER = {"authorization": f"Bearer {ADMIN}"}


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, Dash]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        creds = await seed_demo(app.state.services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, Dash(app.state.services, client, creds)


async def _everything_held(app: FastAPI) -> str:
    """All the dashboard keeps, as text: every session's drafts (memory) or every key's values (Redis)."""
    redis = app.state.services.redis
    if redis is None:
        sessions = app.state.dashboard.sessions
        tables = (sessions._members, sessions._anonymous)
        return repr([(s.drafts.order, s.drafts.loaded) for t in tables for s in t.values()])
    held = []
    async for key in redis.scan_iter(match="companion:*"):
        kind = await redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "hash":
            held.append(repr(await redis.hgetall(key)))
        elif kind == "string":
            held.append(repr(await redis.get(key)))
    return "".join(held)


@pytest.fixture(params=["memory", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "memory":
        return Settings(data_dir=tmp_path, admin_token=ADMIN)
    return Settings(data_dir=tmp_path, admin_token=ADMIN, redis_url=request.getfixturevalue("redis_url"))


async def test_the_wizard_draft_after_erasure_and_re_creation(settings: Settings) -> None:
    marker = "draft-marker-" + secrets.token_hex(6)
    async with running(settings) as (app, family):
        assert (await family.login()).status_code == 303
        await family.get(WIZARD)
        assert (await family.step(1, {"personalInfo.fullName": marker})).status_code == 303
        assert marker in (await family.get(f"{WIZARD}/1")).text, "the caregiver's session holds a draft"
        assert marker in await _everything_held(app)

        # An administrator, elsewhere (the API, not this caregiver's session), erases the person ...
        erased = await family.client.delete(f"/api/users/{DEMO_USER}", headers=BEARER)
        assert erased.status_code == 204
        assert marker not in await _everything_held(app), "no session keeps the draft"

        # ... and the family registers them again under the same id.
        made = await family.client.post("/api/users", json={"userId": DEMO_USER}, headers=BEARER)
        assert made.status_code == 201
        caregiver = await family.services.store.find_caregiver_by_username(family.creds.caregiver_username)
        assert caregiver is not None
        assigned = await family.client.post(
            f"/api/caregivers/{caregiver.id}/users/{DEMO_USER}", headers=BEARER
        )
        assert assigned.status_code == 200

        assert (await family.get("/dashboard/people")).status_code == 200, "still signed in"
        await family.get(WIZARD)
        page = await family.get(f"{WIZARD}/1")
        assert page.status_code == 200
        assert marker not in page.text, "the re-created person's wizard starts from nothing"
        assert marker not in await _everything_held(app)


async def test_an_erasure_on_one_instance_empties_the_other_instances_caches(
    tmp_path: Path, redis_url: str
) -> None:
    """Two instances on one store and one Redis: the person's reminder cache on B goes when A erases
    them (B is told to end the person's conversations, and forgets them then)."""
    from tests.dashboard.test_dashboard_cluster import instance

    async with (
        instance(tmp_path, redis_url, "a") as a,
        instance(tmp_path, redis_url, "b", a.creds) as b,
    ):
        assert b.services.reminders is not None
        await b.services.reminders.person(DEMO_USER)
        assert DEMO_USER in b.services.reminders._people
        erased = await a.client.delete(f"/api/users/{DEMO_USER}", headers=BEARER)
        assert erased.status_code == 204
        assert DEMO_USER not in b.services.reminders._people
