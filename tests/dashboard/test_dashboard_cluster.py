"""Two instances of the service (two apps, each with its own lifespan) on one store and one Redis:
a caregiver signed in on one is served by the other, a restart signs nobody out, and the sign-in
lock-out counts attempts on every instance together. Real Redis (``redis_url``: skips locally, fails
under CI=true without it); the store is one SQLite file both instances open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from companion.app import create_app
from companion.auth.shared_state import state_key
from companion.dashboard.session_store import SESSION_KIND
from companion.dashboard.web import SESSION_COOKIE
from companion.dashboard.websessions import MAX_FAILURES_PER_USERNAME
from companion.demo import DemoCredentials, seed_demo
from companion.settings import Settings
from tests.dashboard.conftest import ADMIN, DEMO_USER, Dash

PEOPLE = "/dashboard/people"
WIZARD = f"/dashboard/people/{DEMO_USER}/wizard"


@asynccontextmanager
async def instance(
    data_dir: Path, redis_url: str, name: str, creds: DemoCredentials | None = None
) -> AsyncIterator[Dash]:
    """One instance, as ``companion serve`` would run it, driven in-process over ASGI."""
    settings = Settings(data_dir=data_dir, admin_token=ADMIN, redis_url=redis_url, instance_id=name)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services = app.state.services
        seeded = creds or await seed_demo(services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Dash(services, client, seeded)


def same_browser(source: Dash, target: Dash) -> None:
    """``target`` continues with ``source``'s cookie and CSRF token (a balancer sent it elsewhere)."""
    target.client.cookies.clear()
    target.client.cookies.update(source.client.cookies)
    target.csrf = source.csrf


async def test_a_sign_in_on_one_instance_is_served_by_the_other(tmp_path: Path, redis_url: str) -> None:
    async with (
        instance(tmp_path, redis_url, "a") as a,
        instance(tmp_path, redis_url, "b", a.creds) as b,
    ):
        await a.get("/dashboard/login")
        anonymous = a.client.cookies[SESSION_COOKIE]
        assert (await a.login()).status_code == 303
        assert a.client.cookies[SESSION_COOKIE] != anonymous, "signing in gives a new session id"
        assert a.services.redis is not None
        assert not await a.services.redis.exists(state_key(SESSION_KIND, anonymous)), "the old one is gone"
        same_browser(a, b)
        people = await b.client.get(PEOPLE)
        assert people.status_code == 200, "B knows the session A made"
        assert "משה" in people.text
        assert a.csrf in people.text, "and its CSRF token"
        created = await b.post(PEOPLE, {"user_id": "user-rivka-002"})
        assert created.status_code == 303, "a form posted to B with the token A rendered is accepted"
        assert await b.services.store.user_exists("user-rivka-002")
        forged = await b.post(PEOPLE, {"user_id": "user-x", "csrf": "not-the-token"})
        assert forged.status_code == 403
        assert (await b.post("/dashboard/logout", {})).status_code == 303
        after = await a.client.get(PEOPLE)
        assert after.status_code == 303, "a logout on B ends the session on A too"
        assert after.headers["location"].startswith("/dashboard/login")


async def test_a_wizard_draft_started_on_one_instance_continues_on_the_other(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        instance(tmp_path, redis_url, "a") as a,
        instance(tmp_path, redis_url, "b", a.creds) as b,
    ):
        await a.login()
        assert (await a.get(WIZARD)).status_code == 303
        moved = await a.step(1, {"personalInfo.fullName": "משה לוי השני"})
        assert moved.status_code == 303
        assert moved.headers["location"] == f"{WIZARD}/2"
        same_browser(a, b)
        first = await b.get(f"{WIZARD}/1")
        assert first.status_code == 200
        assert 'value="משה לוי השני"' in first.text, "B shows the draft typed on A"
        person = await b.get(f"/dashboard/people/{DEMO_USER}")
        assert person.status_code == 200
        submitted = await b.step(10, action="submit")
        assert submitted.status_code == 303, submitted.text
        assert submitted.headers["location"].endswith("/saved")
        profile = await a.services.profiles.get_section(DEMO_USER, "profile")
        assert profile.data is not None
        assert profile.data.model_dump(by_alias=True)["personalInfo"]["fullName"] == "משה לוי השני"


async def test_a_restart_signs_nobody_out_and_keeps_the_draft(tmp_path: Path, redis_url: str) -> None:
    async with instance(tmp_path, redis_url, "a") as a:
        await a.login()
        await a.get(WIZARD)
        await a.step(1, {"personalInfo.fullName": "לפני ההפעלה מחדש"})
        creds, cookies, csrf = a.creds, httpx.Cookies(a.client.cookies), a.csrf
    async with instance(tmp_path, redis_url, "a", creds) as restarted:
        restarted.client.cookies.update(cookies)
        restarted.csrf = csrf
        people = await restarted.client.get(PEOPLE)
        assert people.status_code == 200, "the cookie from before the restart still signs in"
        draft = await restarted.get(f"{WIZARD}/1")
        assert 'value="לפני ההפעלה מחדש"' in draft.text
        assert (await restarted.post("/dashboard/logout", {})).status_code == 303


async def test_failed_sign_ins_spread_over_two_instances_lock_the_username_on_both(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        instance(tmp_path, redis_url, "a") as a,
        instance(tmp_path, redis_url, "b", a.creds) as b,
    ):
        answers = [
            await (a if i % 2 == 0 else b).login(password="wrong-password")
            for i in range(MAX_FAILURES_PER_USERNAME)
        ]
        assert [r.status_code for r in answers] == [401] * (MAX_FAILURES_PER_USERNAME - 1) + [429]
        for side in (a, b):
            locked = await side.login()
            assert locked.status_code == 429, "the right password does not open the lock on either"
            assert "15 דקות" in locked.text
        await a.caregiver("dana")
        assert (await b.login("dana", "another-password")).status_code == 303, "the lock is per username"


async def test_parallel_wrong_passwords_on_two_instances_pass_the_limit_once(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        instance(tmp_path, redis_url, "a") as a,
        instance(tmp_path, redis_url, "b", a.creds) as b,
    ):
        await a.get("/dashboard/login")
        same_browser(a, b)
        wrong = {"username": "tiferet", "password": "wrong-password"}
        tries = 12
        sides = [a, b] * (tries // 2)
        answers = await asyncio.gather(*(side.post("/dashboard/login", wrong) for side in sides))
        statuses = sorted(r.status_code for r in answers)
        allowed = MAX_FAILURES_PER_USERNAME - 1  # the fifth failure answers 429: it set the lock
        assert statuses == [401] * allowed + [429] * (tries - allowed)
